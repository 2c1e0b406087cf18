import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/**
 * The derived states counted from the tally (`reference_state_counts`, migration `reference_counts`): a few rows per
 * connection and resource, the references themselves only for a sync running since a mark.
 */
export function countReferencesHandler(orm: MikroORM): THandler<'sync-scheduler.references.count'> {
  return async (req) => {
    const row = (
      await orm.em
        .getConnection()
        .getKnex()
        .raw(`select synced, stale from ${S}.reference_state_counts(?, ?, null)`, [
          req.orgId,
          req.instanceId,
        ])
    ).rows[0] as { synced: string; stale: string } | undefined;
    return { synced: Number(row?.synced ?? 0), stale: Number(row?.stale ?? 0) };
  };
}
