import { requirePermission } from '../../trpc/trpc';
import { ZRunJobNowInput } from './run-job-now.schema';
import { auditJobAction } from './sync-request-context';
import { busOptions } from '../../trpc/bus-options';

/** "Run now": the scheduler claims the job ahead of its schedule. PRECONDITION_FAILED for a disabled job. */
export const runJobNow = requirePermission('settings.edit')
  .input(ZRunJobNowInput)
  .mutation(async ({ ctx, input }) => {
    const res = await ctx.deps.bus.request(
      'sync-scheduler.jobs.run-now',
      { orgId: ctx.identity.orgId, jobId: input.jobId },
      busOptions(ctx),
    );
    await auditJobAction(ctx, 'sync_job.run_requested', res.job, {
      alreadyRunning: res.alreadyRunning,
    });
    return res;
  });
