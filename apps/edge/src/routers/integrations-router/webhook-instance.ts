import { AppError, type TAuditAction } from '@otesse/contracts';
import type { TIdentity } from '@otesse/identity';
import { publishAudit } from '../../audit/publish-audit';
import type { TEdgeDeps } from '../../trpc/context';
import { busOptions } from '../../trpc/bus-options';

/** How the procedures' requests carry who acts (trace, actor, org). */
type TBusCtx = { ctx: { traceId: string; actorUserId: string; orgId: string } };

/**
 * The org's instance of a provider whose webhooks this product checks, once it has its endpoint (its first
 * connect): what the webhook-secret procedures act on. BAD_REQUEST `unsupported_provider` for a provider without a
 * scheme; PRECONDITION_FAILED `no_endpoint` before the first connect (there is no URL to give the provider yet).
 */
export async function requireWebhookInstance(
  ctx: { deps: TEdgeDeps; identity: TIdentity; traceId: string },
  vendor: string,
): Promise<{ instanceId: string; busCtx: TBusCtx }> {
  const { identity } = ctx;
  const provider = ctx.deps.catalogue.get(vendor);
  if (!provider.webhooks) {
    throw new AppError('BAD_REQUEST', `${provider.displayName} webhooks cannot be checked here`, {
      reason: 'unsupported_provider',
    });
  }
  const busCtx = busOptions(ctx);
  const { instance, webhookEndpoint } = await ctx.deps.bus.request(
    'connection.instances.get',
    { orgId: identity.orgId, vendor, withConnections: false },
    busCtx,
  );
  if (!instance || !webhookEndpoint) {
    throw new AppError(
      'PRECONDITION_FAILED',
      `connect ${provider.displayName} first: its webhook endpoint comes with the first connection`,
      { reason: 'no_endpoint' },
    );
  }
  return { instanceId: instance.id, busCtx };
}

/** Audits a change to an instance's webhook secret by the acting admin (never with a secret in it). */
export async function auditWebhookSecretChange(
  ctx: { deps: TEdgeDeps; identity: TIdentity; traceId: string; ip: string | null },
  change: {
    action: Extract<TAuditAction, `webhook_secret.${string}`>;
    vendor: string;
    instanceId: string;
    details?: Record<string, string | null>;
  },
): Promise<void> {
  await publishAudit(ctx.deps, {
    orgId: ctx.identity.orgId,
    actorUserId: ctx.identity.userId,
    action: change.action,
    provider: change.vendor,
    targets: { instanceId: change.instanceId },
    outcome: 'success',
    details: change.details ?? {},
    ip: ctx.ip,
    traceId: ctx.traceId,
  });
}
