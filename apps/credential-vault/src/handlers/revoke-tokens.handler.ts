import { AppError, isAppError, type TReplyOf, type TRevocationReport } from '@otesse/contracts';
import type { THandler, TMessageContext } from '@otesse/messaging';
import { resolveProviderUrl, type TProviderDef } from '@otesse/providers';
import { lockConnection, runVaultCommandOnce, withSafeDbErrors } from '../credential-records';
import { revokeToken, type TTokenHint } from '../provider/token-revocation';
import { newestTokens, openRow, tokensByIds, type TTokenRow } from '../token-rows';
import type { TVaultDeps } from './deps';

type TRevokeRequest = Parameters<THandler<'vault.tokens.revoke'>>[0];
type TResult = TRevocationReport['results'][number];
/** One stored token to revoke: its plaintext, or why it could not be read. */
type TToRevoke = { kind: TTokenHint; value: string | Error };
const HINTS = ['refresh_token', 'access_token'] as const;
const isHint = (kind: string): kind is TTokenHint => (HINTS as readonly string[]).includes(kind);

const LABEL: Record<TTokenHint, string> = {
  refresh_token: 'refresh token',
  access_token: 'access token',
};

/**
 * Disconnect saga step 3 (seed "Revoke OAuth Tokens"): the refresh token and the access token are revoked
 * separately — two calls, in parallel, each bounded by `timeoutMs` — at the catalogue's revocation endpoint. The
 * tokens are decrypted here and never leave the vault. Every provider failure becomes an outcome and a warning;
 * the reply is an error only for a bad request or a reused key. Runs once per idempotency key (the report is
 * kept in the same transaction as the claim; a replay answers it without calling the provider) under the
 * connection's advisory lock, so no refresh rotates a token while it is being revoked.
 *
 * `credentialIds` (reconnect / change user): exactly those tokens — typically the ones a swap retired, no longer
 * active — instead of the connection's current ones; ids that are not this connection's are skipped with a
 * warning. Nothing here needs the connection service to know the connection: the edge revokes a refused
 * authorization's tokens stored under a throwaway connection id, passing `subdomain` itself.
 */
export function revokeTokensHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger' | 'bus'>,
): THandler<'vault.tokens.revoke'> {
  return async (req, ctx) => {
    if (!deps.catalogue.has(req.vendor)) {
      throw new AppError('BAD_REQUEST', `unknown provider ${req.vendor}`, {
        reason: 'unknown_provider',
      });
    }
    const def = deps.catalogue.get(req.vendor);
    const subdomain = await subdomainFor(deps, def, req, ctx);
    const knex = deps.orm.em.getConnection().getKnex();
    const { result, replayed } = await withSafeDbErrors(deps.logger, 'revoking tokens', () =>
      runVaultCommandOnce(
        knex,
        {
          key: req.idempotencyKey,
          subject: 'vault.tokens.revoke',
          orgId: req.orgId,
          connectionId: req.connectionId,
        },
        async (trx) => {
          await lockConnection(trx, req.connectionId);
          const { rows, skipped } = await tokensToRevoke(trx, req);
          // Never send one provider's token to another's endpoint.
          if (rows.some((r) => r.vendor !== req.vendor)) {
            throw new AppError(
              'BAD_REQUEST',
              `the connection's credentials are not ${req.vendor}'s`,
              { reason: 'vendor_mismatch' },
            );
          }
          const tokens: TToRevoke[] = rows.map((row) => {
            let value: string | Error;
            try {
              value = openRow(deps.keys, row);
            } catch (e) {
              value = e as Error;
            }
            return { kind: row.kind as TTokenHint, value };
          });
          const report = await revokeAll(def, {
            tokens,
            subdomain,
            timeoutMs: req.timeoutMs,
          });
          if (skipped > 0) {
            report.warnings.push(
              `${skipped} of the credential ids given are not this connection's (or not tokens): skipped`,
            );
          }
          return { report, orgId: req.orgId, connectionId: req.connectionId };
        },
      ),
    );
    if (!replayed) {
      deps.logger.info(
        {
          orgId: req.orgId,
          connectionId: req.connectionId,
          vendor: req.vendor,
          supported: result.report.supported,
          succeeded: result.report.succeeded,
          outcomes: result.report.results.map((r) => `${r.kind}:${r.outcome}`),
          traceId: ctx.traceId,
        },
        'token revocation done',
      );
    }
    return result.report;
  };
}

/**
 * The rows to revoke: by id, or the connection's newest refresh and access token (a refresh token the provider
 * declared dead included: revoking it again is harmless). Only refresh and access tokens can be revoked.
 */
async function tokensToRevoke(
  trx: Parameters<typeof newestTokens>[0],
  req: TRevokeRequest,
): Promise<{ rows: TTokenRow[]; skipped: number }> {
  if (req.credentialIds === undefined) {
    const newest = await newestTokens(trx, req, [...HINTS], { activeOnly: false });
    return { rows: HINTS.flatMap((h) => (newest[h] ? [newest[h]] : [])), skipped: 0 };
  }
  const ids = new Set(req.credentialIds);
  const found = await tokensByIds(trx, req, [...ids]);
  const rows = found.filter((r) => isHint(r.kind));
  return { rows, skipped: ids.size - rows.length };
}

/**
 * One entry per token (refresh tokens first), and a `no_token` entry for a kind with none, so the usual report
 * keeps its shape: one refresh_token and one access_token result.
 */
function entriesOf(tokens: TToRevoke[]): { kind: TTokenHint; value: string | Error | undefined }[] {
  return HINTS.flatMap((kind): { kind: TTokenHint; value: string | Error | undefined }[] => {
    const of = tokens.filter((t) => t.kind === kind);
    return of.length > 0 ? of : [{ kind, value: undefined }];
  });
}

async function revokeAll(
  def: TProviderDef,
  opts: {
    tokens: TToRevoke[];
    subdomain: string | undefined;
    timeoutMs: number;
  },
): Promise<TRevocationReport> {
  const entries = entriesOf(opts.tokens);
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
    entries.map(async ({ kind, value: token }): Promise<TResult> => {
      if (token === undefined) return { kind, outcome: 'no_token', httpStatus: null };
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
