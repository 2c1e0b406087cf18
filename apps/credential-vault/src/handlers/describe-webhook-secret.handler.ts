import type { THandler } from '@otesse/messaging';
import { VAULT_DB_SCHEMA } from '../credential-records';
import { findPreviousWebhookSecret, WEBHOOK_SECRET_TABLE } from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Whether the org's instance has a secret, and since when; and a replaced one still accepted, with when it was
 * last used. Nothing of the secrets is answered (the current row's sealed columns are not even selected).
 */
export function describeWebhookSecretHandler(
  deps: Pick<TVaultDeps, 'orm'>,
): THandler<'vault.webhook-secrets.describe'> {
  return async (req) => {
    const db = deps.orm.em.getConnection().getKnex();
    const row = (await db(WEBHOOK_SECRET_TABLE)
      .withSchema(VAULT_DB_SCHEMA)
      .where({ instance_id: req.instanceId, org_id: req.orgId })
      .first('updated_at')) as { updated_at: Date } | undefined;
    if (!row) return { configured: false, updatedAt: null, previous: null };
    const previous = await findPreviousWebhookSecret(db, req, new Date());
    return {
      configured: true,
      updatedAt: new Date(row.updated_at).toISOString(),
      previous: previous
        ? {
            validUntil: new Date(previous.expires_at).toISOString(),
            lastUsedAt: previous.last_used_at
              ? new Date(previous.last_used_at).toISOString()
              : null,
          }
        : null,
    };
  };
}
