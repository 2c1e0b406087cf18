import { requirePermission } from '../../trpc/trpc';
import { auditWebhookSecretChange, requireWebhookInstance } from './webhook-instance';
import { ZExpirePreviousWebhookSecretInput } from './webhook-endpoint.schema';

/**
 * Stops accepting the replaced webhook secret now (the provider signs with the new one, or the old one leaked):
 * the vault destroys it. `expired: false` when none was still accepted (nothing changed, nothing audited).
 */
export const expirePreviousWebhookSecret = requirePermission('settings.edit')
  .input(ZExpirePreviousWebhookSecretInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const { instanceId, busCtx } = await requireWebhookInstance(ctx, input.vendor);
    const { expired } = await ctx.deps.bus.request(
      'vault.webhook-secrets.expire-previous',
      { orgId: identity.orgId, instanceId },
      busCtx,
    );
    if (expired) {
      await auditWebhookSecretChange(ctx, {
        action: 'webhook_secret.previous_expired',
        vendor: input.vendor,
        instanceId,
      });
    }
    return { expired };
  });
