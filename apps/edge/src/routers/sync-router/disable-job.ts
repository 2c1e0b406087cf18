import { requirePermission } from '../../trpc/trpc';
import { ZDisableJobInput } from './disable-job.schema';
import { auditJobAction } from './sync-request-context';
import { busOptions } from '../../trpc/bus-options';

/** Turns a job off; its running execution is cancelled (what it already wrote is kept). */
export const disableJob = requirePermission('settings.edit')
  .input(ZDisableJobInput)
  .mutation(async ({ ctx, input }) => {
    const res = await ctx.deps.bus.request(
      'sync-scheduler.jobs.set-enabled',
      { orgId: ctx.identity.orgId, jobId: input.jobId, enabled: false },
      busOptions(ctx),
    );
    if (res.changed) {
      await auditJobAction(ctx, 'sync_job.disabled', res.job, {
        executionsCancelled: res.executionsCancelled,
      });
    }
    return res;
  });
