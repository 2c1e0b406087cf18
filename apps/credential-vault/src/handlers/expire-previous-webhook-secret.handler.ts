import type { THandler } from '@otesse/messaging';
import { withSafeDbErrors } from '../credential-records';
import { expirePreviousWebhookSecret } from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Stops accepting the org's instance's replaced webhook secret and destroys it (the provider signs with the new
 * one now, or the old one leaked). Answers whether one was still accepted; another org's instance has none.
 */
export function expirePreviousWebhookSecretHandler(
  deps: Pick<TVaultDeps, 'orm' | 'logger'>,
): THandler<'vault.webhook-secrets.expire-previous'> {
  return async (req, ctx) => {
    const expired = await withSafeDbErrors(
      deps.logger,
      'expiring the previous webhook secret',
      () => expirePreviousWebhookSecret(deps.orm.em.getConnection().getKnex(), req),
    );
    if (expired) {
      deps.logger.info(
        { orgId: req.orgId, instanceId: req.instanceId, traceId: ctx.traceId },
        'previous webhook secret expired',
      );
    }
    return { expired };
  };
}
