import { AppError } from '@otesse/contracts';
import { requirePermission } from '../../trpc/trpc';
import { publishAudit } from '../../audit/publish-audit';
import { ZExpirePreviousWebhookSecretInput } from './webhook-endpoint.schema';

/**
 * Stops accepting the replaced webhook secret now (the provider signs with the new one, or the old one leaked):
 * the vault destroys it. `expired: false` when none was still accepted (nothing changed, nothing audited).
 */
export const expirePreviousWebhookSecret = requirePermission('settings.edit')
  .input(ZExpirePreviousWebhookSecretInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const provider = ctx.deps.catalogue.get(input.vendor);
    const busCtx = {
      ctx: { traceId: ctx.traceId, actorUserId: identity.userId, orgId: identity.orgId },
    };
    if (!provider.webhooks) {
      throw new AppError('BAD_REQUEST', `${provider.displayName} webhooks cannot be checked here`, {
        reason: 'unsupported_provider',
      });
    }
    const { instance, webhookEndpoint } = await ctx.deps.bus.request(
      'connection.instances.get',
      { orgId: identity.orgId, vendor: input.vendor },
      busCtx,
    );
    if (!instance || !webhookEndpoint) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `${provider.displayName} has no webhook endpoint yet: it comes with the first connection`,
        { reason: 'no_endpoint' },
      );
    }
    const { expired } = await ctx.deps.bus.request(
      'vault.webhook-secrets.expire-previous',
      { orgId: identity.orgId, instanceId: instance.id },
      busCtx,
    );
    if (expired) {
      await publishAudit(ctx.deps, {
        orgId: identity.orgId,
        actorUserId: identity.userId,
        action: 'webhook_secret.previous_expired',
        provider: input.vendor,
        targets: { instanceId: instance.id },
        outcome: 'success',
        details: {},
        ip: ctx.ip,
        traceId: ctx.traceId,
      });
    }
    return { expired };
  });
