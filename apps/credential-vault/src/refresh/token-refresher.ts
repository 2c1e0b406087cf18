import { randomUUID } from 'node:crypto';
import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { AppError, isAppError, type TReplyOf } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { databaseUnavailable, isDatabaseUnavailable } from '@otesse/persistence';
import type { Bus, EventPublisher, TMessageContext } from '@otesse/messaging';
import { resolveProviderUrl, type Catalogue, type TProviderDef } from '@otesse/providers';
import { cryptoFailure, lockConnection, VAULT_DB_SCHEMA } from '../credential-records';
import type { MasterKeyRing } from '../crypto/master-keys';
import {
  refreshAtProvider,
  type TExpiredSignal,
  type TRefreshResult,
  type TRefreshSettings,
} from '../provider/token-endpoint';
import { newestTokens, openRow, resealRow, tokenFingerprint, type TTokenRow } from '../token-rows';

export type TTokenAnswer = TReplyOf<'vault.access-tokens.get'>;
type TConnectionInfo = TReplyOf<'connection.connections.get'>;

/** Access tokens without `expires_in` in the refresh answer are assumed to live this long. */
const DEFAULT_ACCESS_TOKEN_TTL_SEC = 3_600;

export interface TRefresherDeps {
  orm: MikroORM;
  keys: MasterKeyRing;
  catalogue: Catalogue;
  bus: Bus;
  events: EventPublisher;
  logger: Logger;
  settings: TRefreshSettings;
}

/** What the locked part of a refresh came to. */
type TLockedOutcome =
  | {
      kind: 'refreshed';
      accessToken: string;
      expiresAt: Date;
      rotated: boolean;
      fingerprint: string;
    }
  | { kind: 'fresh'; row: TTokenRow }
  | { kind: 'gone' }
  | { kind: 'revoking' }
  | { kind: 'no_refresh_token' }
  | { kind: 'expired_known' }
  /** A refused token renewed too recently by a forced refresh: not again before `retryAt`. */
  | { kind: 'refusal_backoff'; retryAt: Date; forcedRefreshes: number }
  | Exclude<TRefreshResult, { kind: 'ok' }>;

const toDate = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

/**
 * Refreshes access tokens before they expire (issue 4 "Tokens").
 *
 * Concurrency: within a process, one refresh per connection at a time (single flight: concurrent callers share
 * the leader's answer); across replicas, the refresh runs in a transaction holding the connection's advisory
 * lock (the same lock store/destroy/revoke take) and re-reads the access token inside it, so a caller that
 * waited for another replica's refresh uses its result instead of refreshing again. The new access token and a
 * rotated refresh token are written in that one transaction: a rotated refresh token is never lost half-way.
 *
 * Failures: invalid_grant (or ServiceNow's 401 on a refresh) deactivates the refresh token, flags the connection
 * through the connection service (which publishes `integrations.connection.refresh_token_expired`) and audits
 * it; transient ones (5xx, 429, network, timeout) are retried within a budget and change nothing; invalid_client
 * is logged as an alert. Whatever happened, a caller whose token has not yet expired gets that token — unless it
 * said the provider refused that token (`refused`): then the token is not answered again and the failure is.
 *
 * A refused token is refreshed whatever its expiry, once: callers refusing the same sealing share one flight, and
 * one that waited for the lock finds the token changed and takes the new one (as for a due refresh). Forced
 * refreshes back off: within `refusalBackoffMaxMs` × 2 of the previous one, the next waits `refusalBackoffMs`
 * doubled per forced refresh in that row (capped at `refusalBackoffMaxMs`), so a provider that refuses every token
 * while still issuing them (its API access withdrawn) is asked for one a minute, then two… then one an hour — not
 * one per health check and per run. Meanwhile the refused token is not answered: PRECONDITION_FAILED
 * `access_token_refused` with `retryAt`.
 */
export class TokenRefresher {
  private readonly inflight = new Map<string, Promise<TTokenAnswer>>();

  constructor(private readonly deps: TRefresherDeps) {}

  /** Less than the margin left (capped at half the token's lifetime, so short-lived tokens are not refreshed on every call). */
  needsRefresh(expiresAt: Date | null, issuedAt: Date, now: number): boolean {
    if (expiresAt === null) return false;
    const lifetime = Math.max(0, expiresAt.getTime() - issuedAt.getTime());
    const margin = Math.min(this.deps.settings.marginMs, lifetime / 2);
    return expiresAt.getTime() - now <= margin;
  }

  /** The refreshed token (or a fresh one another caller got) for a connection whose access token is due. */
  refresh(
    req: { orgId: string; connectionId: string },
    current: TTokenRow,
    ctx: TMessageContext,
    opts: { refused?: boolean } = {},
  ): Promise<TTokenAnswer> {
    const refused = opts.refused === true;
    // A due refresh's flight may answer the token another caller just refused (it found it fresh): a refusal
    // leads its own flight, keyed by the refused sealing. The connection's lock orders the two.
    const key = `${req.orgId}:${req.connectionId}${refused ? `:refused:${tokenFingerprint(current)}` : ''}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.lead(req, current, ctx, refused).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async lead(
    req: { orgId: string; connectionId: string },
    current: TTokenRow,
    ctx: TMessageContext,
    refused: boolean,
  ): Promise<TTokenAnswer> {
    const expiresAt = toDate(current.expires_at);
    // A token the provider refused is no use, whatever its recorded expiry.
    const stillValid =
      !refused && (expiresAt === null || expiresAt.getTime() > new Date(current.db_now).getTime());
    const cannotRenew = refused ? accessTokenRefused : accessTokenExpired;
    /** Answer the current token while it works; otherwise the error. */
    const orFail = (err: AppError): TTokenAnswer => {
      if (!stillValid) throw err;
      this.deps.logger.warn(
        {
          connectionId: req.connectionId,
          code: err.code,
          reason: err.reason,
          traceId: ctx.traceId,
        },
        'refresh not possible now; answering the still-valid access token',
      );
      return this.answer(current);
    };
    const def = this.deps.catalogue.has(current.vendor)
      ? this.deps.catalogue.get(current.vendor)
      : undefined;
    if (!def?.oauth) return orFail(cannotRenew());
    const refreshRow = (
      await newestTokens(this.deps.orm.em.getConnection().getKnex(), req, ['refresh_token'], {
        activeOnly: false,
      })
    ).refresh_token;
    if (!refreshRow) return orFail(cannotRenew());

    let info: TConnectionInfo;
    try {
      info = await this.deps.bus.request('connection.connections.get', req, {
        timeoutMs: 3_000,
        ctx: { traceId: ctx.traceId },
      });
    } catch (e) {
      if (isAppError(e) && e.code === 'NOT_FOUND') {
        return orFail(
          new AppError('NOT_FOUND', 'the connection does not exist', {
            reason: 'connection_not_found',
          }),
        );
      }
      return orFail(
        new AppError('UNAVAILABLE', 'the connection service did not answer: retry', {
          reason: 'connection_service_unavailable',
        }),
      );
    }
    if (!refreshRow.is_active) {
      // Declared dead by the provider earlier: never sent again. Make sure the flag is set (self-healing when
      // the connection service was down at the time).
      if (!info.connection.refreshTokenExpired) {
        // Named, so that a mark for a token a reconnect replaced meanwhile (read above, before the connection)
        // flags nothing.
        await this.markExpired(
          info,
          def,
          { signal: 'invalid_grant', httpStatus: null, credentialId: refreshRow.id },
          ctx,
        );
      }
      return orFail(refreshTokenExpired());
    }
    if (info.connection.status !== 'connected') {
      // A disconnect (or anything else) in progress: no refresh behind its back.
      return orFail(
        new AppError('PRECONDITION_FAILED', `the connection is ${info.connection.status}`, {
          reason: `connection_${info.connection.status}`,
        }),
      );
    }
    const oauth = def.oauth;
    let tokenUrl: string;
    try {
      tokenUrl = resolveProviderUrl(oauth.tokenUrl, info.instance.config.subdomain);
    } catch (e) {
      return orFail(e as AppError);
    }
    if (!oauth.clientId || !oauth.clientSecret) {
      this.deps.logger.error(
        { alert: 'oauth_client_not_configured', vendor: def.key },
        'ALERT: no OAuth client credentials for this provider; tokens cannot be refreshed',
      );
      return orFail(
        new AppError('PROVIDER_ERROR', `no OAuth client is configured for ${def.displayName}`, {
          reason: 'client_not_configured',
        }),
      );
    }

    let outcome: TLockedOutcome;
    try {
      outcome = await this.refreshLocked(req, current, refused, {
        tokenUrl,
        clientId: oauth.clientId,
        clientSecret: oauth.clientSecret,
        clientAuth: oauth.tokenClientAuth,
        expiredSignal: oauth.refresh.expiredSignal,
      });
    } catch (e) {
      if (e instanceof AppError) throw e;
      if ((e as { code?: string }).code === '55P03') {
        return orFail(
          new AppError('UNAVAILABLE', 'another refresh of this connection is taking long: retry', {
            reason: 'refresh_in_progress',
          }),
        );
      }
      const c = cryptoFailure(e);
      if (c instanceof AppError) throw c;
      // Only names and codes: a pg error's detail could carry row content.
      const pg = e as { name?: string; code?: string };
      if (isDatabaseUnavailable(e)) {
        this.deps.logger.warn(
          { errName: pg.name, pgCode: pg.code, connectionId: req.connectionId },
          'refreshing the access token: database unavailable',
        );
        return orFail(databaseUnavailable());
      }
      this.deps.logger.error(
        { errName: pg.name, pgCode: pg.code, connectionId: req.connectionId },
        'refreshing the access token failed',
      );
      throw new AppError('INTERNAL', 'refreshing the access token failed', {
        reason: 'database_error',
      });
    }
    const log = { connectionId: req.connectionId, vendor: def.key, traceId: ctx.traceId };
    switch (outcome.kind) {
      case 'refreshed':
        this.deps.logger.info(
          { ...log, rotated: outcome.rotated, refused },
          refused ? 'refused access token refreshed' : 'access token refreshed',
        );
        return {
          accessToken: outcome.accessToken,
          expiresAt: outcome.expiresAt.toISOString(),
          kind: 'access_token',
          fingerprint: outcome.fingerprint,
        };
      case 'fresh':
        return this.answer(outcome.row);
      case 'gone':
        throw new AppError('NOT_FOUND', 'the connection has no active access token or API key', {
          reason: 'no_active_credential',
        });
      case 'revoking':
        // As for a connection that is not `connected` (connection_<status>): no refresh while a disconnect runs.
        throw new AppError(
          'PRECONDITION_FAILED',
          "the connection's tokens are being revoked (it is disconnecting)",
          { reason: 'connection_revoking' },
        );
      case 'no_refresh_token':
        return orFail(cannotRenew());
      case 'refusal_backoff':
        this.deps.logger.warn(
          {
            ...log,
            forcedRefreshes: outcome.forcedRefreshes,
            retryAt: outcome.retryAt.toISOString(),
          },
          'the provider refused a freshly renewed access token again: no renewal before the back-off ends',
        );
        throw new AppError(
          'PRECONDITION_FAILED',
          `${def.displayName} keeps refusing this connection's access tokens right after renewing them; the next renewal is tried after ${outcome.retryAt.toISOString()}`,
          {
            reason: 'access_token_refused',
            details: {
              retryAt: outcome.retryAt.toISOString(),
              forcedRefreshes: outcome.forcedRefreshes,
            },
          },
        );
      case 'expired_known':
        return orFail(refreshTokenExpired());
      case 'expired':
        this.deps.logger.warn(
          { ...log, signal: outcome.signal, httpStatus: outcome.httpStatus },
          'the provider refused the refresh token: connection needs a reconnect',
        );
        // A reconnect that swapped the credentials right after this refresh (it waited for our lock) must not
        // be flagged by the old token's death.
        {
          const dead = await this.currentRefreshTokenIfDead(req);
          if (dead !== null)
            await this.markExpired(info, def, { ...outcome, credentialId: dead }, ctx);
        }
        return orFail(refreshTokenExpired());
      case 'transient':
        this.deps.logger.warn(
          { ...log, why: outcome.why, attempts: outcome.attempts },
          'token endpoint unavailable; refresh given up for now',
        );
        return orFail(
          new AppError(
            'UNAVAILABLE',
            `${def.displayName} did not answer the refresh: retry later`,
            {
              reason: 'provider_unavailable',
              details: { why: outcome.why, attempts: outcome.attempts },
            },
          ),
        );
      case 'invalid_client':
        this.deps.logger.error(
          { ...log, alert: 'oauth_client_rejected', httpStatus: outcome.httpStatus },
          'ALERT: the provider rejected our OAuth client (invalid_client): check its client id/secret',
        );
        return orFail(
          new AppError('PROVIDER_ERROR', `${def.displayName} rejected the OAuth client`, {
            reason: 'invalid_client',
          }),
        );
      case 'rejected':
        this.deps.logger.warn(
          { ...log, httpStatus: outcome.httpStatus, error: outcome.error },
          'the provider refused the refresh',
        );
        return orFail(
          new AppError('PROVIDER_ERROR', `${def.displayName} refused the refresh`, {
            reason: 'refresh_rejected',
            details: { httpStatus: outcome.httpStatus, error: outcome.error ?? null },
          }),
        );
    }
  }

  /** The transaction that holds the connection's lock while the token endpoint is called. */
  private refreshLocked(
    req: { orgId: string; connectionId: string },
    seen: TTokenRow,
    refused: boolean,
    call: Omit<Parameters<typeof refreshAtProvider>[0], 'refreshToken' | 'settings'>,
  ): Promise<TLockedOutcome> {
    const { keys, settings } = this.deps;
    const knex = this.deps.orm.em.getConnection().getKnex();
    return knex.transaction(async (trx: Knex.Transaction): Promise<TLockedOutcome> => {
      // Waiting for another replica's refresh is bounded by its budget (and a bit).
      await trx.raw(`set local lock_timeout = ${Math.round(settings.budgetMs + 3_000)}`);
      await lockConnection(trx, req.connectionId);
      // The connection's tokens are being revoked (vault.tokens.revoke claims under this lock, then calls the
      // provider without it): a rotation now would leave the provider a live token nobody revokes.
      const revoking = await trx('revocation_claim')
        .withSchema(VAULT_DB_SCHEMA)
        .where({ connection_id: req.connectionId, blocks_refresh: true })
        .andWhere('claimed_until', '>', trx.fn.now())
        .first('key');
      if (revoking) return { kind: 'revoking' };
      const tokens = await newestTokens(trx, req, ['access_token', 'refresh_token'], {
        activeOnly: false,
      });
      const access = tokens.access_token?.is_active ? tokens.access_token : undefined;
      if (!access) return { kind: 'gone' };
      const changed = access.id !== seen.id || access.ciphertext !== seen.ciphertext;
      const dbNow = new Date(access.db_now);
      // Refused by this caller, or (a newer sealing) by another whose renewal failed or waits for its back-off.
      const refusedNow = refused || access.refused_at !== null;
      if (
        changed &&
        access.refused_at === null &&
        !this.needsRefresh(toDate(access.expires_at), new Date(access.updated_at), dbNow.getTime())
      ) {
        // Someone refreshed (or reconnected) while we waited for the lock — past the refused token too, if any.
        return { kind: 'fresh', row: access };
      }
      const refreshRow = tokens.refresh_token;
      if (!refreshRow) return { kind: 'no_refresh_token' };
      if (!refreshRow.is_active) return { kind: 'expired_known' };
      let forcedRefreshes = 0;
      if (refusedNow) {
        const last = toDate(access.last_forced_refresh_at);
        // Forced refreshes in a row: the previous one recent enough to count (else the row starts again).
        const streak =
          last !== null && dbNow.getTime() - last.getTime() < 2 * settings.refusalBackoffMaxMs
            ? access.forced_refreshes
            : 0;
        if (last !== null && streak > 0) {
          const wait = Math.min(
            settings.refusalBackoffMs * 2 ** Math.min(streak - 1, 30),
            settings.refusalBackoffMaxMs,
          );
          const retryAt = new Date(last.getTime() + wait);
          if (dbNow < retryAt) return { kind: 'refusal_backoff', retryAt, forcedRefreshes: streak };
        }
        forcedRefreshes = streak + 1;
      }
      const refreshToken = openRow(keys, refreshRow);
      const result = await refreshAtProvider({ ...call, refreshToken, settings });
      // The database's time as the transaction began, before the provider call: the expiry errs early.
      const now = dbNow;
      if (result.kind === 'ok') {
        const expiresAt = new Date(
          now.getTime() + (result.expiresInSec ?? DEFAULT_ACCESS_TOKEN_TTL_SEC) * 1000,
        );
        const ciphertext = await resealRow(trx, keys, access, result.accessToken, expiresAt, now);
        if (refusedNow) {
          await trx('credential')
            .withSchema(VAULT_DB_SCHEMA)
            .where({ id: access.id })
            .update({ forced_refreshes: forcedRefreshes, last_forced_refresh_at: now });
        }
        const rotated = result.refreshToken !== undefined && result.refreshToken !== refreshToken;
        if (rotated) {
          await resealRow(
            trx,
            keys,
            refreshRow,
            result.refreshToken!,
            toDate(refreshRow.expires_at),
            now,
          );
        }
        return {
          kind: 'refreshed',
          accessToken: result.accessToken,
          expiresAt,
          rotated,
          fingerprint: tokenFingerprint({ id: access.id, ciphertext }),
        };
      }
      if (result.kind === 'expired') {
        // Kept (the disconnect destroys it) but never sent again.
        await trx('credential')
          .withSchema(VAULT_DB_SCHEMA)
          .where({ id: refreshRow.id })
          .update({ is_active: false, updated_at: now });
      }
      return result;
    });
  }

  /** The id of the connection's current (not retired by a swap) refresh token when it is the deactivated one. */
  private async currentRefreshTokenIfDead(req: {
    orgId: string;
    connectionId: string;
  }): Promise<string | null> {
    const knex = this.deps.orm.em.getConnection().getKnex();
    const { refresh_token: current } = await newestTokens(knex, req, ['refresh_token'], {
      activeOnly: false,
    });
    return current !== undefined && !current.is_active ? current.id : null;
  }

  /**
   * Flags the connection and appends the audit entry, both keyed by the event id the connection service kept, so
   * repeats are deduplicated. The connection service owes the `refresh_token_expired` event and a copy of the audit
   * entry in the flag's own transaction and publishes them even when this never hears back (UNAVAILABLE: the flag is
   * set, the event not out yet): the entry this appends is the one with the provider's answer (signal, HTTP status),
   * and the service's copy, a minute later with the same event id, is dropped as its duplicate — or is the entry
   * when this one was lost. A mark that never reached a commit is tried again by the next request for this
   * connection (the flag is still unset; the refresh token stays deactivated meanwhile). The mark names the dead
   * refresh token: the connection service refuses it (`credential_replaced`) when a reconnect retired that token
   * while this ran — the reconnected connection is not flagged, nor audited as expired.
   */
  private async markExpired(
    info: TConnectionInfo,
    def: TProviderDef,
    cause: { signal: TExpiredSignal; httpStatus: number | null; credentialId: string },
    ctx: TMessageContext,
  ): Promise<void> {
    const c = info.connection;
    let marked: TReplyOf<'connection.connections.mark-refresh-expired'> | undefined;
    const eventId = randomUUID();
    for (let attempt = 1; attempt <= 3 && !marked; attempt++) {
      try {
        marked = await this.deps.bus.request(
          'connection.connections.mark-refresh-expired',
          { orgId: c.orgId, connectionId: c.id, eventId, credentialId: cause.credentialId },
          { timeoutMs: 3_000, ctx: { traceId: ctx.traceId } },
        );
      } catch (e) {
        if (isAppError(e) && e.reason === 'credential_replaced') {
          this.deps.logger.info(
            { connectionId: c.id, credentialId: cause.credentialId },
            'the dead refresh token was replaced by a reconnect: nothing flagged',
          );
          return;
        }
        if (!(isAppError(e) && e.retryable) || attempt === 3) {
          this.deps.logger.warn(
            { err: e, connectionId: c.id },
            'could not confirm the refreshTokenExpired flag: a committed flag is published by the connection service, one not committed is tried again by the next request',
          );
          return;
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    if (!marked) return;
    try {
      await this.deps.events.publish(
        'audit.entries.append',
        {
          eventId: marked.eventId,
          orgId: c.orgId,
          actorUserId: null,
          onBehalfOfUserId: c.userId,
          action: 'connection.refresh_token_expired',
          provider: def.key,
          targets: { instanceId: c.instanceId, connectionId: c.id },
          outcome: 'failure',
          details: {
            signal: cause.signal,
            httpStatus: cause.httpStatus,
            level: c.level,
            reconnectRequired: true,
          },
          occurredAt: marked.expiredAt,
          traceId: ctx.traceId,
        },
        { msgId: marked.eventId, ctx: { traceId: ctx.traceId, orgId: c.orgId } },
      );
    } catch (e) {
      this.deps.logger.warn(
        { err: e, connectionId: c.id, eventId: marked.eventId },
        "could not append the refresh_token_expired audit entry; the connection service's copy stands in",
      );
    }
  }

  /** Decrypts a row for the caller. */
  answer(row: TTokenRow): TTokenAnswer {
    let accessToken: string;
    try {
      accessToken = openRow(this.deps.keys, row);
    } catch (e) {
      throw cryptoFailure(e);
    }
    return {
      accessToken,
      expiresAt: toDate(row.expires_at)?.toISOString() ?? null,
      kind: row.kind,
      fingerprint: tokenFingerprint(row),
    };
  }
}

function accessTokenExpired(): AppError {
  return new AppError('PRECONDITION_FAILED', "the connection's access_token has expired", {
    reason: 'access_token_expired',
  });
}

function accessTokenRefused(): AppError {
  return new AppError(
    'PRECONDITION_FAILED',
    "the provider refused the connection's access token and there is nothing to renew it with",
    { reason: 'access_token_refused' },
  );
}

function refreshTokenExpired(): AppError {
  return new AppError(
    'PRECONDITION_FAILED',
    'the refresh token has expired or was revoked: reconnect the integration',
    { reason: 'refresh_token_expired' },
  );
}
