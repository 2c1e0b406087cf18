import type { THandler } from '@otesse/messaging';
import { withSafeDbErrors } from '../credential-records';
import { removeWebhookSecret } from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Removes the org's instance's webhook secret (and a replaced one in its grace): deliveries are refused from now
 * on, until an admin sets a new one. The rows are deleted: nothing of either secret is left.
 */
export function removeWebhookSecretHandler(
  deps: Pick<TVaultDeps, 'orm' | 'logger'>,
): THandler<'vault.webhook-secrets.remove'> {
  return async (req, ctx) => {
    const removed = await withSafeDbErrors(deps.logger, 'removing the webhook secret', () =>
      removeWebhookSecret(deps.orm.em.getConnection().getKnex(), req),
    );
    if (removed) {
      deps.logger.info(
        { orgId: req.orgId, instanceId: req.instanceId, traceId: ctx.traceId },
        'webhook secret removed',
      );
    }
    return { removed };
  };
}
