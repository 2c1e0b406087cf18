import { authedProcedure } from '../../trpc/trpc';
import { ZGetWebhookEndpointInput } from './webhook-endpoint.schema';

/**
 * An integration's inbound webhook endpoint: the URL to give the provider (the instance has one from its first
 * connect), whether it takes deliveries (a disconnect disables it and keeps it; a reconnect enables it again),
 * when the last one was accepted, and whether a signing secret is set (never the secret). `supported: false` for providers whose deliveries this
 * product cannot check.
 */
export const getWebhookEndpoint = authedProcedure
  .input(ZGetWebhookEndpointInput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    const provider = ctx.deps.catalogue.get(input.vendor);
    const busCtx = {
      ctx: { traceId: ctx.traceId, actorUserId: identity.userId, orgId: identity.orgId },
    };
    const none = {
      supported: provider.webhooks !== undefined,
      secretHint: provider.webhooks?.secretHint || null,
      endpoint: null,
      secretConfigured: false,
      secretUpdatedAt: null,
    };
    if (!provider.webhooks) return none;
    const { instance, webhookEndpoint } = await ctx.deps.bus.request(
      'connection.instances.get',
      { orgId: identity.orgId, vendor: input.vendor },
      busCtx,
    );
    if (!instance || !webhookEndpoint) return none;
    const secret = await ctx.deps.bus.request(
      'vault.webhook-secrets.describe',
      { orgId: identity.orgId, instanceId: instance.id },
      busCtx,
    );
    return {
      ...none,
      endpoint: {
        url: `${ctx.deps.publicUrl}${webhookEndpoint.url}`,
        status: webhookEndpoint.status,
        /** The newest accepted delivery (null: none yet), so an admin sees the provider got through. */
        lastDeliveryAt: webhookEndpoint.lastDeliveryAt ?? null,
      },
      secretConfigured: secret.configured,
      secretUpdatedAt: secret.updatedAt,
    };
  });
