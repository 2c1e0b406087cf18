import type { THandler } from '@otesse/messaging';
import { VAULT_DB_SCHEMA } from '../credential-records';
import { PREVIOUS_WEBHOOK_SECRET_TABLE, WEBHOOK_SECRET_TABLE } from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Whether the org's instance has a secret, and since when; and a replaced one still accepted, with when it was
 * last used. One statement (the dashboard polls it); no sealed column is even selected.
 */
export function describeWebhookSecretHandler(
  deps: Pick<TVaultDeps, 'orm'>,
): THandler<'vault.webhook-secrets.describe'> {
  return async (req) => {
    const knex = deps.orm.em.getConnection().getKnex();
    const row = (await knex(`${VAULT_DB_SCHEMA}.${WEBHOOK_SECRET_TABLE} as c`)
      .leftJoin(`${VAULT_DB_SCHEMA}.${PREVIOUS_WEBHOOK_SECRET_TABLE} as p`, (j) =>
        j
          .on('p.instance_id', 'c.instance_id')
          .andOn('p.org_id', 'c.org_id')
          .andOn('p.expires_at', '>', knex.raw('now()')),
      )
      .where({ 'c.instance_id': req.instanceId, 'c.org_id': req.orgId })
      .first('c.updated_at', 'p.expires_at', 'p.last_used_at')) as
      { updated_at: Date; expires_at: Date | null; last_used_at: Date | null } | undefined;
    if (!row) return { configured: false, updatedAt: null, previous: null };
    const iso = (d: Date) => new Date(d).toISOString();
    return {
      configured: true,
      updatedAt: iso(row.updated_at),
      previous: row.expires_at
        ? {
            validUntil: iso(row.expires_at),
            lastUsedAt: row.last_used_at ? iso(row.last_used_at) : null,
          }
        : null,
    };
  };
}
