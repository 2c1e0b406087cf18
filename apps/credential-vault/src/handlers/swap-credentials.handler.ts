import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import {
  lockConnection,
  runVaultCommandOnce,
  sealCredentialRows,
  VAULT_DB_SCHEMA,
  withSafeDbErrors,
} from '../credential-records';
import { claimStagedTokens, destroyStagedCopy } from '../staged-tokens';
import type { TVaultDeps } from './deps';

/**
 * Reconnect / change-user (seed 003): the connection's current credentials are retired and the new ones become
 * active, in one transaction under the connection's advisory lock (the one refresh, store, destroy and revoke
 * take), so no caller ever sees both sets active or neither, and a refresh running meanwhile finishes before
 * (its result is then retired) or after (it uses the new tokens).
 *
 * "Current" is every credential that is neither destroyed nor already retired, active or not: a refresh token
 * the provider declared dead is part of the old authorization too. Retired credentials keep their ciphertext
 * (the saga revokes them by id, then destroys them by id); retiredAt marks them so that nothing ever hands them
 * out or refreshes with them again. Once per idempotency key: a replay answers the first ids and does nothing.
 *
 * The new tokens are those `vault.tokens.stage` holds under `stageId` (a swap never carries them itself): opened
 * under the connection's lock, sealed again for the connection (a value is bound to its row), and the staged copy
 * destroyed, all in the swap's transaction. Staged tokens already discarded or past their hold: the key is recorded
 * as abandoned (`swap_not_applied`), as for a swap given up. Without `stageId` the swap is settled: nothing applied.
 */
export function swapCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'logger'>,
): THandler<'vault.credentials.swap'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const command = {
      key: req.idempotencyKey,
      subject: 'vault.credentials.swap',
      orgId: req.orgId,
      connectionId: req.connectionId,
    };
    const { stageId } = req;
    if (stageId === undefined) {
      // Applies nothing: either the swap made under this key, or the key claimed as abandoned so none ever is.
      const { result, replayed } = await withSafeDbErrors(deps.logger, 'settling a swap', () =>
        runVaultCommandOnce<TSwapOutcome>(knex, command, () =>
          Promise.resolve({ abandoned: true, orgId: req.orgId, connectionId: req.connectionId }),
        ),
      );
      if (!replayed) {
        deps.logger.warn(
          { orgId: req.orgId, connectionId: req.connectionId, traceId: ctx.traceId },
          'swap given up by its saga before it reached the vault: none will be made under its key',
        );
      }
      return swapReply(result);
    }
    const { result, replayed } = await withSafeDbErrors(deps.logger, 'swapping credentials', () =>
      runVaultCommandOnce<TSwapOutcome>(knex, command, async (trx) => {
        await lockConnection(trx, req.connectionId);
        const staged = await claimStagedTokens(trx, deps.keys, {
          orgId: req.orgId,
          stageId,
          vendor: req.vendor,
        });
        if (!staged) return { abandoned: true, orgId: req.orgId, connectionId: req.connectionId };
        const rows = sealCredentialRows(
          deps.keys,
          { ...req, credentials: staged.credentials },
          knex,
        );
        const current = (await trx('credential')
          .withSchema(VAULT_DB_SCHEMA)
          .where({ org_id: req.orgId, connection_id: req.connectionId, is_deleted: false })
          .whereNull('retired_at')
          // The order `vault.credentials.describe` lists them in.
          .orderBy([
            { column: 'created_at', order: 'asc' },
            { column: 'kind', order: 'asc' },
            { column: 'id', order: 'asc' },
          ])
          .select('id', 'vendor')) as { id: string; vendor: string }[];
        if (current.some((c) => c.vendor !== req.vendor)) {
          throw new AppError(
            'BAD_REQUEST',
            `the connection's credentials are not ${req.vendor}'s`,
            { reason: 'vendor_mismatch' },
          );
        }
        const now = new Date();
        const retiredCredentialIds = current.map((c) => c.id);
        if (retiredCredentialIds.length > 0) {
          await trx('credential')
            .withSchema(VAULT_DB_SCHEMA)
            .whereIn('id', retiredCredentialIds)
            .update({ is_active: false, retired_at: now, updated_at: now });
        }
        await trx('credential').withSchema(VAULT_DB_SCHEMA).insert(rows);
        await destroyStagedCopy(trx, staged.ids, now);
        return {
          credentialIds: rows.map((r) => r.id),
          retiredCredentialIds,
          orgId: req.orgId,
          connectionId: req.connectionId,
        };
      }),
    );
    if (!replayed && !('abandoned' in result)) {
      deps.logger.info(
        {
          orgId: req.orgId,
          connectionId: req.connectionId,
          vendor: req.vendor,
          credentialIds: result.credentialIds,
          retiredCredentialIds: result.retiredCredentialIds,
          traceId: ctx.traceId,
        },
        'credentials swapped',
      );
    }
    return swapReply(result);
  };
}

/** What the processed-command record of a swap holds: the swap's ids, or that its saga gave it up. */
type TSwapOutcome = { orgId: string; connectionId: string } & (
  { credentialIds: string[]; retiredCredentialIds: string[] } | { abandoned: true }
);

function swapReply(result: TSwapOutcome): {
  credentialIds: string[];
  retiredCredentialIds: string[];
} {
  if ('abandoned' in result) {
    throw new AppError(
      'PRECONDITION_FAILED',
      'no swap was made under this key, and none will be: its saga gave it up',
      { reason: 'swap_not_applied' },
    );
  }
  return { credentialIds: result.credentialIds, retiredCredentialIds: result.retiredCredentialIds };
}
