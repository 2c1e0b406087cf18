import type { THandler } from '@otesse/messaging';
import { webhookSignatureMatches } from '@otesse/providers';
import { cryptoFailure } from '../credential-records';
import {
  findWebhookSecret,
  openWebhookSecretRow,
  webhookSignatureScheme,
} from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Checks a delivery's signature with the instance's secret, which never leaves the vault. Outcomes, in order:
 * `no_secret` (none for this org's instance), `unsupported` (the vendor signs nothing we check), `mismatch` (the
 * secret is another provider's, or the signature is wrong), `valid`. A secret that cannot be decrypted is a typed
 * INTERNAL error, never a verdict.
 */
export function verifyWebhookSignatureHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger'>,
): THandler<'vault.webhook-signatures.verify'> {
  return async (req, ctx) => {
    const row = await findWebhookSecret(deps.orm.em.getConnection().getKnex(), req);
    if (!row) return { outcome: 'no_secret' };
    const scheme = webhookSignatureScheme(deps.catalogue, req.vendor);
    if (!scheme) return { outcome: 'unsupported' };
    if (row.vendor !== req.vendor) {
      // Misrouted or misconfigured: the admin set this instance's secret for another provider.
      deps.logger.warn(
        {
          orgId: req.orgId,
          instanceId: req.instanceId,
          vendor: req.vendor,
          secretVendor: row.vendor,
          traceId: ctx.traceId,
        },
        "the instance's webhook secret is another provider's",
      );
      return { outcome: 'mismatch' };
    }
    let secret: string;
    try {
      secret = openWebhookSecretRow(deps.keys, row);
    } catch (e) {
      throw cryptoFailure(e);
    }
    // The edge checked the bytes are UTF-8: decoding gives back exactly the text the provider signed.
    const body = Buffer.from(req.bodyBase64, 'base64').toString('utf8');
    const valid = webhookSignatureMatches(scheme, secret, body, req.timestamp, req.signature);
    return { outcome: valid ? 'valid' : 'mismatch' };
  };
}
