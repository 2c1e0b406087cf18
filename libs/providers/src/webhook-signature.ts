import { createHmac, timingSafeEqual } from 'node:crypto';
import { BUILTIN_PROVIDERS } from './builtin-catalogue';
import { ZWebhooks, type TWebhookSignature } from './provider.schema';

/** The text a provider signs: its scheme's `signedContent` with the body and the timestamp filled in. */
export function webhookSignedContent(
  scheme: TWebhookSignature,
  body: string,
  timestamp: string | null,
): string {
  // One pass, so a body that itself contains "{timestamp}" is never rewritten.
  return scheme.signedContent.replace(/\{(body|timestamp)\}/g, (_m, k: string) =>
    k === 'body' ? body : (timestamp ?? ''),
  );
}

/** The header value a provider would send for this delivery (what the fake provider and tests sign with). */
export function signWebhook(
  scheme: TWebhookSignature,
  secret: string,
  body: string,
  timestamp: string | null,
): string {
  const digest = createHmac('sha256', secret)
    .update(webhookSignedContent(scheme, body, timestamp), 'utf8')
    .digest(scheme.encoding);
  return `${scheme.prefix}${digest}`;
}

/** Whether `presented` is this delivery's signature; constant time in the signature's length. */
export function webhookSignatureMatches(
  scheme: TWebhookSignature,
  secret: string,
  body: string,
  timestamp: string | null,
  presented: string,
): boolean {
  const expected = Buffer.from(signWebhook(scheme, secret, body, timestamp), 'utf8');
  const given = Buffer.from(presented.trim(), 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * Whether a signed timestamp is within `toleranceMs` of `now`: Unix seconds (Slack) or an ISO date (Zendesk).
 * An unreadable one is not fresh.
 */
export function webhookTimestampFresh(
  timestamp: string,
  now: number,
  toleranceMs: number,
): boolean {
  const t = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) * 1000 : Date.parse(timestamp);
  return Number.isFinite(t) && Math.abs(now - t) <= toleranceMs;
}

/** The built-in catalogue's signature scheme of a provider: what tests and tools sign deliveries with. */
export function builtinWebhookSignature(vendor: string): TWebhookSignature {
  const webhooks = BUILTIN_PROVIDERS.find((p) => p.key === vendor)?.webhooks;
  if (!webhooks) throw new Error(`${vendor} signs no webhooks in the built-in catalogue`);
  return ZWebhooks.parse(webhooks).signature;
}
