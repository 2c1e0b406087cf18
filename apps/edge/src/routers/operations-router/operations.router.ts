import { router } from '../../trpc/trpc';
import { listOperations } from './list-operations';
import { resumeOperation } from './resume-operation';

/** Sagas as operations: the org's list (stopped ones first to look at) and resuming a stopped one. */
export const operationsRouter = router({
  list: listOperations,
  resume: resumeOperation,
});
