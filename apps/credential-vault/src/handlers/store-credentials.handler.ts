import { randomUUID } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import {
  lockConnection,
  runVaultCommandOnce,
  sealCredentialRows,
  VAULT_DB_SCHEMA,
  withSafeDbErrors,
} from '../credential-records';
import { discardsOf, type TokenDiscarder } from '../discard/token-discarder';
import { claimStagedTokens, destroyStagedCopy, type TClaimedStage } from '../staged-tokens';
import type { TVaultDeps } from './deps';

/** What a store did, kept with its idempotency key so a replay finishes the same discard. */
interface TStored {
  credentialIds: string[];
  orgId: string;
  connectionId: string;
  /** The credentials `replace` took over, to revoke and destroy (their discard id: one per provider). */
  replaced?: { id: string; vendor: string; discard_id: string }[];
}

/**
 * Encrypts (outside the transaction: CPU only) and inserts. `replace`, in the same transaction, takes the
 * connection's current credentials out of use (retired: never handed out nor refreshed with again) and over to the
 * discarder, which revokes them at the provider and destroys them before the answer — a replaced token is still a
 * live authorization at the provider (only destroyed where revoking would end the whole grant: Google). What fails there is left to the discard sweep (the new credentials are stored
 * either way). Credentials a reconnect's swap retired stay its saga's to revoke.
 * CONFLICT `connection_closed` for a connection whose connect was abandoned (`integrations.connection.abandoned`).
 * With `stageId`: the staged tokens are opened and sealed again for the connection (a value is bound to its row)
 * inside the transaction, and their staged copy destroyed in it: moved, never held twice nor lost in between.
 */
export function storeCredentialsHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'logger' | 'catalogue'>,
  discarder: Pick<TokenDiscarder, 'finishOrLeave'>,
): THandler<'vault.credentials.store'> {
  return async (req, ctx) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const given = req.credentials;
    const sealed = given && sealCredentialRows(deps.keys, { ...req, credentials: given }, knex);
    const write = async (trx: Knex.Transaction): Promise<TStored> => {
      await lockConnection(trx, req.connectionId);
      const closed = await trx('closed_connection')
        .withSchema(VAULT_DB_SCHEMA)
        .where({ connection_id: req.connectionId })
        .first('reason');
      if (closed) {
        // Its connect was abandoned (and what it held destroyed): nothing may be stored for it any more.
        throw new AppError('CONFLICT', 'this connection was abandoned: connect again', {
          reason: 'connection_closed',
        });
      }
      let rows = sealed;
      let staged: TClaimedStage | undefined;
      if (!rows) {
        staged = await claimStagedTokens(trx, deps.keys, {
          orgId: req.orgId,
          stageId: req.stageId!,
          vendor: req.vendor,
        });
        if (!staged) {
          throw new AppError(
            'PRECONDITION_FAILED',
            'the staged tokens are gone: claimed, discarded or past their hold',
            { reason: 'stage_gone' },
          );
        }
        rows = sealCredentialRows(deps.keys, { ...req, credentials: staged.credentials }, knex);
      }
      // One discard per provider (a revocation goes to one): its id derived from a fresh seed and the vendor.
      const seed = randomUUID();
      const replaced: { id: string; vendor: string; discard_id: string }[] = req.replace
        ? await trx('credential')
            .withSchema(VAULT_DB_SCHEMA)
            .where({
              org_id: req.orgId,
              connection_id: req.connectionId,
              is_deleted: false,
              retired_at: null,
              discard_requested_at: null,
            })
            .update({
              is_active: false,
              // Dated by the database: the sweep that may finish the discard judges its age by the same clock.
              retired_at: trx.fn.now(),
              discard_requested_at: trx.fn.now(),
              discard_id: trx.raw('md5(? || vendor)::uuid', [seed]),
              updated_at: trx.fn.now(),
            })
            .returning(['id', 'vendor', 'discard_id'])
        : [];
      await trx('credential').withSchema(VAULT_DB_SCHEMA).insert(rows);
      if (staged) await destroyStagedCopy(trx, staged.ids, new Date());
      return {
        credentialIds: rows.map((r) => r.id),
        orgId: req.orgId,
        connectionId: req.connectionId,
        ...(replaced.length > 0 ? { replaced } : {}),
      };
    };
    const idempotencyKey = req.idempotencyKey;
    const stored = await withSafeDbErrors(deps.logger, 'storing credentials', async () =>
      idempotencyKey === undefined
        ? knex.transaction(write)
        : (
            await runVaultCommandOnce(
              knex,
              {
                key: idempotencyKey,
                subject: 'vault.credentials.store',
                orgId: req.orgId,
                connectionId: req.connectionId,
              },
              write,
            )
          ).result,
    );
    if (stored.replaced) {
      // Where the provider's revocation ends the user's whole grant (Google), the old tokens are only destroyed:
      // revoking them would end the new ones too when they are of the same account, and any other live connection
      // of it. The discard sweep applies the same rule to a replace it finishes.
      const discards = discardsOf(stored.replaced, {
        connectionId: req.connectionId,
        orgId: req.orgId,
      }).map((d) => (deps.catalogue.revokesWholeGrant(d.vendor) ? { ...d, revoke: false } : d));
      await Promise.all(discards.map((d) => discarder.finishOrLeave(d, ctx)));
    }
    return { credentialIds: stored.credentialIds };
  };
}
