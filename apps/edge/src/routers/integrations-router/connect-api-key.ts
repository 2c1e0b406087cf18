import { TRPCError } from '@trpc/server';
import { completeConnection } from '../../connect/complete-connection';
import { requirePermission } from '../../trpc/trpc';
import { connectionView } from './connection-view';
import { ZConnectApiKeyInput } from './connect-api-key.schema';

/** API-key providers (Postmark): validate the key's shape and the provider fields, then store the key in the vault. */
export const connectApiKey = requirePermission('settings.edit')
  .input(ZConnectApiKeyInput)
  .mutation(async ({ ctx, input }) => {
    const provider = ctx.deps.catalogue.get(input.vendor);
    const settings = provider.apiKey;
    if (provider.authKind !== 'apiKey' || !settings) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${provider.displayName} connects with OAuth, not an API key`,
      });
    }
    if (!new RegExp(settings.keyPattern).test(input.apiKey)) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `that does not look like a ${provider.displayName} ${settings.keyLabel}`,
      });
    }
    const needsSenders = settings.fields.some((f) => f.key === 'senderEmails' && f.required);
    if (needsSenders && input.senderEmails.length === 0) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: 'at least one sender email is required',
      });
    }
    const { connection } = await completeConnection(ctx.deps, {
      orgId: ctx.identity.orgId,
      userId: ctx.identity.userId,
      provider,
      level: 'app',
      externalAccountId: null,
      tenantId: null,
      details: { senderEmails: [...new Set(input.senderEmails.map((e) => e.toLowerCase()))] },
      credentials: [{ kind: 'api_key', value: input.apiKey, expiresAt: null }],
      ip: ctx.ip,
      traceId: ctx.traceId,
    });
    return connectionView(connection);
  });
