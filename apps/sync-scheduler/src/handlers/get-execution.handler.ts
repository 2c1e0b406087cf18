import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { EXECUTION_COLUMNS, toSyncExecution, type TSyncExecutionRow } from '../execution.rows';
import { SYNC_SCHEMA_NAME as S, toSyncJob, type TSyncJobRow } from '../sync-job.rows';

/** NOT_FOUND for a missing execution and for another org's alike. */
export function getExecutionHandler(orm: MikroORM): THandler<'sync-scheduler.executions.get'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const row = (await knex
      .withSchema(S)
      .from('sync_execution as e')
      .join('sync_job as j', 'j.id', 'e.job_id')
      .where({ 'e.id': req.executionId, 'e.org_id': req.orgId })
      .first(...EXECUTION_COLUMNS)) as TSyncExecutionRow | undefined;
    if (!row) {
      throw new AppError('NOT_FOUND', 'no such sync execution', { reason: 'execution_not_found' });
    }
    const job = (await knex('sync_job')
      .withSchema(S)
      .where({ id: row.job_id })
      .first()) as TSyncJobRow;
    return { execution: toSyncExecution(row), job: toSyncJob(job) };
  };
}
