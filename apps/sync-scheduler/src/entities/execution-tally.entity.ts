import { EntitySchema } from '@mikro-orm/core';
import type { TSyncExecutionStatus } from '@otesse/contracts';

/**
 * How many executions of a job are in each status, kept by a trigger on `sync_execution` (every writer: the runner,
 * the claim, a disconnect's cancel, set-based or not). The jobs panel reads its counts here, one row per job and
 * status, instead of counting a history that grows by a run every interval and is thinned by the retention sweep:
 * the counts are the job's whole life, what the sweep deleted included.
 */
export interface ExecutionTally {
  jobId: string;
  status: TSyncExecutionStatus;
  executions: number;
}

export const ExecutionTallySchema = new EntitySchema<ExecutionTally>({
  name: 'ExecutionTally',
  tableName: 'execution_tally',
  properties: {
    jobId: { type: 'uuid', primary: true },
    status: { type: 'text', primary: true },
    executions: { type: 'integer', columnType: 'bigint', fieldName: 'executions_count' },
  },
});
