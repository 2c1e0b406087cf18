import { randomUUID } from 'node:crypto';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import {
  runVaultCommandOnce,
  sealCredentialRows,
  VAULT_DB_SCHEMA,
  withSafeDbErrors,
} from '../credential-records';
import type { TokenDiscarder } from '../discard/token-discarder';
import type { TVaultDeps } from './deps';

const SUBJECT = 'vault.tokens.discard';

/**
 * Takes over a refused authorization's tokens: stored encrypted and retired (never handed out, never refreshed
 * with) under a scratch connection id, marked for discarding, in one transaction with the idempotency key; then
 * revoked and destroyed before the answer. What fails there is logged and left to the sweep (any replica), as is a
 * vault that stops in between: once stored, the caller keeps nothing to clean up. A replay runs the same steps,
 * which replay in turn.
 */
export function discardTokensHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger'>,
  discarder: Pick<TokenDiscarder, 'finishOrLeave'>,
): THandler<typeof SUBJECT> {
  return async (req, ctx) => {
    if (!deps.catalogue.has(req.vendor)) {
      throw new AppError('BAD_REQUEST', `unknown provider ${req.vendor}`, {
        reason: 'unknown_provider',
      });
    }
    const discardId = randomUUID();
    const knex = deps.orm.em.getConnection().getKnex();
    const rows = sealCredentialRows(deps.keys, { ...req, connectionId: discardId }, knex).map(
      (r) => ({
        ...r,
        is_active: false,
        // Dated by the database: the sweep that may finish it judges its age by the same clock.
        retired_at: knex.fn.now(),
        discard_requested_at: knex.fn.now(),
        discard_subdomain: req.subdomain ?? null,
      }),
    );
    const { result } = await withSafeDbErrors(deps.logger, 'storing tokens to discard', () =>
      runVaultCommandOnce(
        knex,
        { key: req.idempotencyKey, subject: SUBJECT, orgId: req.orgId },
        async (trx) => {
          await trx('credential').withSchema(VAULT_DB_SCHEMA).insert(rows);
          return { discardId, orgId: req.orgId, credentialIds: rows.map((r) => r.id) };
        },
      ),
    );
    const destroyed = await discarder.finishOrLeave(
      {
        discardId: result.discardId,
        connectionId: result.discardId,
        orgId: req.orgId,
        vendor: req.vendor,
        subdomain: req.subdomain ?? null,
        credentialIds: result.credentialIds,
        requestedMsAgo: 0,
      },
      ctx,
    );
    return { discardId: result.discardId, finished: destroyed !== undefined };
  };
}
