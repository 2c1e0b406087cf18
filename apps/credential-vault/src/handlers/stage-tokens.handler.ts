import { randomUUID } from 'node:crypto';
import type { THandler } from '@otesse/messaging';
import { databaseTimeIn } from '@otesse/persistence';
import {
  requireKnownProvider,
  runVaultCommandOnce,
  scratchTokenRows,
  VAULT_DB_SCHEMA,
  withSafeDbErrors,
} from '../credential-records';
import type { TVaultDeps } from './deps';

const SUBJECT = 'vault.tokens.stage';

/**
 * Holds the tokens an OAuth callback just obtained: stored encrypted and retired under a scratch connection id
 * (`stageId`), in one transaction with the idempotency key. `staged_until` says how long a connect's store or a
 * reconnect saga's swap may claim them; their discard is due at the same moment, so the discard sweep (any replica)
 * revokes and destroys those never claimed, dated by the database's clock like every other discard.
 */
export function stageTokensHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger'>,
): THandler<typeof SUBJECT> {
  return async (req, ctx) => {
    requireKnownProvider(deps.catalogue, req.vendor);
    const stageId = randomUUID();
    const knex = deps.orm.em.getConnection().getKnex();
    const rows = scratchTokenRows(deps.keys, req, knex, {
      scratchId: stageId,
      dueAt: databaseTimeIn(knex, req.holdSec * 1_000),
      staged: true,
    });
    const { result, replayed } = await withSafeDbErrors(deps.logger, 'staging tokens', () =>
      runVaultCommandOnce(
        knex,
        { key: req.idempotencyKey, subject: SUBJECT, orgId: req.orgId },
        async (trx) => {
          await trx('credential').withSchema(VAULT_DB_SCHEMA).insert(rows);
          return { stageId, orgId: req.orgId };
        },
      ),
    );
    if (!replayed) {
      deps.logger.info(
        { orgId: req.orgId, vendor: req.vendor, stageId: result.stageId, traceId: ctx.traceId },
        'tokens staged for a store or a swap',
      );
    }
    return { stageId: result.stageId };
  };
}
