import { router } from '../../trpc/trpc';
import { listOperations } from './list-operations';
import { resumeOperation } from './resume-operation';
import { summarizeOperations } from './summarize-operations';

/** Sagas as operations: the org's list, how many are running or stopped, and resuming a stopped one. */
export const operationsRouter = router({
  list: listOperations,
  resume: resumeOperation,
  summary: summarizeOperations,
});
