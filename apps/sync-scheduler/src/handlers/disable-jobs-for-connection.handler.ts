import { runSqlCommandOnce } from '@otesse/persistence';
import type { THandler } from '@otesse/messaging';
import { publishCancelSignal } from '../engine/cancel-signal';
import type { TSchedulerDeps } from './deps';

const SUBJECT = 'sync-scheduler.jobs.disable-for-connection';

interface TStored {
  jobsDisabled: number;
  jobIds: string[];
  executionsCancelled: number;
  cancelledExecutionIds: string[];
}

/**
 * Disconnect saga step 2, once per idempotency key: the connection's enabled jobs are disabled and stamped with
 * the saga (so its compensation re-enables exactly these), and its running executions end `cancelled` with
 * `completedAt` — in one transaction, one round trip (the function `sync.disable_jobs_for_connection`, migration
 * `disconnect_job_hold`). The connection's jobs stay held (`connection_job_hold`) until the compensation or a
 * reconnection's adoption: a user's enable already past its connection check cannot turn one back on. Then every replica is told over NATS so the runner stops after the batch it is
 * writing (it keeps what it committed). A replay answers the first result and signals again (a lost signal is
 * harmless: the runner's next batch sees the row).
 */
export function disableJobsForConnectionHandler(
  deps: Pick<TSchedulerDeps, 'orm' | 'nc'>,
): THandler<typeof SUBJECT> {
  return async (req) => {
    const { result } = await runSqlCommandOnce<TStored>(deps.orm.em.getConnection().getKnex(), {
      name: 'sync.disable_jobs_for_connection',
      text: 'select "sync".disable_jobs_for_connection($1, $2, $3, $4) as r',
      values: [req.idempotencyKey, req.orgId, req.connectionId, req.sagaId],
      subject: SUBJECT,
    });
    if (result.cancelledExecutionIds.length > 0) {
      publishCancelSignal(deps.nc, result.cancelledExecutionIds);
    }
    return {
      jobsDisabled: result.jobsDisabled,
      jobIds: result.jobIds,
      executionsCancelled: result.executionsCancelled,
    };
  };
}
