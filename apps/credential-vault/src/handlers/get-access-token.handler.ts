import { AppError, type TCredentialKind } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import type { Catalogue } from '@otesse/providers';
import type { TokenRefresher } from '../refresh/token-refresher';
import { newestTokens, tokenFingerprint, type TTokenRow } from '../token-rows';
import type { TVaultDeps } from './deps';

/** The kinds a caller may present to the provider, by preference: API-key providers use their key. */
function usableKinds(catalogue: Catalogue, vendor: string): TCredentialKind[] {
  if (!catalogue.has(vendor)) return ['access_token', 'api_key'];
  return catalogue.get(vendor).authKind === 'apiKey' ? ['api_key'] : ['access_token'];
}

/**
 * Decrypts the connection's access token (or API key) for a caller about to call the provider; an access token
 * about to expire is refreshed first (see TokenRefresher), and so is the one a caller says the provider refused
 * (`refusedFingerprint` still naming the current sealing). A refusal of anything else — a token already replaced,
 * an API key — refreshes nothing: the current credential is answered.
 */
export function getAccessTokenHandler(
  deps: Pick<TVaultDeps, 'orm' | 'catalogue' | 'logger'> & { refresher: TokenRefresher },
): THandler<'vault.access-tokens.get'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const live = await newestTokens(knex, req, ['access_token', 'api_key'], { activeOnly: true });
    const vendor = (live.access_token ?? live.api_key)?.vendor;
    let cred: TTokenRow | undefined;
    for (const kind of vendor === undefined ? [] : usableKinds(deps.catalogue, vendor)) {
      cred ??= live[kind];
    }
    if (!cred) {
      throw new AppError('NOT_FOUND', 'the connection has no active access token or API key', {
        reason: 'no_active_credential',
      });
    }
    const expiresAt = cred.expires_at === null ? null : new Date(cred.expires_at);
    // Judged by the database's clock, which dated it (never this process' own: another replica may be off).
    const now = new Date(cred.db_now).getTime();
    if (cred.kind !== 'access_token' && expiresAt && expiresAt.getTime() <= now) {
      throw new AppError('PRECONDITION_FAILED', `the connection's ${cred.kind} has expired`, {
        reason: `${cred.kind}_expired`,
      });
    }
    const refused =
      cred.kind === 'access_token' &&
      req.refusedFingerprint !== undefined &&
      req.refusedFingerprint === tokenFingerprint(cred);
    const answer =
      refused ||
      (cred.kind === 'access_token' &&
        deps.refresher.needsRefresh(expiresAt, new Date(cred.updated_at), now))
        ? await deps.refresher.refresh(req, cred, ctx, { refused })
        : deps.refresher.answer(cred);
    // Who got which credential (ids only): the trail of every decryption.
    deps.logger.debug(
      {
        credentialId: cred.id,
        kind: cred.kind,
        // Whether a refusal was reported, and whether it named the current token (then it was refreshed).
        ...(req.refusedFingerprint === undefined ? {} : { refused, refusedStale: !refused }),
        actorUserId: ctx.actorUserId,
        traceId: ctx.traceId,
      },
      'credential handed out',
    );
    return answer;
  };
}
