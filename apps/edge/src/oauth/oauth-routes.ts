import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import grant from 'grant';
import { AppError, VAULT_MAX_EXPIRES_IN_SEC } from '@otesse/contracts';
import { newTraceId } from '@otesse/messaging';
import { isDatabaseUnavailable, whileDatabaseAway } from '@otesse/persistence';
import type { TEdgeDeps } from '../trpc/context';
import { clientIp } from '../trpc/context';
import { completeConnection } from '../connect/complete-connection';
import { reconnectFromCallback } from '../connect/reconnect-connection';
import { buildGrantConfig, changeUserCustomParams } from './grant-config';
import { boundedTokenExchange, type TTokenExchangeBounds } from './bounded-token-exchange';
import type { TCredentialInput } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { grantSessionStore } from './grant-session-store';
import { appendSetCookie, BINDING_COOKIE, bindingCookie, readCookie } from './cookies';
import {
  claimPending,
  peekPending,
  PENDING_TTL_MS,
  setOutcome,
  startPending,
  type TSiteOption,
} from './pending-authorizations';
import { readIdentity } from './read-identity';
import {
  CONFIRM_COOKIE,
  CONFIRM_FIELD,
  ConfirmationSigner,
  confirmCookie,
  escapeHtml,
  newConfirmNonce,
  REFUSAL_HEADERS,
  sendConfirmationPage,
} from './confirm-start-page';
import { chooseSite } from '../connect/choose-site';
import { discardTokens, dropStagedTokens } from '../connect/discard-tokens';
import { stageCallbackTokens, type TStagedTokens } from '../connect/stage-tokens';
import { publishAudit } from '../audit/publish-audit';
import { sendAppError } from '../http/http-errors';
import { rateLimitedError } from '../http/rate-limiter';
import { asAppError } from '../trpc/app-error-to-trpc';

type TGrantHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  state?: { dynamic?: Record<string, string | Record<string, string>> },
) => Promise<{
  redirect?: boolean;
  response?: Record<string, unknown> & { raw?: Record<string, unknown> };
}>;

const START = /^\/connect\/start\/([A-Za-z0-9_-]{20,100})$/;
const CALLBACK = /^\/connect\/([a-z][a-z0-9-]{1,39})\/callback(?:\?.*)?$/;
/** A confirmation form is a few hundred bytes: anything much larger is not one. */
const MAX_FORM_BYTES = 4_096;

/** A request's path as logs may show it: no query, and no start key (a link someone else could still open). */
export function pathForLog(url: string | undefined): string | undefined {
  const path = url?.split('?')[0];
  return path?.startsWith('/connect/start/') ? '/connect/start/:key' : path;
}

/** A form body (application/x-www-form-urlencoded) of at most MAX_FORM_BYTES; anything else reads as empty. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(
    type === 'application/x-www-form-urlencoded' ? Buffer.concat(chunks).toString('utf8') : '',
  );
}

/**
 * `GET /connect/start/:key` (a confirmation page naming the org and user the link was made for; starts nothing),
 * `POST /connect/start/:key` (from that page — same origin, signed field bound to a cookie — or straight from the
 * dashboard's origin: bind the browser, redirect to the provider through grant) and `/connect/:vendor/callback`
 * (check state + binding + expiry + single use BEFORE grant exchanges the code). Tokens a callback obtained but
 * cannot attach to a connection are revoked (through the vault) whatever went wrong.
 */
export function createOAuthRoutes(
  deps: TEdgeDeps,
  opts: {
    sessionSecret?: string | undefined;
    databaseWaitMs: number;
    tokenExchange: TTokenExchangeBounds;
    /** How long the vault holds a callback's tokens for the connect or saga that claims them (seconds). */
    stageHoldSec: number;
  },
) {
  const secure = deps.publicUrl.startsWith('https:');
  const edgeOrigin = new URL(deps.publicUrl).origin;
  const dashboardOrigin = new URL(deps.dashboardUrl).origin;
  // Every replica needs the same secret (grant's session, the confirmation field); random only in dev.
  const secret = opts.sessionSecret ?? randomBytes(32).toString('hex');
  const signer = new ConfirmationSigner(secret);
  /**
   * The edge's database out of reach: the browser's request waits for it (a failover takes seconds; the provider's
   * code would not survive "start again"), up to `databaseWaitMs`, then gets the 503 page (`whenDatabaseAway`).
   */
  const waitingForDatabase = <T>(fn: () => Promise<T>): Promise<T> =>
    whileDatabaseAway(fn, {
      waitMs: opts.databaseWaitMs,
      onWait: (attempt) => {
        if (attempt === 1)
          deps.logger.warn(
            { reason: 'database_unavailable' },
            'oauth route waiting for the database',
          );
      },
    });
  /** Recording the outcome is for later readers: the browser gets its answer even if it cannot be written. */
  const recordOutcome = (
    pendingId: string,
    outcome: string,
    traceId: string,
    sites?: readonly TSiteOption[],
  ): Promise<void> =>
    waitingForDatabase(() => setOutcome(deps.orm, pendingId, outcome, sites)).catch(
      (err: unknown) =>
        deps.logger.warn(
          { reason: asAppError(err)?.reason ?? 'internal', outcome, traceId },
          'oauth outcome not recorded',
        ),
    );
  const grantConfig = buildGrantConfig(deps.catalogue, deps.publicUrl);
  const grantApp = (grant as unknown as { node: (cfg: unknown) => TGrantHandler }).node({
    config: grantConfig.config,
    // grant's code exchange, bounded in time and size (its client only times out an idle socket).
    request: boundedTokenExchange(opts.tokenExchange, deps.logger),
    session: {
      name: 'otesse_grant',
      secret,
      cookie: { path: '/connect', httpOnly: true, sameSite: 'lax', secure },
      store: grantSessionStore(deps.orm, waitingForDatabase),
    },
  });

  const refuse = (res: ServerResponse, status: number, reason: string, message: string): void => {
    res.writeHead(status, REFUSAL_HEADERS);
    res.end(
      `<!doctype html><title>Authorization refused</title><h1>Authorization refused</h1>` +
        `<p data-reason="${escapeHtml(reason)}">${escapeHtml(message)}</p>` +
        `<p><a href="${escapeHtml(deps.dashboardUrl)}">Back to Otesse</a></p>`,
    );
  };

  const backToDashboard = (res: ServerResponse, params: Record<string, string>): void => {
    const url = new URL(deps.dashboardUrl);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    appendSetCookie(res, bindingCookie('', { secure, maxAgeSec: 0 }));
    res.writeHead(302, { location: url.toString(), 'cache-control': 'no-store' });
    res.end();
  };

  /**
   * What a completed change of user tells the dashboard besides its outcome: which connection (`flow`), and whether
   * the provider signed in the very account the connection already had (`sameAccount=1`: a browser still signed in
   * there as that user is the usual cause), so the dashboard does not announce a switch that did not happen. The
   * account replaced is the one the saga's record-account step answered, not the callback's earlier read. Never the
   * account itself: the dashboard names it from its own list, and the URL lands in history and access logs.
   */
  const changeUserParams = async (
    sagaId: string,
    externalAccountId: string,
    flow: string,
  ): Promise<Record<string, string>> => {
    try {
      const recorded = (await deps.sagas.view(sagaId))?.steps.find(
        (s) => s.name === 'record-account',
      )?.result;
      const previous = recorded?.['previousExternalAccountId'];
      // No previous account recorded (a connection stored without one): said neither way.
      if (typeof previous !== 'string') return { flow };
      return { flow, sameAccount: previous === externalAccountId ? '1' : '0' };
    } catch (e) {
      deps.logger.warn(
        { reason: asAppError(e)?.reason ?? 'internal', sagaId },
        'change of user: the replaced account could not be read',
      );
      return { flow };
    }
  };

  /**
   * The org's instance of the vendor (its configured subdomain) and, for a provider with sites, its newest connection
   * that names one (where the instance's site was last connected); no other connection.
   */
  const instanceOf = (orgId: string, vendor: string, traceId: string) =>
    deps.bus.request(
      'connection.instances.get',
      {
        orgId,
        vendor,
        ...(deps.catalogue.get(vendor).oauth?.identity.kind === 'atlassian'
          ? { withTenant: true as const, newest: 1 }
          : { withConnections: false }),
      },
      { ctx: { traceId, orgId } },
    );

  /** GET: the page that asks the person whether this link is theirs. Nothing is claimed or bound yet. */
  async function confirmPage(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
  ): Promise<void> {
    let summary;
    try {
      summary = await waitingForDatabase(() => peekPending(deps.orm, key));
    } catch (e) {
      if (!(e instanceof AppError)) throw e;
      return refuse(res, 400, 'invalid_start', e.message);
    }
    // One nonce per browser (kept while it lives), so two tabs' pages both stay good.
    const nonce = readCookie(req, CONFIRM_COOKIE) ?? newConfirmNonce();
    sendConfirmationPage(res, {
      summary,
      providerName: deps.catalogue.has(summary.vendor)
        ? deps.catalogue.get(summary.vendor).displayName
        : summary.vendor,
      formAction: `/connect/start/${key}`,
      field: signer.sign(key, nonce),
      cookie: confirmCookie(nonce, { secure, maxAgeSec: PENDING_TTL_MS / 1000 }),
      dashboardUrl: deps.dashboardUrl,
    });
  }

  /**
   * POST: the person confirmed on the page (this edge's origin, with the field signed for this link and this
   * browser's cookie), or the dashboard posted the link it just asked for (its configured origin). A request from
   * any other origin, or with no sign of one, is refused and starts nothing.
   */
  async function confirmedStart(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
  ): Promise<void> {
    const form = await readForm(req);
    const origin = req.headers.origin;
    const fromDashboard = origin === dashboardOrigin;
    // Origin can be `null` (a referrer policy of no-referrer) or missing: then the browser's own Sec-Fetch-Site.
    const fromOwnPage =
      origin === edgeOrigin ||
      ((origin === undefined || origin === 'null') &&
        req.headers['sec-fetch-site'] === 'same-origin');
    if (!fromDashboard && !fromOwnPage) {
      deps.logger.warn(
        { reason: 'foreign_origin', origin: origin?.slice(0, 200) },
        'oauth start refused',
      );
      return refuse(
        res,
        403,
        'foreign_origin',
        'This authorization can only be started from Otesse itself: open the link and confirm there.',
      );
    }
    if (
      !fromDashboard &&
      !signer.verify(key, readCookie(req, CONFIRM_COOKIE), form?.get(CONFIRM_FIELD) ?? null)
    ) {
      deps.logger.warn({ reason: 'confirmation_invalid' }, 'oauth start refused');
      return refuse(
        res,
        403,
        'confirmation_invalid',
        'This confirmation is not valid in this browser: open the link again and confirm there.',
      );
    }
    // grant reads a POST's body itself: the form is read, and the provider is reached by a plain redirect.
    req.method = 'GET';
    await start(req, res, key);
  }

  async function start(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const traceId = newTraceId();
    let started;
    try {
      started = await waitingForDatabase(() => startPending(deps.orm, key));
    } catch (e) {
      // Only our own refusals are the link's fault (and worded for the browser); anything else is thrown on.
      if (!(e instanceof AppError)) throw e;
      return refuse(res, 400, 'invalid_start', e.message);
    }
    const { pending, state, binding } = started;
    const provider = deps.catalogue.get(pending.vendor);
    let subdomain: string | undefined;
    try {
      subdomain = (await instanceOf(pending.org_id, pending.vendor, traceId)).instance?.config
        .subdomain;
    } catch {
      // The connection service is unreachable (restarting): a typed, retryable refusal, not a bare 500.
      return refuse(
        res,
        503,
        'unavailable',
        'the integration service is unavailable; start the connection again in a moment',
      );
    }
    if (provider.oauth?.subdomain && !subdomain) {
      return refuse(
        res,
        412,
        'subdomain_required',
        `${provider.displayName} needs its instance configured first`,
      );
    }
    // Never hand the browser's query to grant: only server-side values reach the provider URL.
    req.url = `/connect/${grantConfig.nameOf(provider.key)}`;
    res.setHeader('referrer-policy', 'no-referrer');
    // A change of user asks the provider for its account chooser where it has one: a browser still signed in there
    // as the connected user would otherwise authorize that same account again.
    const customParams =
      pending.action === 'changeUser' ? changeUserCustomParams(provider) : undefined;
    const result = await grantApp(req, res, {
      dynamic: {
        state,
        ...(subdomain ? { subdomain } : {}),
        ...(customParams ? { custom_params: customParams } : {}),
      },
    });
    if (!result.redirect)
      return refuse(res, 500, 'grant_failed', 'the authorization could not be started');
    // grant writes its 302 on the next tick: add the browser binding beside its session cookie.
    appendSetCookie(res, bindingCookie(binding, { secure, maxAgeSec: PENDING_TTL_MS / 1000 }));
  }

  async function callback(
    req: IncomingMessage,
    res: ServerResponse,
    vendor: string,
  ): Promise<void> {
    const traceId = newTraceId();
    const url = new URL(req.url ?? '/', deps.publicUrl);
    const claim = await waitingForDatabase(() =>
      claimPending(deps.orm, url.searchParams.get('state'), readCookie(req, BINDING_COOKIE)),
    );
    if (!claim.ok) {
      deps.logger.warn({ reason: claim.reason, vendor, traceId }, 'oauth callback refused');
      return refuse(
        res,
        400,
        claim.reason,
        'This authorization is invalid, expired, already used or was started in another browser.',
      );
    }
    const pending = claim.pending;
    if (pending.vendor !== vendor) {
      await recordOutcome(pending.id, 'refused:vendor_mismatch', traceId);
      return refuse(res, 400, 'vendor_mismatch', 'This authorization belongs to another provider.');
    }
    // A reconnect's or a change of user's outcome names it, so the dashboard words it as what was asked.
    const asked: Record<string, string> = pending.action ? { action: pending.action } : {};
    if (url.searchParams.has('error')) {
      await recordOutcome(pending.id, 'denied', traceId);
      return backToDashboard(res, { oauth: 'denied', vendor, ...asked });
    }
    /**
     * Tokens once the code is exchanged, until something takes them over: a connection (completeConnection, which
     * disposes of them itself when it fails), a reconnect saga, or a refusal that discards them. A failure while
     * they are still here would leave them live at the provider, attached to nothing: they are revoked. In this
     * process only until the vault staged them (`staged`); from then on the vault finishes them if this edge dies.
     */
    let obtained:
      | {
          provider: TProviderDef;
          credentials: TCredentialInput[];
          subdomain: string | undefined;
          staged?: TStagedTokens;
          externalAccountId?: string;
        }
      | undefined;
    try {
      const provider = deps.catalogue.get(vendor);
      const { instance, connections } = await instanceOf(pending.org_id, vendor, traceId);
      const subdomain = instance?.config.subdomain;
      // grant forgets per-request overrides between the two legs: the subdomain is set again, server-side.
      req.url = `/connect/${grantConfig.nameOf(vendor)}/callback?${url.searchParams.toString()}`;
      const { response } = await grantApp(req, res, subdomain ? { dynamic: { subdomain } } : {});
      const accessToken =
        typeof response?.['access_token'] === 'string' ? response['access_token'] : undefined;
      if (!response || response['error'] || !accessToken) {
        throw new AppError('PROVIDER_ERROR', 'the provider did not issue tokens', {
          reason: 'token_exchange_failed',
        });
      }
      const raw = (response.raw ?? {}) as Record<string, unknown>;
      const refreshToken =
        typeof response['refresh_token'] === 'string' ? response['refresh_token'] : undefined;
      const expiresIn = Number(raw['expires_in']);
      const credentials: TCredentialInput[] = [
        {
          kind: 'access_token' as const,
          value: accessToken,
          // As the provider said it: the vault dates it by the database's clock, not this edge's.
          ...(Number.isFinite(expiresIn) && expiresIn >= 1
            ? { expiresInSec: Math.min(Math.round(expiresIn), VAULT_MAX_EXPIRES_IN_SEC) }
            : { expiresAt: null }),
        },
        ...(refreshToken
          ? [{ kind: 'refresh_token' as const, value: refreshToken, expiresAt: null }]
          : []),
      ];
      obtained = { provider, credentials, subdomain };
      // Staged under the authorization's id: a second claim of it is refused above, so one stage per callback.
      const staged = await stageCallbackTokens(
        deps,
        {
          orgId: pending.org_id,
          userId: pending.user_id,
          vendor,
          subdomain,
          credentials,
          holdSec: opts.stageHoldSec,
          traceId,
        },
        `stage:callback:${pending.id}`,
      );
      obtained.staged = staged;
      const identity = await readIdentity(
        provider,
        { accessToken, raw },
        subdomain ? { subdomain } : {},
      );
      obtained.externalAccountId = identity.externalAccountId;
      if (pending.action && pending.target_connection_id) {
        // From here the reconnect owns the tokens (it discards them on a refusal; its saga swaps them in).
        obtained = undefined;
        const outcome = await reconnectFromCallback(deps, {
          action: pending.action,
          orgId: pending.org_id,
          userId: pending.user_id,
          flow: pending.flow,
          targetConnectionId: pending.target_connection_id,
          provider,
          subdomain,
          identity,
          staged,
          ip: clientIp(req, deps.limits.trustedProxyHops),
          traceId,
        });
        const done = pending.action === 'reconnect' ? 'reconnected' : 'user_changed';
        await recordOutcome(pending.id, outcome.ok ? done : `refused:${outcome.reason}`, traceId);
        if (!outcome.ok)
          return backToDashboard(res, {
            oauth: 'refused',
            vendor,
            reason: outcome.reason,
            ...asked,
          });
        return backToDashboard(res, {
          oauth: done,
          vendor,
          ...asked,
          ...(pending.action === 'changeUser'
            ? await changeUserParams(outcome.sagaId, identity.externalAccountId, pending.flow)
            : {}),
        });
      }
      const site = chooseSite(
        identity,
        {
          hasSites: provider.oauth?.identity.kind === 'atlassian',
          chosen: instance?.config.site,
          tenantId: instance?.tenantId,
        },
        connections,
      );
      if (!site.ok) {
        // Nothing is connected: the tokens are revoked where the provider can, and destroyed. After an admin's
        // choice the user connects again.
        obtained = undefined;
        await dropStagedTokens(deps, staged, identity.externalAccountId);
        if (site.reason === 'tenant_mismatch') {
          // An account of another provider organization: no site to choose, and an attempt an admin should see.
          await publishAudit(deps, {
            orgId: pending.org_id,
            actorUserId: pending.user_id,
            action: 'connection.connect_failed',
            provider: vendor,
            targets: instance ? { instanceId: instance.id } : {},
            outcome: 'failure',
            details: {
              reason: site.reason,
              level: pending.flow,
              expectedTenant: instance?.tenantId ?? null,
              attemptedTenant: identity.tenantId,
              attemptedExternalAccount: identity.externalAccountId,
            },
            ip: clientIp(req, deps.limits.trustedProxyHops),
            traceId,
          }).catch((e: unknown) =>
            deps.logger.warn({ err: e }, 'audit of a refused connect failed'),
          );
          await recordOutcome(pending.id, `refused:${site.reason}`, traceId);
          return backToDashboard(res, {
            oauth: 'refused',
            vendor,
            reason: site.reason,
            flow: pending.flow,
          });
        }
        // The sites stay here: the dashboard asks for them by the authorization's id (`integrations.siteChoice`,
        // its starter's alone), so a crafted link cannot put sites of its own in the picker.
        await recordOutcome(pending.id, `refused:${site.reason}`, traceId, site.sites.slice(0, 20));
        return backToDashboard(res, {
          oauth: 'refused',
          vendor,
          reason: site.reason,
          flow: pending.flow,
          siteChoice: pending.id,
        });
      }
      obtained = undefined;
      await completeConnection(deps, {
        orgId: pending.org_id,
        userId: pending.user_id,
        provider,
        level: pending.flow,
        externalAccountId: identity.externalAccountId,
        tenantId: site.tenantId,
        details: {
          ...(identity.accountLabel ? { accountLabel: identity.accountLabel } : {}),
          ...(site.siteName ? { siteName: site.siteName } : {}),
        },
        staged,
        subdomain,
        ip: clientIp(req, deps.limits.trustedProxyHops),
        traceId,
      });
      await recordOutcome(pending.id, 'connected', traceId);
      return backToDashboard(res, { oauth: 'connected', vendor });
    } catch (e) {
      const known = asAppError(e);
      const reason = known ? (known.reason ?? known.code) : 'internal';
      if (!known) deps.logger.error({ err: e, vendor, traceId }, 'oauth callback failed');
      else if (!(e instanceof AppError))
        deps.logger.warn({ reason, vendor, traceId }, 'oauth callback failed');
      if (obtained?.staged) {
        // Best effort and bounded (it logs, never throws): the browser still gets its answer.
        await dropStagedTokens(deps, obtained.staged, obtained.externalAccountId);
      } else if (obtained) {
        // Not staged (the vault did not take them): revoked through it if it can, else they stay live at the
        // provider until they expire — nothing here can hold them longer than this request.
        await discardTokens(deps, {
          orgId: pending.org_id,
          userId: pending.user_id,
          provider: obtained.provider,
          subdomain: obtained.subdomain,
          credentials: obtained.credentials,
          traceId,
        });
      }
      await recordOutcome(pending.id, `failed:${reason}`, traceId);
      return backToDashboard(res, { oauth: 'failed', vendor, reason, ...asked });
    }
  }

  /**
   * The edge's database out of reach (a restart, a failover) before the flow could be started or its callback
   * claimed: a page that says so (503) rather than a JSON error in the browser, the driver's words left out.
   */
  const whenDatabaseAway = async (res: ServerResponse, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      if (res.headersSent || !isDatabaseUnavailable(e)) throw e;
      deps.logger.warn({ reason: 'database_unavailable' }, 'oauth route refused');
      refuse(
        res,
        503,
        'unavailable',
        'Otesse cannot reach its database right now; start the connection again in a moment.',
      );
    }
  };

  /** Returns false when the request is not an OAuth route. */
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = req.url ?? '';
    const s = START.exec(path.split('?')[0] ?? '');
    const startKey = s?.[1];
    // The start link takes a GET (the page) and a POST (the confirmation); the callback only a GET.
    if (req.method !== 'GET' && !(req.method === 'POST' && startKey)) return false;
    if (path.startsWith('/connect/')) {
      // Every /connect/* hit costs a lookup (and a start a NATS call): bounded per client IP.
      const taken = deps.limits.oauth.take(
        clientIp(req, deps.limits.trustedProxyHops) ?? 'unknown',
      );
      if (!taken.ok) {
        sendAppError(res, rateLimitedError(deps.limits.oauth, taken.retryAfterSec));
        return true;
      }
    }
    if (startKey) {
      await whenDatabaseAway(res, () =>
        req.method === 'POST'
          ? confirmedStart(req, res, startKey)
          : confirmPage(req, res, startKey),
      );
      return true;
    }
    const vendor = CALLBACK.exec(path)?.[1];
    if (vendor) {
      await whenDatabaseAway(res, () => callback(req, res, vendor));
      return true;
    }
    return false;
  };
}
