import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BUILTIN_PROVIDERS } from './builtin-catalogue';
import { ZWebhooks, type THmacWebhookSignature, type TWebhookSignature } from './provider.schema';

/**
 * The URL as a provider signs it (HubSpot's rule): the reserved characters it lists are decoded; nothing else is.
 */
export function webhookSignedUrl(url: string): string {
  return url.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (_m, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

/**
 * The text a provider signs: its scheme's `signedContent` with the body, the timestamp and the URL it called (the
 * endpoint's public URL; see `webhookSignedUrl`) filled in.
 */
export function webhookSignedContent(
  scheme: THmacWebhookSignature,
  body: string,
  timestamp: string | null,
  url: string | null = null,
): string {
  // One pass, so a body that itself contains "{timestamp}" is never rewritten.
  return scheme.signedContent.replace(/\{(body|timestamp|url)\}/g, (_m, k: string) =>
    k === 'body' ? body : k === 'url' ? webhookSignedUrl(url ?? '') : (timestamp ?? ''),
  );
}

/** The header of the timestamp a provider signs with the body; undefined when it signs none. */
export function webhookTimestampHeader(scheme: TWebhookSignature): string | undefined {
  return scheme.kind === 'hmac-sha256' ? scheme.timestampHeader : undefined;
}

/** The header value a provider would send for this delivery (what the fake provider and tests sign with). */
export function signWebhook(
  scheme: TWebhookSignature,
  secret: string,
  body: string,
  timestamp: string | null,
  url: string | null = null,
): string {
  if (scheme.kind === 'basic') {
    return `Basic ${Buffer.from(`${scheme.username}:${secret}`, 'utf8').toString('base64')}`;
  }
  const digest = createHmac('sha256', secret)
    .update(webhookSignedContent(scheme, body, timestamp, url), 'utf8')
    .digest(scheme.encoding);
  return `${scheme.prefix}${digest}`;
}

/** The `user:password` an `Authorization: Basic …` value carries; null when it is no basic credential. */
function basicCredentials(presented: string): string | null {
  const m = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(presented.trim());
  return m?.[1] ? Buffer.from(m[1], 'base64').toString('utf8') : null;
}

/**
 * Whether `presented` is this delivery's signature (or, for basic schemes, the endpoint's credentials). Constant
 * time: in the signature's length for HMAC (its length is public), over digests for basic credentials so that the
 * password's length is not told either.
 */
export function webhookSignatureMatches(
  scheme: TWebhookSignature,
  secret: string,
  body: string,
  timestamp: string | null,
  presented: string,
  url: string | null = null,
): boolean {
  if (scheme.kind === 'basic') {
    const given = basicCredentials(presented);
    const digest = (v: string): Buffer => createHash('sha256').update(v, 'utf8').digest();
    return given !== null && timingSafeEqual(digest(given), digest(`${scheme.username}:${secret}`));
  }
  const expected = Buffer.from(signWebhook(scheme, secret, body, timestamp, url), 'utf8');
  const given = Buffer.from(presented.trim(), 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * Whether a signed timestamp is within `toleranceMs` of `now`: Unix seconds (Slack), Unix milliseconds (HubSpot,
 * 13 digits and more) or an ISO date (Zendesk). An unreadable one is not fresh.
 */
export function webhookTimestampFresh(
  timestamp: string,
  now: number,
  toleranceMs: number,
): boolean {
  const t = /^\d{1,12}$/.test(timestamp)
    ? Number(timestamp) * 1000
    : /^\d{13,15}$/.test(timestamp)
      ? Number(timestamp)
      : Date.parse(timestamp);
  return Number.isFinite(t) && Math.abs(now - t) <= toleranceMs;
}

/** The built-in catalogue's signature scheme of a provider: what tests and tools sign deliveries with. */
export function builtinWebhookSignature(vendor: string): TWebhookSignature {
  const webhooks = BUILTIN_PROVIDERS.find((p) => p.key === vendor)?.webhooks;
  if (!webhooks) throw new Error(`${vendor} signs no webhooks in the built-in catalogue`);
  return ZWebhooks.parse(webhooks).signature;
}
