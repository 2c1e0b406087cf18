import { requirePermission } from '../../trpc/trpc';
import { auditWebhookSecretChange, requireWebhookInstance } from './webhook-instance';
import { ZRemoveWebhookSecretInput } from './webhook-endpoint.schema';

/**
 * Removes the webhook secret (and a replaced one still accepted): every delivery is refused from now on, until a
 * new one is set — when the provider's webhooks are no longer used, or a secret leaked before a new one can be
 * had. The endpoint itself stays. `removed: false` when none was set (nothing changed, nothing audited).
 */
export const removeWebhookSecret = requirePermission('settings.edit')
  .input(ZRemoveWebhookSecretInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const { instanceId, busCtx } = await requireWebhookInstance(ctx, input.vendor);
    const { removed } = await ctx.deps.bus.request(
      'vault.webhook-secrets.remove',
      { orgId: identity.orgId, instanceId },
      busCtx,
    );
    if (removed) {
      await auditWebhookSecretChange(ctx, {
        action: 'webhook_secret.removed',
        vendor: input.vendor,
        instanceId,
      });
    }
    return { removed };
  });
