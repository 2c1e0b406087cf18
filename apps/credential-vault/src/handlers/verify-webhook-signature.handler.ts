import type { THandler } from '@otesse/messaging';
import { webhookSignatureMatches } from '@otesse/providers';
import { cryptoFailure } from '../credential-records';
import {
  findPreviousWebhookSecret,
  findWebhookSecret,
  markPreviousWebhookSecretUsed,
  openWebhookSecretRow,
  webhookSignatureScheme,
  type TWebhookSecretRow,
} from '../webhook-secret-rows';
import type { TVaultDeps } from './deps';

/**
 * Checks a delivery's signature with the instance's secret, which never leaves the vault. Outcomes, in order:
 * `no_secret` (none for this org's instance), `unsupported` (the vendor signs nothing we check), `mismatch` (the
 * secret is another provider's, or the signature is wrong), `valid`. A replaced secret still within its grace is
 * tried when the current one does not match (`secret: 'previous'`, and its last use is recorded, so the admin sees
 * whether the provider has switched). A secret that cannot be decrypted is a typed INTERNAL error, never a verdict.
 */
export function verifyWebhookSignatureHandler(
  deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger'>,
): THandler<'vault.webhook-signatures.verify'> {
  return async (req, ctx) => {
    const db = deps.orm.em.getConnection().getKnex();
    const row = await findWebhookSecret(db, req);
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
    // The edge checked the bytes are UTF-8: decoding gives back exactly the text the provider signed.
    const body = Buffer.from(req.bodyBase64, 'base64').toString('utf8');
    const matches = (r: TWebhookSecretRow): boolean => {
      let secret: string;
      try {
        secret = openWebhookSecretRow(deps.keys, r);
      } catch (e) {
        throw cryptoFailure(e);
      }
      return webhookSignatureMatches(scheme, secret, body, req.timestamp, req.signature, req.url);
    };
    if (matches(row)) return { outcome: 'valid', secret: 'current' };
    const previous = await findPreviousWebhookSecret(db, req);
    if (!previous || previous.vendor !== req.vendor || !matches(previous)) {
      return { outcome: 'mismatch' };
    }
    await markPreviousWebhookSecretUsed(db, previous);
    return { outcome: 'valid', secret: 'previous' };
  };
}
