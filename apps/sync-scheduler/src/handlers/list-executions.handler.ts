import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { EXECUTION_COLUMNS, toSyncExecution, type TSyncExecutionRow } from '../execution.rows';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/** A job's executions, newest first; keyset pages on (started_at, id) over `sync_execution_job_started_idx`. */
export function listExecutionsHandler(orm: MikroORM): THandler<'sync-scheduler.executions.list'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const job = await knex('sync_job')
      .withSchema(S)
      .where({ id: req.jobId, org_id: req.orgId })
      .first('id');
    if (!job) throw new AppError('NOT_FOUND', 'no such sync job', { reason: 'job_not_found' });
    const q = knex
      .withSchema(S)
      .from('sync_execution as e')
      .join('sync_job as j', 'j.id', 'e.job_id')
      .where('e.job_id', req.jobId);
    if (req.before) {
      const anchor = await knex('sync_execution')
        .withSchema(S)
        .where({ id: req.before, job_id: req.jobId })
        .first('id');
      if (!anchor) {
        throw new AppError('BAD_REQUEST', 'before is not an execution of this job', {
          reason: 'bad_cursor',
        });
      }
      // Compared in SQL: timestamptz has microseconds, a JS Date only milliseconds.
      q.whereRaw(
        `(e.started_at, e.id) < (select a.started_at, a.id from ${S}.sync_execution a where a.id = ?)`,
        [req.before],
      );
    }
    const rows = (await q
      .orderBy([
        { column: 'e.started_at', order: 'desc' },
        { column: 'e.id', order: 'desc' },
      ])
      .limit(req.limit + 1)
      .select(...EXECUTION_COLUMNS)) as TSyncExecutionRow[];
    const page = rows.slice(0, req.limit);
    return {
      executions: page.map(toSyncExecution),
      nextBefore: rows.length > req.limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  };
}
