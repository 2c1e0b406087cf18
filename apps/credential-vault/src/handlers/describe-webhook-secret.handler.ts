import type { THandler } from '@otesse/messaging';
import { VAULT_DB_SCHEMA } from '../credential-records';
import { WEBHOOK_SECRET_TABLE } from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/** Whether the org's instance has a secret, and since when: the secret columns are not even selected. */
export function describeWebhookSecretHandler(
  deps: Pick<TVaultDeps, 'orm'>,
): THandler<'vault.webhook-secrets.describe'> {
  return async (req) => {
    const row = (await deps.orm.em
      .getConnection()
      .getKnex()(WEBHOOK_SECRET_TABLE)
      .withSchema(VAULT_DB_SCHEMA)
      .where({ instance_id: req.instanceId, org_id: req.orgId })
      .first('updated_at')) as { updated_at: Date } | undefined;
    return row
      ? { configured: true, updatedAt: new Date(row.updated_at).toISOString() }
      : { configured: false, updatedAt: null };
  };
}
