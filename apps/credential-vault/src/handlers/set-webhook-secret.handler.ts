import { AppError } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { withSafeDbErrors } from '../credential-records';
import {
  replaceWebhookSecret,
  sealWebhookSecretRow,
  webhookSignatureScheme,
} from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Sets or replaces an instance's webhook signing secret, envelope-encrypted like a credential. The secret is never
 * logged nor answered. A replaced secret stays accepted for `keepPreviousSeconds` (0: destroyed at once). BAD_REQUEST `unsupported_provider` when the catalogue has no signature scheme for the
 * vendor; `instance_mismatch` when the instance id already holds another org's secret (left untouched).
 * No audit entry from here: the edge, which knows who acted, appends `webhook_secret.set` (a second one from the
 * vault would double it, without the actor). The vault likewise leaves store, swap and destroy to their callers.
 */
export function setWebhookSecretHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger'>,
): THandler<'vault.webhook-secrets.set'> {
  return async (req, ctx) => {
    if (!webhookSignatureScheme(deps.catalogue, req.vendor)) {
      throw new AppError('BAD_REQUEST', `${req.vendor} has no webhook signatures to check`, {
        reason: 'unsupported_provider',
      });
    }
    const now = new Date();
    const row = sealWebhookSecretRow(deps.keys, req, now);
    const written = await withSafeDbErrors(deps.logger, 'setting the webhook secret', () =>
      replaceWebhookSecret(
        deps.orm.em.getConnection().getKnex(),
        row,
        req.keepPreviousSeconds,
        now,
      ),
    );
    if (!written) {
      throw new AppError('BAD_REQUEST', 'this instance belongs to another organisation', {
        reason: 'instance_mismatch',
      });
    }
    deps.logger.info(
      {
        orgId: req.orgId,
        instanceId: req.instanceId,
        vendor: req.vendor,
        keyId: row.key_id,
        previousValidUntil: written.previousValidUntil,
        traceId: ctx.traceId,
      },
      'webhook secret set',
    );
    return {
      configured: true,
      updatedAt: written.updatedAt.toISOString(),
      previous: written.previousValidUntil && {
        validUntil: written.previousValidUntil.toISOString(),
        lastUsedAt: null,
      },
    };
  };
}
