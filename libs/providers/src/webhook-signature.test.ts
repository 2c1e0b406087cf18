import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  builtinWebhookSignature,
  signWebhook,
  webhookSignatureMatches,
  webhookSignedContent,
  webhookTimestampFresh,
} from './webhook-signature';
import { ZWebhookSignature } from './provider.schema';

const schemeOf = builtinWebhookSignature;

describe('webhook signatures', () => {
  it("reproduces Slack's documented example (v0, hex, timestamp in the signed text)", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(
      signWebhook(schemeOf('slack'), '8f742231b10e8888abcd99yyyzzz85a5', body, '1531420618'),
    ).toBe('v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503');
  });

  it('signs the body alone (QuickBooks, base64) and matches only the same body and secret', () => {
    const scheme = schemeOf('quickbooks');
    const sig = signWebhook(scheme, 'verifier-token-123456', '{"a":1}', null);
    expect(sig).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(webhookSignatureMatches(scheme, 'verifier-token-123456', '{"a":1}', null, sig)).toBe(
      true,
    );
    expect(webhookSignatureMatches(scheme, 'verifier-token-123456', '{"a":2}', null, sig)).toBe(
      false,
    );
    expect(webhookSignatureMatches(scheme, 'another-token-1234567', '{"a":1}', null, sig)).toBe(
      false,
    );
    expect(webhookSignatureMatches(scheme, 'verifier-token-123456', '{"a":1}', null, '')).toBe(
      false,
    );
  });

  it('puts the timestamp first for Zendesk, and never rewrites placeholders inside the body', () => {
    const scheme = schemeOf('zendesk');
    if (scheme.kind !== 'hmac-sha256') throw new Error('Zendesk signs with HMAC');
    expect(webhookSignedContent(scheme, 'x{timestamp}y', '2021-03-25T05:09:27Z')).toBe(
      '2021-03-25T05:09:27Zx{timestamp}y',
    );
  });

  it("checks Postmark's basic credentials: the user name and the password, nothing else", () => {
    const scheme = schemeOf('postmark');
    const secret = 'a-long-made-up-password-42';
    const presented = signWebhook(scheme, secret, '{"RecordType":"Bounce"}', null);
    expect(presented).toBe(`Basic ${Buffer.from(`otesse:${secret}`).toString('base64')}`);
    // The body is not signed: any body with the right credentials passes.
    expect(webhookSignatureMatches(scheme, secret, 'anything', null, presented)).toBe(true);
    expect(
      webhookSignatureMatches(scheme, secret, '', null, presented.replace('Basic', 'basic')),
    ).toBe(true);
    const basic = (v: string): string => `Basic ${Buffer.from(v).toString('base64')}`;
    expect(webhookSignatureMatches(scheme, secret, '', null, basic(`admin:${secret}`))).toBe(false);
    expect(webhookSignatureMatches(scheme, secret, '', null, basic(`otesse:${secret}x`))).toBe(
      false,
    );
    expect(webhookSignatureMatches(scheme, secret, '', null, `Bearer ${secret}`)).toBe(false);
    expect(webhookSignatureMatches(scheme, secret, '', null, 'Basic')).toBe(false);
    // ServiceNow's outbound REST messages carry the same kind of credentials.
    expect(schemeOf('servicenow')).toEqual(scheme);
  });

  it('reads catalogue files written before schemes had a kind as HMAC schemes', () => {
    expect(ZWebhookSignature.parse({ header: 'x-sig', encoding: 'hex' })).toEqual({
      kind: 'hmac-sha256',
      header: 'x-sig',
      encoding: 'hex',
      prefix: '',
      signedContent: '{body}',
    });
    expect(ZWebhookSignature.safeParse({ kind: 'basic', username: 'has space' }).success).toBe(
      false,
    );
  });

  it("signs HubSpot's v3 content: POST, the URL it called (reserved characters decoded), the body, the timestamp", () => {
    const scheme = schemeOf('hubspot');
    if (scheme.kind !== 'hmac-sha256') throw new Error('HubSpot signs with HMAC');
    const url = 'https://integrations.acme.test/webhooks/hubspot/i-1?from=a%3Ab%2Fc%20d';
    const body = '[{"eventId":1,"subscriptionType":"contact.creation"}]';
    const content = webhookSignedContent(scheme, body, '1700000000000', url);
    expect(content).toBe(
      `POSThttps://integrations.acme.test/webhooks/hubspot/i-1?from=a:b/c%20d${body}1700000000000`,
    );
    const expected = createHmac('sha256', 'client-secret-0123456789')
      .update(content, 'utf8')
      .digest('base64');
    expect(signWebhook(scheme, 'client-secret-0123456789', body, '1700000000000', url)).toBe(
      expected,
    );
    expect(
      webhookSignatureMatches(
        scheme,
        'client-secret-0123456789',
        body,
        '1700000000000',
        expected,
        url,
      ),
    ).toBe(true);
    // Another URL (another endpoint, or the provider told another address) does not match.
    expect(
      webhookSignatureMatches(
        scheme,
        'client-secret-0123456789',
        body,
        '1700000000000',
        expected,
        url.replace('i-1', 'i-2'),
      ),
    ).toBe(false);
  });

  it('takes a timestamp in Unix seconds, Unix milliseconds or ISO form within the tolerance only', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    expect(webhookTimestampFresh(String(now - 60_000), now, 300_000)).toBe(true);
    expect(webhookTimestampFresh(String(now - 600_000), now, 300_000)).toBe(false);
    expect(webhookTimestampFresh(String(now / 1000 - 60), now, 300_000)).toBe(true);
    expect(webhookTimestampFresh(String(now / 1000 - 600), now, 300_000)).toBe(false);
    expect(webhookTimestampFresh('2026-11-22T11:58:00Z', now, 300_000)).toBe(true);
    expect(webhookTimestampFresh('2026-11-22T12:10:00Z', now, 300_000)).toBe(false);
    expect(webhookTimestampFresh('yesterday', now, 300_000)).toBe(false);
  });
});
