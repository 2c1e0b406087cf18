import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { DEFAULT_FIELD_MAPPINGS, firstRunJitterMs } from '../default-field-mappings';
import { SYNC_SCHEMA_NAME as S, toSyncJob, type TSyncJobRow } from '../sync-job.rows';

/**
 * One enabled interval job per (connection, resource) and the instance's default field mappings, in one
 * transaction. Set-based `on conflict do nothing`: a replay (or a concurrent duplicate) creates nothing and
 * leaves existing jobs as they are — a job disabled by a disconnect stays disabled until the user re-enables
 * it. Mappings are seeded only for resources the instance has none of yet, so user edits and deletions stick.
 * An adoption also records the new connection as the successor of the old one's slot (connection_lineage), and
 * clears the jobs' saga marks (a disconnect's, a change of user's pause).
 */
export function createDefaultJobsHandler(
  orm: MikroORM,
): THandler<'sync-scheduler.jobs.create-defaults'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    return knex.transaction(async (trx) => {
      const now = new Date();
      let created = 0;
      let adopted = 0;
      if (req.adoptFromConnectionId && req.adoptFromConnectionId !== req.connectionId) {
        // Same org and instance only; a resource the new connection already has a job for stays with the old one.
        adopted = await trx('sync_job')
          .withSchema(S)
          .where({
            org_id: req.orgId,
            instance_id: req.instanceId,
            connection_id: req.adoptFromConnectionId,
          })
          .whereNotIn(
            'resource',
            trx('sync_job')
              .withSchema(S)
              .where({ connection_id: req.connectionId })
              .select('resource'),
          )
          .update({
            connection_id: req.connectionId,
            disabled_by_saga_id: null,
            // A change of user's pause was the old connection's: nothing of it applies to the new one's token.
            paused_by_saga_id: null,
            run_requested_at: null,
            updated_at: now,
          });
        // The jobs left the old connection: a disconnect's hold on it has nothing more to hold.
        await trx('connection_job_hold')
          .withSchema(S)
          .where({ org_id: req.orgId, connection_id: req.adoptFromConnectionId })
          .delete();
        // The new connection takes over the slot's references too (and the old one's own ancestors): its syncs
        // restore them and its disconnect marks them (run-execution.ts, sync.mark_references_stale).
        await trx.raw(
          `insert into ${S}.connection_lineage (connection_id, ancestor_id, org_id, instance_id)
           select cast(? as uuid), cast(? as uuid), cast(? as uuid), cast(? as uuid)
           union
           select cast(? as uuid), l.ancestor_id, l.org_id, l.instance_id from ${S}.connection_lineage l
            where l.connection_id = ? and l.org_id = ? and l.instance_id = ? and l.ancestor_id <> ?
           on conflict do nothing`,
          [
            req.connectionId,
            req.adoptFromConnectionId,
            req.orgId,
            req.instanceId,
            req.connectionId,
            req.adoptFromConnectionId,
            req.orgId,
            req.instanceId,
            req.connectionId,
          ],
        );
      }
      if (req.resources.length > 0) {
        const inserted = await trx('sync_job')
          .withSchema(S)
          .insert(
            req.resources.map((resource) => ({
              id: randomUUID(),
              org_id: req.orgId,
              instance_id: req.instanceId,
              connection_id: req.connectionId,
              vendor: req.vendor,
              resource,
              schedule: JSON.stringify({ kind: 'interval', everySeconds: req.everySeconds }),
              is_enabled: true,
              next_run_at: new Date(now.getTime() + firstRunJitterMs(req.everySeconds)),
              created_at: now,
              updated_at: now,
            })),
          )
          .onConflict(['connection_id', 'resource'])
          .ignore()
          .returning('id');
        created = inserted.length;
      }

      // Checked after the insert, inside the transaction: a row another org or instance committed first is
      // seen here, and throwing rolls back what this call inserted.
      const foreignJob = await trx('sync_job')
        .withSchema(S)
        .where((q) =>
          q.where('connection_id', req.connectionId).orWhere('instance_id', req.instanceId),
        )
        .andWhere((q) =>
          q
            .whereNot('org_id', req.orgId)
            .orWhereNot('vendor', req.vendor)
            .orWhere((q2) =>
              q2.where('connection_id', req.connectionId).whereNot('instance_id', req.instanceId),
            ),
        )
        .first('id');
      if (foreignJob) {
        throw new AppError(
          'CONFLICT',
          'the connection or instance already has sync jobs under another org, instance or vendor',
          { reason: 'connection_mismatch' },
        );
      }

      const mappedRows = (await trx('field_mapping')
        .withSchema(S)
        .where('instance_id', req.instanceId)
        .distinct('org_id', 'resource')) as { org_id: string; resource: string }[];
      if (mappedRows.some((r) => r.org_id !== req.orgId)) {
        throw new AppError('CONFLICT', 'the instance belongs to another org', {
          reason: 'instance_mismatch',
        });
      }
      const mapped = new Set(mappedRows.map((r) => r.resource));
      const mappingRows = req.resources
        .filter((resource) => !mapped.has(resource))
        .flatMap((resource) =>
          DEFAULT_FIELD_MAPPINGS[resource].map((m) => ({
            id: randomUUID(),
            org_id: req.orgId,
            instance_id: req.instanceId,
            resource,
            local_field: m.localField,
            remote_field: m.remoteField,
            created_at: now,
            updated_at: now,
          })),
        );
      let mappingsCreated = 0;
      if (mappingRows.length > 0) {
        // Two connections of one instance seeding at once: the unique key keeps one copy.
        const inserted = await trx('field_mapping')
          .withSchema(S)
          .insert(mappingRows)
          .onConflict(['instance_id', 'resource', 'local_field'])
          .ignore()
          .returning('id');
        mappingsCreated = inserted.length;
      }

      const jobs = (await trx('sync_job')
        .withSchema(S)
        .where({ org_id: req.orgId, connection_id: req.connectionId })
        .orderBy([{ column: 'resource' }, { column: 'created_at' }])
        .select('*')) as TSyncJobRow[];
      return { jobs: jobs.map(toSyncJob), adopted, created, mappingsCreated };
    });
  };
}
