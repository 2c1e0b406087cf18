import { authedProcedure } from '../../trpc/trpc';
import { ZGetExecutionInput } from './get-execution.schema';
import { busOptions } from '../../trpc/bus-options';

/** One execution with its counts, timings and error reason, and its job. NOT_FOUND for another org's. */
export const getExecution = authedProcedure
  .input(ZGetExecutionInput)
  .query(async ({ ctx, input }) =>
    ctx.deps.bus.request(
      'sync-scheduler.executions.get',
      { orgId: ctx.identity.orgId, executionId: input.executionId },
      busOptions(ctx),
    ),
  );
