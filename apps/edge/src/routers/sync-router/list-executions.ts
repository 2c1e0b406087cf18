import { authedProcedure } from '../../trpc/trpc';
import { ZListExecutionsInput } from './list-executions.schema';
import { busOptions } from '../../trpc/bus-options';

/** A job's executions, newest first. NOT_FOUND for another org's job. */
export const listExecutions = authedProcedure
  .input(ZListExecutionsInput)
  .query(async ({ ctx, input }) =>
    ctx.deps.bus.request(
      'sync-scheduler.executions.list',
      {
        orgId: ctx.identity.orgId,
        jobId: input.jobId,
        limit: input.limit,
        ...(input.before ? { before: input.before } : {}),
      },
      busOptions(ctx),
    ),
  );
