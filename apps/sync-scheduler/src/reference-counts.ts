import type { Knex } from '@mikro-orm/postgresql';
import { SYNC_SCHEMA_NAME as S } from './sync-job.rows';

/**
 * An instance's references by derived state, from the tally (`reference_state_counts`, migration
 * `reference_counts`): a few rows per connection and resource, the references themselves only for a sync running
 * since a mark. `references.count` and the jobs panel's overview answer with it.
 */
export async function referenceStateCounts(
  knex: Knex,
  q: { orgId: string; instanceId: string },
): Promise<{ synced: number; stale: number }> {
  const row = (
    await knex.raw(`select synced, stale from ${S}.reference_state_counts(?, ?, null)`, [
      q.orgId,
      q.instanceId,
    ])
  ).rows[0] as { synced: string; stale: string } | undefined;
  return { synced: Number(row?.synced ?? 0), stale: Number(row?.stale ?? 0) };
}
