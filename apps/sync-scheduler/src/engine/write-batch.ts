import type { Knex } from '@mikro-orm/postgresql';
import type { TSyncResource } from '@otesse/contracts';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import { syncRecordsSynced } from './sync-metrics';

export interface TBatchRecord {
  externalId: string;
  data: Record<string, unknown>;
}

export interface TBatchTarget {
  executionId: string;
  owner: string;
  leaseMs: number;
  orgId: string;
  instanceId: string;
  connectionId: string;
  resource: TSyncResource;
}

export type TBatchOutcome =
  | { kind: 'written'; records: number; references: number; restored: number }
  /** The execution is no longer this runner's to write (cancelled, failed or taken over): nothing was written. */
  | { kind: 'lost'; status: string };

/**
 * One page, one transaction. The execution row is locked first and must still be `running` under this runner's
 * lease: a cancel (or a takeover) commits either before — then this batch writes nothing — or after this batch, so
 * what a cancelled execution committed is exactly what it keeps, and nothing lands after the cancel (the disconnect
 * saga's later "mark stale" is never undone by a straggler). Records and references are upserted set-based in one
 * statement (one jsonb parameter, `on conflict … do update`), then the counters, the resume cursor and the lease.
 */
export async function writeBatch(
  knex: Knex,
  t: TBatchTarget,
  page: {
    records: TBatchRecord[];
    fetched: number;
    fetchMs: number;
    /** The provider cursor after this page (null on the last page). */
    nextCursor: string | null;
  },
): Promise<TBatchOutcome> {
  const started = performance.now();
  const outcome = await knex.transaction(async (trx): Promise<TBatchOutcome> => {
    const exec = (
      await trx.raw(`select status, lease_owner from ${S}.sync_execution where id = ? for update`, [
        t.executionId,
      ])
    ).rows[0] as { status: string; lease_owner: string | null } | undefined;
    if (!exec || exec.status !== 'running' || exec.lease_owner !== t.owner) {
      return { kind: 'lost', status: exec?.status ?? 'missing' };
    }
    let records = 0;
    let references = 0;
    let restored = 0;
    if (page.records.length > 0) {
      const counts = (
        await trx.raw(
          `with input as (
             select e->>'externalId' as external_id, e->'data' as data
               from jsonb_array_elements(?::jsonb) as e
           ), was_stale as (
             select count(*) as n from ${S}.external_reference_state r
              where r.instance_id = ? and r.resource = ? and r.status = 'stale'
                and r.external_id in (select external_id from input)
           ), rec as (
             insert into ${S}.synced_record as r
               (org_id, instance_id, resource, external_id, data, synced_at, source_connection_id)
             select ?, ?, ?, external_id, data, now(), ? from input
             on conflict (instance_id, resource, external_id) do update
               set data = excluded.data, synced_at = excluded.synced_at,
                   source_connection_id = excluded.source_connection_id
             returning r.id, r.external_id
           ), ref as (
             insert into ${S}.external_reference as x
               (org_id, instance_id, connection_id, resource, external_id, local_record_id, last_synced_at)
             select ?, ?, ?, ?, rec.external_id, rec.id, now() from rec
             on conflict (instance_id, resource, external_id) do update
               set connection_id = excluded.connection_id, local_record_id = excluded.local_record_id,
                   last_synced_at = excluded.last_synced_at
             returning 1
           )
           select (select count(*) from rec) as records, (select count(*) from ref) as refs,
                  (select n from was_stale) as restored`,
          [
            JSON.stringify(page.records),
            t.instanceId,
            t.resource,
            t.orgId,
            t.instanceId,
            t.resource,
            t.connectionId,
            t.orgId,
            t.instanceId,
            t.connectionId,
            t.resource,
          ],
        )
      ).rows[0] as { records: string; refs: string; restored: string };
      records = Number(counts.records);
      references = Number(counts.refs);
      restored = Number(counts.restored);
    }
    await trx.raw(
      `update ${S}.sync_execution
          set records_fetched = records_fetched + ?, records_written = records_written + ?,
              references_upserted = references_upserted + ?, references_restored = references_restored + ?,
              batches = batches + 1, fetch_ms = fetch_ms + ?, write_ms = write_ms + ?, cursor = ?,
              lease_expires_at = now() + ? * interval '1 millisecond', updated_at = now()
        where id = ?`,
      [
        page.fetched,
        records,
        references,
        restored,
        Math.round(page.fetchMs),
        Math.round(performance.now() - started),
        page.nextCursor,
        t.leaseMs,
        t.executionId,
      ],
    );
    return { kind: 'written', records, references, restored };
  });
  // Counted once committed: a rolled-back batch synced nothing.
  if (outcome.kind === 'written' && outcome.records > 0) {
    syncRecordsSynced.labels(t.resource).inc(outcome.records);
  }
  return outcome;
}
