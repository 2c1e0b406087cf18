import { authedProcedure } from '../../trpc/trpc';
import { ZGetWebhookEndpointInput } from './webhook-endpoint.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * An integration's inbound webhook endpoint: the URL to give the provider (the instance has one from its first
 * connect), whether it takes deliveries (a disconnect disables it and keeps it; a reconnect enables it again),
 * when the last one was accepted, whether a signing secret is set (never the secret) and a replaced one still
 * accepted, and how the provider proves its deliveries (`authentication`: a signature, or basic credentials with
 * the given user name in the URL). `supported: false` for providers whose deliveries this product cannot check.
 * Any member sees the endpoint (the dashboard's panel); the last refusal only with settings.view or settings.edit.
 */
export const getWebhookEndpoint = authedProcedure
  .input(ZGetWebhookEndpointInput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    const seesSettings =
      identity.permissions.includes('settings.view') ||
      identity.permissions.includes('settings.edit');
    const provider = ctx.deps.catalogue.get(input.vendor);
    const busCtx = busOptions(ctx);
    const scheme = provider.webhooks?.signature;
    const none = {
      supported: scheme !== undefined,
      secretHint: provider.webhooks?.secretHint || null,
      authentication: !scheme
        ? null
        : scheme.kind === 'basic'
          ? { kind: 'basic' as const, username: scheme.username }
          : { kind: 'signature' as const },
      endpoint: null,
      secretConfigured: false,
      secretUpdatedAt: null,
      previousSecret: null,
    };
    if (!provider.webhooks) return none;
    const { instance, webhookEndpoint } = await ctx.deps.bus.request(
      'connection.instances.get',
      { orgId: identity.orgId, vendor: input.vendor, withConnections: false },
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
        /**
         * The newest delivery refused for its signature, and why (null: none): what goes wrong while setting up.
         * For those who see the org's settings only: it tells of the secret's state and of whoever probes the URL.
         */
        lastRefusal: seesSettings ? (webhookEndpoint.lastRefusal ?? null) : null,
      },
      secretConfigured: secret.configured,
      secretUpdatedAt: secret.updatedAt,
      /** A replaced secret still accepted: until when, and when the provider last signed with it. */
      previousSecret: secret.previous,
    };
  });
