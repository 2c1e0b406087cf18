import { router } from '../../trpc/trpc';
import { disableJob } from './disable-job';
import { enableJob } from './enable-job';
import { getExecution } from './get-execution';
import { listExecutions } from './list-executions';
import { listJobs } from './list-jobs';
import { runJobNow } from './run-job-now';

/** Sync jobs and executions of an instance (issue: real sync scheduling). */
export const syncRouter = router({
  listJobs,
  enableJob,
  disableJob,
  runNow: runJobNow,
  listExecutions,
  getExecution,
});
