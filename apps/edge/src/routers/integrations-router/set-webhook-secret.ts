import { requirePermission } from '../../trpc/trpc';
import { auditWebhookSecretChange, requireWebhookInstance } from './webhook-instance';
import { ZSetWebhookSecretInput } from './webhook-endpoint.schema';

/**
 * Sets (or replaces) the signing secret the provider signs its deliveries with: the vault keeps it encrypted and
 * checks signatures itself; nothing ever reads it back. Only once the instance has its endpoint (its first
 * connect): before that there is no URL to give the provider. A replaced secret stays accepted for
 * `keepPreviousHours` (0: refused at once). Audited, without the secret.
 */
export const setWebhookSecret = requirePermission('settings.edit')
  .input(ZSetWebhookSecretInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const { instanceId, busCtx } = await requireWebhookInstance(ctx, input.vendor);
    const { updatedAt, previous } = await ctx.deps.bus.request(
      'vault.webhook-secrets.set',
      {
        orgId: identity.orgId,
        instanceId,
        vendor: input.vendor,
        secret: input.secret,
        keepPreviousSeconds: input.keepPreviousHours * 3600,
      },
      busCtx,
    );
    await auditWebhookSecretChange(ctx, {
      action: 'webhook_secret.set',
      vendor: input.vendor,
      instanceId,
      details: { previousKeptUntil: previous?.validUntil ?? null },
    });
    return { secretConfigured: true, secretUpdatedAt: updatedAt, previousSecret: previous };
  });
