import { randomUUID } from 'node:crypto';
import type { THandler } from '@otesse/messaging';
import {
  requireKnownProvider,
  runVaultCommandOnce,
  scratchTokenRows,
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
 * which replay in turn. With `stageId`: the staged tokens (`vault.tokens.stage`) are made due now and unclaimable,
 * then finished the same way; `revoke: false` destroys without revoking.
 */
export function discardTokensHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger'>,
  discarder: Pick<TokenDiscarder, 'finishOrLeave'>,
): THandler<typeof SUBJECT> {
  return async (req, ctx) => {
    requireKnownProvider(deps.catalogue, req.vendor);
    const knex = deps.orm.em.getConnection().getKnex();
    const revoke = req.revoke !== false;
    /** Revoked (unless `revoke` is false) and destroyed before the answer; a failure is left to the sweep. */
    const finish = async (stored: {
      discardId: string;
      credentialIds: string[];
    }): Promise<{ discardId: string; finished: boolean }> => {
      const destroyed = await discarder.finishOrLeave(
        {
          discardId: stored.discardId,
          connectionId: stored.discardId,
          orgId: req.orgId,
          vendor: req.vendor,
          subdomain: req.subdomain ?? null,
          credentialIds: stored.credentialIds,
          requestedMsAgo: 0,
          revoke,
        },
        ctx,
      );
      return { discardId: stored.discardId, finished: destroyed !== undefined };
    };
    if (req.stageId !== undefined) {
      // Staged tokens discarded now: due at once, and no longer claimable by a swap (in the same statement).
      const { result } = await withSafeDbErrors(deps.logger, 'discarding staged tokens', () =>
        runVaultCommandOnce(
          knex,
          { key: req.idempotencyKey, subject: SUBJECT, orgId: req.orgId },
          async (trx) => {
            const rows = (await trx('credential')
              .withSchema(VAULT_DB_SCHEMA)
              .where({ org_id: req.orgId, connection_id: req.stageId, is_deleted: false })
              .whereNotNull('staged_until')
              .update({
                staged_until: trx.fn.now(),
                discard_requested_at: trx.fn.now(),
                updated_at: trx.fn.now(),
              })
              .returning(['id'])) as { id: string }[];
            return {
              discardId: req.stageId!,
              orgId: req.orgId,
              credentialIds: rows.map((r) => r.id),
            };
          },
        ),
      );
      if (result.credentialIds.length === 0) return { discardId: result.discardId, finished: true };
      return finish(result);
    }
    const credentials = req.credentials!;
    const discardId = randomUUID();
    const rows = scratchTokenRows(deps.keys, { ...req, credentials }, knex, {
      scratchId: discardId,
      dueAt: knex.fn.now(),
      staged: false,
    });
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
    return finish(result);
  };
}
