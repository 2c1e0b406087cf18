import type { TIdentity } from '@otesse/identity';
import type { TSyncJob } from '@otesse/contracts';
import { publishAudit } from '../../audit/publish-audit';
import type { TContext } from '../../trpc/context';

type TAuthed = TContext & { identity: TIdentity };

/** One audit entry per user action on a job (who, which job, what it stopped). */
export async function auditJobAction(
  ctx: TAuthed,
  action: 'sync_job.enabled' | 'sync_job.disabled' | 'sync_job.run_requested',
  job: TSyncJob,
  details: Record<string, unknown> = {},
): Promise<void> {
  await publishAudit(ctx.deps, {
    orgId: ctx.identity.orgId,
    actorUserId: ctx.identity.userId,
    action,
    provider: job.vendor,
    targets: { instanceId: job.instanceId, connectionId: job.connectionId, jobId: job.id },
    outcome: 'success',
    details: { resource: job.resource, ...details },
    ip: ctx.ip,
    traceId: ctx.traceId,
  });
}
