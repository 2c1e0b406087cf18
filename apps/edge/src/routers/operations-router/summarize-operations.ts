import { ZNoInput } from '../../trpc/no-input.schema';
import { authedProcedure } from '../../trpc/trpc';
import { operationsScope } from './operations-scope';

/**
 * How many operations are in progress and how many stopped and wait for a resume, in operations.list's scope: the
 * dashboard's "needs attention" count.
 */
export const summarizeOperations = authedProcedure
  .input(ZNoInput)
  .query(async ({ ctx }) => ctx.deps.sagas.countFor(operationsScope(ctx.identity)));
