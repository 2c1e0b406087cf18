import { requirePermission } from '../../trpc/trpc';
import { ZEnableJobInput } from './enable-job.schema';
import { auditJobAction } from './sync-request-context';
import { busOptions } from '../../trpc/bus-options';

/** Turns a job back on (e.g. after a reconnect). PRECONDITION_FAILED while its connection is not connected. */
export const enableJob = requirePermission('settings.edit')
  .input(ZEnableJobInput)
  .mutation(async ({ ctx, input }) => {
    const res = await ctx.deps.bus.request(
      'sync-scheduler.jobs.set-enabled',
      { orgId: ctx.identity.orgId, jobId: input.jobId, enabled: true },
      busOptions(ctx),
    );
    if (res.changed) await auditJobAction(ctx, 'sync_job.enabled', res.job);
    return res;
  });
