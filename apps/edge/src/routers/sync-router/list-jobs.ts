import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc';
import { ZListJobsInput } from './list-jobs.schema';
import { syncRequestOptions } from './sync-request-context';

/**
 * An instance's sync jobs, each with its newest execution and counts. The instance must be the caller's org's
 * (NOT_FOUND otherwise, like a missing one); an instance without jobs (API-key providers) lists none.
 */
export const listJobs = authedProcedure.input(ZListJobsInput).query(async ({ ctx, input }) => {
  const opts = syncRequestOptions(ctx);
  const { instances } = await ctx.deps.bus.request(
    'connection.integrations.list',
    { orgId: ctx.identity.orgId },
    opts,
  );
  if (!instances.some((i) => i.instance.id === input.instanceId)) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'no such integration instance' });
  }
  return ctx.deps.bus.request(
    'sync-scheduler.jobs.overview',
    { orgId: ctx.identity.orgId, instanceId: input.instanceId },
    opts,
  );
});
