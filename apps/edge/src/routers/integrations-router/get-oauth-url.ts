import { TRPCError } from '@trpc/server';
import { AppError } from '@otesse/contracts';
import { authedProcedure } from '../../trpc/trpc';
import { restErrorResponses } from '../../http/rest-errors';
import { createPending } from '../../oauth/pending-authorizations';
import { ZGetOAuthUrlInput, ZGetOAuthUrlOutput } from './get-oauth-url.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * The OAuth URL to open in the browser: a one-time start link on the edge. Opened (GET), it shows a confirmation
 * page naming the org and the user it was made for; its Continue (or the dashboard posting the link from its own
 * origin) binds the browser and redirects to the provider, so a link sent to someone else connects nothing unless
 * they confirm what the page names. Without `action`, the pre-check refuses an integration that is already connected (CONFLICT);
 * `reconnect` is for an expired refresh token (or a revoked connection), `changeUser` for a connected instance.
 */
export const getOAuthUrl = authedProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/account/integrations/{vendor}/oauth2/url',
      summary: 'OAuth URL to connect, reconnect or change the user of an integration',
      description:
        'Without `action`, an integration that is already connected is refused (409). `action=reconnect` is for ' +
        'an expired refresh token (`refreshTokenExpired`), `action=changeUser` switches the connected account to ' +
        'another user of the same domain without disconnecting. The action is bound to the one-time URL on the ' +
        'server (the callback never trusts a query parameter for it) and echoed in the response as `action`. The ' +
        'URL is an opaque one-time start link for the same user: opened in a browser (GET) it shows a page naming ' +
        'the organization and user it was made for, whose Continue starts the authorization (a POST from that ' +
        'page); the dashboard, on its configured origin, POSTs the link itself as a top-level form and skips the ' +
        'page. A POST from any other origin is refused (403 `foreign_origin`) and starts nothing.',
      protect: true,
      errorResponses: restErrorResponses({
        400:
          'Invalid input, or a vendor that connects with an API key, has no connection of that `flow`, or does ' +
          'not support the `action`',
        403: '`flow=app` (the organization-wide connection) needs settings.edit',
        409:
          'Already connected (`data.reason` already_connected: use `action`), being disconnected ' +
          '(disconnecting), or `action=reconnect` while the refresh token is still valid (reconnect_not_needed)',
        412:
          'The instance needs its subdomain first (subdomain_required), or `action` has nothing to act on: ' +
          'never connected (nothing_to_reconnect), not connected (not_connected)',
      }),
    },
  })
  .input(ZGetOAuthUrlInput)
  .output(ZGetOAuthUrlOutput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    const provider = ctx.deps.catalogue.get(input.vendor);
    if (!provider.oauth) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${provider.displayName} connects with an API key, not OAuth`,
      });
    }
    if (!provider.flows.includes(input.flow)) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${provider.displayName} has no ${input.flow}-level connection`,
      });
    }
    if (input.flow === 'app' && !identity.permissions.includes('settings.edit')) {
      throw new TRPCError({
        code: 'FORBIDDEN',
        message: 'managing the organization-wide connection needs settings.edit',
      });
    }
    if (input.action && !provider.oauth.supportsReconnect) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${provider.displayName} does not support ${input.action}`,
      });
    }
    // The slot's newest connections that are or were connected: its live one (a slot's newest: no other is made
    // while one is live) and whether one was revoked. Never the other members', nor a pile of failed connects.
    const { instance, connections: inSlot } = await ctx.deps.bus.request(
      'connection.instances.get',
      {
        orgId: identity.orgId,
        vendor: input.vendor,
        statuses: ['connected', 'disconnecting', 'revoked'],
        newest: 2,
        slot:
          input.flow === 'app'
            ? { level: 'app' as const }
            : { level: 'user' as const, userId: identity.userId },
      },
      busOptions(ctx),
    );
    if (provider.oauth.subdomain && !instance?.config.subdomain) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `configure the ${provider.oauth.subdomain.label} first`,
        {
          reason: 'subdomain_required',
        },
      );
    }
    const live = inSlot.find((c) => c.status === 'connected' || c.status === 'disconnecting');
    let targetConnectionId: string | null = null;
    if (live?.status === 'disconnecting') {
      throw new AppError('CONFLICT', `${provider.displayName} is being disconnected`, {
        reason: 'disconnecting',
      });
    }
    if (!input.action) {
      if (live)
        throw new AppError('CONFLICT', `${provider.displayName} is already connected`, {
          reason: 'already_connected',
        });
    } else if (input.action === 'reconnect') {
      if (live && !live.refreshTokenExpired) {
        throw new AppError(
          'CONFLICT',
          `${provider.displayName} is connected and its refresh token is valid: nothing to reconnect`,
          {
            reason: 'reconnect_not_needed',
          },
        );
      }
      if (!live && !inSlot.some((c) => c.status === 'revoked')) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `${provider.displayName} was never connected: connect it instead`,
          {
            reason: 'nothing_to_reconnect',
          },
        );
      }
      // A revoked connection is reconnected by a fresh connect (reusing the instance); a live one in place.
      targetConnectionId = live?.id ?? null;
    } else {
      if (!live) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `${provider.displayName} is not connected: connect it instead`,
          {
            reason: 'not_connected',
          },
        );
      }
      targetConnectionId = live.id;
    }
    const { startKey, expiresAt } = await createPending(ctx.deps.orm, {
      orgId: identity.orgId,
      userId: identity.userId,
      vendor: input.vendor,
      flow: input.flow,
      action: input.action ?? null,
      targetConnectionId,
    });
    return {
      url: `${ctx.deps.publicUrl}/connect/start/${startKey}`,
      expiresAt: expiresAt.toISOString(),
      action: input.action ?? null,
    };
  });
