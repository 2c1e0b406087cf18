import { BoundedTtlMap } from '@otesse/runtime';
import { AppError, isAppError, type TReplyOf, type TRevocationReport } from '@otesse/contracts';
import type { THandler, TMessageContext } from '@otesse/messaging';
import { resolveProviderUrl, type TProviderDef } from '@otesse/providers';
import { runSqlCommandOnce } from '@otesse/persistence';
import { idempotencyConflict, requireKnownProvider, withSafeDbErrors } from '../credential-records';
import { revokeToken, type TTokenHint } from '../provider/token-revocation';
import { openRow, type TTokenRow } from '../token-rows';
import type { TVaultDeps } from './deps';

type TRevokeRequest = Parameters<THandler<'vault.tokens.revoke'>>[0];
type TResult = TRevocationReport['results'][number];
type TOutcome = TResult['outcome'];
/**
 * One stored token to revoke: its plaintext, or why it could not be read; `recorded`: the outcome an earlier
 * revocation (another key's: a disconnect's, a reconnect's) stored for it, for a token not sent again.
 */
type TToRevoke = {
  id: string;
  kind: TTokenHint;
  value: string | Error;
  destroyed: boolean;
  recorded?: TOutcome;
};
/** A token's outcome at the provider, recorded on its row by `finish_revocation`. */
type TRowOutcome = { id: string; outcome: TOutcome };
/** A row as `begin_revocation` reads it: with whether it is destroyed and its last revocation's outcome. */
type TClaimedRow = TTokenRow & { is_deleted: boolean; revocation_outcome: TOutcome | null };
const HINTS = ['refresh_token', 'access_token'] as const;
const SUBJECT = 'vault.tokens.revoke';
/**
 * How long a claim outlives the calls' own bound before another replica may take it over: a vault killed mid-call
 * delays the saga's retry by about this much. A holder slower than this only means a second, harmless set of calls
 * (revocation is idempotent at the provider); the first stored report is the one every caller gets.
 */
const CLAIM_MARGIN_MS = 3_000;

const LABEL: Record<TTokenHint, string> = {
  refresh_token: 'refresh token',
  access_token: 'access token',
};

/** What one key's revocation answers, to every caller of the key. */
interface TStoredRevocation {
  report: TRevocationReport;
  orgId: string;
  connectionId: string;
  /** Each token sent to the provider (or found unreadable), with its outcome: recorded on its row. */
  outcomes?: TRowOutcome[];
}

/**
 * Disconnect saga step 3 (seed "Revoke OAuth Tokens"): the refresh token and the access token are revoked
 * separately — two calls, in parallel, each bounded by `timeoutMs` — at the catalogue's revocation endpoint. The
 * tokens are decrypted here and never leave the vault. Every provider failure becomes an outcome and a warning;
 * the reply is an error only for a bad request or a reused key.
 *
 * Once per idempotency key, with no transaction held over the provider's calls (migration `revocation_claim`): one
 * round trip claims the key and reads the tokens under the connection's advisory lock (a refresh in flight
 * finishes first; one that starts later sees the claim and refuses to rotate the tokens being revoked), the
 * provider is called, one round trip stores the report and drops the claim. Duplicates of a key in this process
 * share the one revocation; a duplicate on another replica while the claim is live gets a retryable UNAVAILABLE
 * (`revocation_in_progress`) and its retry replays the report. A claim whose holder died expires after the
 * calls' bound and is taken over.
 *
 * Without `credentialIds` (a disconnect): the connection's current refresh and access token, and every token a
 * swap retired that no revocation revoked yet — a reconnect revokes its retired tokens in a later step, which
 * may not have run when the disconnect destroys them all. Each token's outcome is recorded on its row.
 * `credentialIds` (reconnect / change user): exactly those tokens — typically the ones a swap retired, no longer
 * active — instead of the connection's current ones; ids that are not this connection's are skipped with a
 * warning. One revoked already (by a disconnect's revocation) is reported revoked without a call; one destroyed
 * after a failed revocation, with that outcome and a warning. Nothing here needs the connection service to know
 * the connection: the edge revokes a refused authorization's tokens stored under a throwaway connection id,
 * passing `subdomain` itself.
 */
export function revokeTokensHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger' | 'bus'>,
): THandler<'vault.tokens.revoke'> {
  const inFlight = new Map<string, Promise<{ result: TStoredRevocation; replayed: boolean }>>();
  const unstored = new UnstoredReports();
  return async (req, ctx) => {
    requireKnownProvider(deps.catalogue, req.vendor);
    const def = deps.catalogue.get(req.vendor);
    let once = inFlight.get(req.idempotencyKey);
    if (!once) {
      once = revokeOnce(deps, def, req, ctx, unstored).finally(() =>
        inFlight.delete(req.idempotencyKey),
      );
      inFlight.set(req.idempotencyKey, once);
    }
    const { result, replayed } = await once;
    if (result.orgId !== req.orgId || result.connectionId !== req.connectionId) {
      throw idempotencyConflict();
    }
    if (!replayed) {
      // Seed: a revocation that fails is "logged as warning" (and the disconnect goes on).
      const failed = result.report.supported && !result.report.succeeded;
      deps.logger[failed ? 'warn' : 'info'](
        {
          orgId: req.orgId,
          connectionId: req.connectionId,
          vendor: req.vendor,
          supported: result.report.supported,
          succeeded: result.report.succeeded,
          outcomes: result.report.results.map((r) => `${r.kind}:${r.outcome}`),
          traceId: ctx.traceId,
        },
        failed ? 'token revocation failed; the disconnect goes on' : 'token revocation done',
      );
    }
    return result.report;
  };
}

type TBegin =
  { busy: true } | { claimed: true; rows: TClaimedRow[]; skipped: number } | TStoredRevocation;

/**
 * Reports whose provider calls are done but which could not be stored because the database was out of reach, by
 * idempotency key: the saga sends the command again, and this replica stores the report it already has instead of
 * finding its own claim live (`revocation_in_progress` until it expires) and calling the provider a second time.
 * Kept for as long as a claim could matter, and bounded.
 */
class UnstoredReports {
  private readonly reports = new BoundedTtlMap<TStoredRevocation>(10 * 60_000, 1_000);

  take(key: string): TStoredRevocation | undefined {
    return this.reports.get(key);
  }

  keep(key: string, stored: TStoredRevocation): void {
    this.reports.set(key, stored);
  }

  drop(key: string): void {
    this.reports.delete(key);
  }
}

/** Stores the report and drops the claim; the first report stored for the key is the one every caller gets. */
async function storeReport(
  deps: Pick<TVaultDeps, 'orm' | 'logger'>,
  key: string,
  stored: TStoredRevocation,
  unstored: UnstoredReports,
): Promise<{ result: TStoredRevocation; replayed: boolean }> {
  const knex = deps.orm.em.getConnection().getKnex();
  try {
    const finished = await withSafeDbErrors(deps.logger, 'storing the revocation report', () =>
      runSqlCommandOnce<TStoredRevocation>(knex, {
        name: 'vault.finish_revocation',
        text: 'select "vault".finish_revocation($1, $2, $3) as r',
        values: [key, SUBJECT, JSON.stringify(stored)],
        subject: SUBJECT,
      }),
    );
    unstored.drop(key);
    return { result: finished.result, replayed: false };
  } catch (e) {
    if (isAppError(e) && e.reason === 'database_unavailable') unstored.keep(key, stored);
    throw e;
  }
}

/** Claim → provider calls (no connection held) → stored report. */
async function revokeOnce(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger' | 'bus'>,
  def: TProviderDef,
  req: TRevokeRequest,
  ctx: TMessageContext,
  unstored: UnstoredReports,
): Promise<{ result: TStoredRevocation; replayed: boolean }> {
  // The provider was called for this key already; only storing its report failed.
  const known = unstored.take(req.idempotencyKey);
  if (known) return storeReport(deps, req.idempotencyKey, known, unstored);
  const knex = deps.orm.em.getConnection().getKnex();
  // Before the claim, so the claim lives only as long as the provider's calls (and their round trips).
  const subdomain = await subdomainFor(deps, def, req, ctx);
  const begun = await withSafeDbErrors(deps.logger, 'claiming the revocation', () =>
    runSqlCommandOnce<TBegin>(knex, {
      name: 'vault.begin_revocation',
      text: 'select "vault".begin_revocation($1, $2, $3, $4, $5, $6, $7) as r',
      values: [
        req.idempotencyKey,
        SUBJECT,
        req.orgId,
        req.connectionId,
        // A stored token of another provider is refused there (BAD_REQUEST vendor_mismatch), claiming nothing.
        req.vendor,
        req.credentialIds ?? null,
        // Both calls run in parallel, each bounded by timeoutMs; the margin covers the round trips around them.
        req.timeoutMs + CLAIM_MARGIN_MS,
      ],
      subject: SUBJECT,
    }),
  );
  if (begun.replayed) return { result: begun.result as TStoredRevocation, replayed: true };
  const claim = begun.result;
  if ('busy' in claim) {
    throw new AppError(
      'UNAVAILABLE',
      'this revocation is being carried out by another replica: retry for its report',
      { reason: 'revocation_in_progress' },
    );
  }
  if (!('claimed' in claim)) throw new Error('begin_revocation answered an unknown shape');
  const tokens: TToRevoke[] = claim.rows.map((row) => {
    const kind = row.kind as TTokenHint;
    // Revoked already (by another key: a disconnect's, for a reconnect's retired tokens): not sent again.
    // Destroyed after a revocation that did not succeed: its outcome is all there is to report.
    if (
      row.revocation_outcome === 'revoked' ||
      (row.is_deleted && row.revocation_outcome !== null)
    ) {
      const value = new Error('not sent again');
      return {
        id: row.id,
        kind,
        value,
        destroyed: row.is_deleted,
        recorded: row.revocation_outcome,
      };
    }
    let value: string | Error;
    try {
      value = openRow(deps.keys, row);
    } catch (e) {
      value = e as Error;
    }
    return { id: row.id, kind, value, destroyed: row.is_deleted };
  });
  const { report, outcomes } = await revokeAll(def, {
    tokens,
    subdomain,
    timeoutMs: req.timeoutMs,
  });
  if (claim.skipped > 0) {
    report.warnings.push(
      `${claim.skipped} of the credential ids given are not this connection's (or not tokens): skipped`,
    );
  }
  const stored: TStoredRevocation = {
    report,
    orgId: req.orgId,
    connectionId: req.connectionId,
    outcomes,
  };
  return storeReport(deps, req.idempotencyKey, stored, unstored);
}

type TEntry = Pick<TToRevoke, 'kind' | 'recorded'> &
  Partial<Pick<TToRevoke, 'id' | 'destroyed'>> & { value: string | Error | undefined };

/**
 * One entry per token (refresh tokens first), and a `no_token` entry for a kind with none, so the usual report
 * keeps its shape: one refresh_token and one access_token result.
 */
function entriesOf(tokens: TToRevoke[]): TEntry[] {
  return HINTS.flatMap((kind): TEntry[] => {
    const of = tokens.filter((t) => t.kind === kind);
    return of.length > 0 ? of : [{ kind, value: undefined }];
  });
}

/**
 * The report, and the outcome of each token this revocation handled itself (sent, or found unreadable while
 * stored): those recorded on their rows. Tokens reported from an earlier outcome are not among them.
 */
async function revokeAll(
  def: TProviderDef,
  opts: { tokens: TToRevoke[]; subdomain: string | undefined; timeoutMs: number },
): Promise<{ report: TRevocationReport; outcomes: TRowOutcome[] }> {
  const entries = entriesOf(opts.tokens);
  const report = await reportOf(def, entries, opts);
  const outcomes: TRowOutcome[] = [];
  // reportOf answers one result per entry, in order (none for an API key).
  report.results.forEach((r, i) => {
    const e = entries[i];
    if (e?.id !== undefined && e.recorded === undefined && !e.destroyed)
      outcomes.push({ id: e.id, outcome: r.outcome });
  });
  return { report, outcomes };
}

async function reportOf(
  def: TProviderDef,
  entries: TEntry[],
  opts: { subdomain: string | undefined; timeoutMs: number },
): Promise<TRevocationReport> {
  if (!def.oauth) {
    // API key: nothing the provider can revoke; the vault destroys the stored key, the user rotates it.
    return {
      supported: false,
      succeeded: false,
      results: [],
      warnings: [
        def.apiKey?.rotationHint ??
          `${def.displayName} keys cannot be revoked remotely: rotate the key at ${def.displayName}.`,
      ],
    };
  }
  const rev = def.oauth.revocation;
  if (rev.kind === 'none') {
    return {
      supported: false,
      succeeded: false,
      results: entries.map(({ kind, value }) => ({
        kind,
        outcome: value === undefined ? 'no_token' : 'not_supported',
        httpStatus: null,
      })),
      warnings: [`${def.displayName} token revocation is not supported: ${rev.reason}`],
    };
  }
  const warnings: string[] = [];
  let url: string | undefined;
  try {
    url = resolveProviderUrl(rev.url, opts.subdomain);
  } catch {
    warnings.push(
      `${def.displayName}: no instance subdomain is known, tokens could not be revoked; they expire on their own`,
    );
  }
  const results: TResult[] = await Promise.all(
    entries.map(async ({ kind, value: token, recorded }): Promise<TResult> => {
      if (token === undefined) return { kind, outcome: 'no_token', httpStatus: null };
      // Revoked already, by another key's revocation: reported as such, the provider not called again.
      if (recorded === 'revoked') return { kind, outcome: 'revoked', httpStatus: null };
      if (recorded !== undefined) {
        warnings.push(
          `${def.displayName}: the ${LABEL[kind]} was destroyed after its revocation failed (${recorded}); it stays valid until it expires on its own`,
        );
        return { kind, outcome: recorded, httpStatus: null };
      }
      if (token instanceof Error) {
        warnings.push(
          `${def.displayName}: the stored ${LABEL[kind]} could not be read; not revoked`,
        );
        return { kind, outcome: 'failed', httpStatus: null };
      }
      if (url === undefined) return { kind, outcome: 'failed', httpStatus: null };
      const r = await revokeToken(rev, {
        url,
        token,
        hint: kind,
        clientId: def.oauth?.clientId,
        clientSecret: def.oauth?.clientSecret,
        timeoutMs: opts.timeoutMs,
      });
      if (r.outcome !== 'revoked') warnings.push(warningFor(def, kind, r, opts.timeoutMs));
      return { kind, ...r };
    }),
  );
  return {
    supported: true,
    succeeded: results.every((r) => r.outcome === 'revoked' || r.outcome === 'no_token'),
    results,
    warnings: warnings.sort(),
  };
}

function warningFor(
  def: TProviderDef,
  kind: TTokenHint,
  r: { outcome: string; httpStatus: number | null },
  timeoutMs: number,
): string {
  const what = `${def.displayName}: revoking the ${LABEL[kind]}`;
  const tail = 'it stays valid until it expires on its own';
  switch (r.outcome) {
    case 'timeout':
      return `${what} timed out after ${timeoutMs} ms; ${tail}`;
    case 'unreachable':
      return `${what} failed: the revocation endpoint is unreachable; ${tail}`;
    default:
      return `${what} failed (HTTP ${r.httpStatus ?? '?'}); ${tail}`;
  }
}

/** The subdomain for `[subdomain]` URLs: the request's, else the instance's (asked of the connection service). */
async function subdomainFor(
  deps: Pick<TVaultDeps, 'bus' | 'logger'>,
  def: TProviderDef,
  req: TRevokeRequest,
  ctx: TMessageContext,
): Promise<string | undefined> {
  const rev = def.oauth?.revocation;
  if (req.subdomain !== undefined || !rev || rev.kind === 'none') return req.subdomain;
  if (!rev.url.includes('[subdomain]')) return undefined;
  try {
    const info: TReplyOf<'connection.connections.get'> = await deps.bus.request(
      'connection.connections.get',
      { orgId: req.orgId, connectionId: req.connectionId },
      { timeoutMs: 2_000, ctx: { traceId: ctx.traceId } },
    );
    return info.instance.config.subdomain;
  } catch (e) {
    deps.logger.warn(
      { code: isAppError(e) ? e.code : undefined, connectionId: req.connectionId },
      'no subdomain for the revocation URL',
    );
    return undefined;
  }
}
