import { AppError, type TCredentialKind } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import type { Catalogue } from '@otesse/providers';
import type { TokenRefresher } from '../refresh/token-refresher';
import { VAULT_DB_SCHEMA } from '../credential-records';
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
 * (`refusedFingerprint` still naming the current sealing), which is never answered again: until a refresh replaces
 * it, every caller gets the renewal or its failure (a provider that keeps refusing gets one forced refresh per
 * back-off, see TokenRefresher). A refusal of anything else — a token already replaced, an API key — refreshes
 * nothing: the current credential is answered.
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
    const reported =
      cred.kind === 'access_token' &&
      req.refusedFingerprint !== undefined &&
      req.refusedFingerprint === tokenFingerprint(cred);
    if (reported && cred.refused_at === null) {
      // Recorded first, so this sealing is never answered again, to anyone, whatever its renewal comes to (a
      // refresh reseals the row and clears it). Only that sealing: a refresh that got in first is left alone.
      await knex('credential')
        .withSchema(VAULT_DB_SCHEMA)
        .where({ id: cred.id, ciphertext: cred.ciphertext })
        .whereNull('refused_at')
        .update({ refused_at: knex.fn.now() });
    }
    // Refused now, or earlier by another caller whose renewal failed (or waits for its back-off).
    const refused = reported || (cred.kind === 'access_token' && cred.refused_at !== null);
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
        ...(req.refusedFingerprint === undefined ? {} : { refused, refusedStale: !reported }),
        actorUserId: ctx.actorUserId,
        traceId: ctx.traceId,
      },
      'credential handed out',
    );
    return answer;
  };
}
