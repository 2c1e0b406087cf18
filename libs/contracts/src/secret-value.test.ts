import { describe, expect, it } from 'vitest';
import { findSecretLike, redactSecretLike, ZSafeDetails } from './common.schema';
import { looksLikeSecretValue } from './secret-value';

/**
 * The value side of "never a secret in details": identifiers providers hand out pass (an audit entry that refuses
 * them fails after the change it records), tokens and keys do not. The samples were made once with node's crypto
 * (base64url/base64/hex of random bytes, random base62/base36): fixed, so no run is flaky.
 */
describe('looksLikeSecretValue', () => {
  it.each([
    // Hosts and slugs: ServiceNow/Zendesk tenants are the instance's host.
    ['ServiceNow host', 'acmecorporation1.service-now.com'],
    ['long ServiceNow host', 'acme-corporation-production-emea1.service-now.com'],
    ['long Zendesk host', 'acmecorporationproductionemea1.zendesk.com'],
    ['slug with hyphens', 'acme-corporation-production-emea1'],
    ['longer slug', 'customer-success-team-north-america-west-coast-2024'],
    ['snake case', 'integration_test_servicenow_instance_01'],
    ['constant', 'REFRESH_TOKEN_EXPIRED_BY_PROVIDER_POLICY'],
    ['CamelCase name with digits', 'AcmeCorporationProductionEMEA1Region'],
    ['pangram without separators', 'thequickbrownfoxjumpsoverthelazydog12'],
    // Ids.
    ['ServiceNow sys_id', '6816f79cc0a8016401c5a33be04be441'],
    ['another sys_id', '9d385017c611228701d22104cc95c371'],
    ['upper-case hex id', '9D385017C611228701D22104CC95C371'],
    ['UUID', 'f58131cb-b67d-43c7-b30d-6b58d40bd077'],
    ['upper-case UUID', 'F58131CB-B67D-43C7-B30D-6B58D40BD077'],
    ['Atlassian account id', '557058:f58131cb-b67d-43c7-b30d-6b58d40bd077'],
    ['Atlassian legacy account id', '5b10ac8d82e05b22cc7d4ef5'],
    ['git commit (SHA-1)', 'fdfa14b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7'],
    ['W3C traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['trace id', 'a'.repeat(32)],
    ['Google sub', '109876543210987654321'],
    ['Slack team id', 'T0123ABCDEF'],
    ['QuickBooks realm id', '4620816365037572'],
    ['Salesforce org id', '00D5g000004ABCDEAA'],
    [
      'Salesforce identity URL',
      'https://login.salesforce.com/id/00D5g000004ABCDEAA/0055g00000ABCDEAAZ',
    ],
    ['an API token prefix as listed', 'otk_Ab3dE9'],
    // URLs, emails, text.
    [
      'URL with a sys_id in its path',
      'https://acmecorporation1.service-now.com/api/now/table/sys_user/6816f79cc0a8016401c5a33be04be441',
    ],
    [
      'URL with a harmless query',
      'https://acme.zendesk.com/api/v2/tickets.json?page=2&per_page=100&sort_by=created_at',
    ],
    [
      'ServiceNow identity URL',
      'https://acme.service-now.com/api/now/table/sys_user?sysparm_query=user_name=javascript:gs.getUserName()&sysparm_limit=1',
    ],
    [
      'Confluence page URL',
      'https://acme.atlassian.net/wiki/spaces/ENGINEERING/pages/123456789/Getting+Started+With+Integrations',
    ],
    ['email', 'first.last+integrations@acme-corporation-production.example.com'],
    ['ISO date', '2026-01-01T00:00:00.000Z'],
    ['IPv6', '2001:db8:85a3::8a2e:370:7334'],
    [
      'a revocation warning',
      'ServiceNow: revoking the refresh token failed (HTTP 503); it stays valid until it expires on its own',
    ],
    ['prose naming a code', 'the provider answered code=PROVIDER_ERROR, tokensRevoked=2'],
    ['prose about a bearer token', 'the bearer token was rejected by the provider'],
    ['a secret-named flag in text', 'refresh_token=null access_token=true credential=0'],
  ])('lets an identifier through: %s', (_what, value) => {
    expect(looksLikeSecretValue(value)).toBe(false);
  });

  it.each([
    // Random tokens of 32+ characters, alone or inside text.
    ['base64url, 32 bytes', 'EQBcFn9DerWbPHB0MQs-Cp2hVvSLhwvAr2smoaTrXyA'],
    ['base64url, 32 bytes (2)', 'XaPAOItKPGRy-BQE3J6GGIGUSASuXwuBIxCt3L7DErA'],
    ['base64, 32 bytes', 'IQf9mQ+o5M5c1P6aQUHWUmhfZpqGhlybL+X6zisilbg='],
    ['base62, 32 chars', 'p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK'],
    ['base62, 36 chars', 'HjBqwS5zrm0v6in5lmZocAtqfAtxAcMDaeSQ'],
    ['base36, 40 chars', 'egohrv8r8oyeg6trvf36m2myq66kua0z035jvr5d'],
    [
      'long hex (a Zendesk OAuth token)',
      'd2c1014939456a75a4435006e4c722fd5ffdd3ef8c85db48fe28836061827ef4',
    ],
    [
      'ServiceNow-style access token',
      'IMkNahj43GQ3Qr-Z1UWu0DeRizU63o7vrhW9HErYXD8WXWYK8a48TSx6tT-4BS-YiBKD0rs9AFwhKZdRTVlA9A',
    ],
    ['a token inside a warning', 'revoke failed for zvi9sy22DLrFUS6yueL9WtMSQ34ZdCmPODJ, retrying'],
    ['a token with a short prefix', 'tok_p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK'],
    // Known prefixes, whatever the length.
    ['this project’s API token', 'otk_XQjHFk4NwAJeyv6xe4u9bxRmd5k444nBjJK4VLGtKwE'],
    ['fake provider access token', 'fpa_EQBcFn9DerWbPHB0MQs-Cp2hVvSLhwvAr2smoaTrXyA'],
    ['fake provider refresh token', 'fpr_XaPAOItKPGRy-BQE3J6GGIGUSASuXwuBIxCt3L7DErA'],
    ['Google access token', 'ya29.a0AfH6SMBx3kQ9-FrqknuEZgRc09w6boyMi0c6u'],
    ['Slack bot token', 'xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'],
    ['Slack user token', 'xoxp-1234567890-1234567890123-1234567890123-abcdef'],
    ['GitHub personal token', 'ghp_FrqknuEZgRc09w6boyMi0c6uHjBqwS5zrm0v'],
    ['GitHub OAuth token', 'gho_FrqknuEZgRc09w6boyMi0c6uHjBqwS5zrm0v'],
    ['GitHub app token', 'ghs_FrqknuEZgRc09w6boyMi0c6uHjBqwS5zrm0v'],
    ['Stripe live key', 'sk_live_FrqknuEZgRc09w6boyMi0c6u'],
    ['Stripe test key', 'sk_test_FrqknuEZgRc09w6b'],
    ['AWS access key id', 'AKIAIOSFODNN7EXAMPLE'],
    ['Google API key', 'AIzaSyD-FrqknuEZgRc09w6boyMi0c6uHjBqwS5'],
    [
      'Salesforce access token',
      '00D5g000004ABCD!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX.LVpxezPwuX5VAIrrbbHMuol7GQ',
    ],
    [
      'JWT',
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    ],
    ['short JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'],
    ['JWT inside text', 'provider said: invalid eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. (expired)'],
    // Credentials written into headers, URLs and key=value text.
    ['Bearer header', 'Authorization: Bearer FrqknuEZgRc09w6b'],
    ['Basic header', 'Basic dXNlcjpwYXNzd29yZDEyMw=='],
    ['password in a URL', 'https://admin:hunter22@acme.service-now.com/api/now/table/incident'],
    ['access token in a query', 'https://acme.service-now.com/api?access_token=abcdef123456'],
    ['OAuth code in a callback URL', 'https://edge.test/oauth/callback?code=4/0AX4XfWh7a&state=x'],
    ['implicit-flow fragment', 'https://dashboard.test/#access_token=FrqknuEZgRc0&expires_in=3600'],
    ['signed URL', 'https://bucket.s3.amazonaws.com/f?X-Amz-Signature=9a8b7c6d5e4f'],
    ['client secret in text', 'token endpoint refused client_secret=s3cr3tV4lu3'],
    ['password in text', 'login with password=hunter2!'],
  ])('catches a secret: %s', (_what, value) => {
    expect(looksLikeSecretValue(value)).toBe(true);
  });

  it('answers in linear time on hostile input', () => {
    const started = performance.now();
    for (const s of [
      'a-'.repeat(200_000),
      'eyJ'.repeat(100_000),
      'k='.repeat(200_000),
      `${'x'.repeat(100_000)}=`,
      'Bearer '.repeat(50_000),
    ]) {
      looksLikeSecretValue(s);
    }
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('ZSafeDetails: what an audit entry records', () => {
  it('accepts a ServiceNow connect and a reconnect with sys_ids', () => {
    expect(
      ZSafeDetails.safeParse({
        level: 'app',
        tenantId: 'acmecorporationproductionemea1.service-now.com',
        previousExternalAccount: '6816f79cc0a8016401c5a33be04be441',
        newExternalAccount: '9d385017c611228701d22104cc95c371',
        subdomain: 'acme-corporation-production-emea1',
        warnings: ['ServiceNow: revoking the access token failed (HTTP 503)'],
      }).success,
    ).toBe(true);
  });

  it('still refuses a secret by key (any string under a secret-sounding key) and by value', () => {
    expect(findSecretLike({ accessToken: 'abc' })).toEqual(['accessToken']);
    expect(findSecretLike({ nested: [{ note: 'p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK' }] })).toEqual([
      'nested',
      0,
      'note',
    ]);
  });
});

describe('redactSecretLike', () => {
  it('replaces each secret-looking value and secret-named key, and says where', () => {
    const { details, redacted } = redactSecretLike({
      tenant: 'acme.service-now.com',
      note: 'Bearer p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK',
      nested: { clientSecret: 'x', list: ['ok', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln'] },
      warnings: ['kept'],
    });
    expect(details).toEqual({
      tenant: 'acme.service-now.com',
      note: '[redacted]',
      nested: { clientSecret: null, list: ['ok', '[redacted]'] },
      warnings: ['kept'],
      redactedDetails: ['note', 'nested.clientSecret', 'nested.list.1'],
    });
    expect(redacted).toEqual(['note', 'nested.clientSecret', 'nested.list.1']);
    expect(ZSafeDetails.safeParse(details).success).toBe(true);
  });

  it('leaves clean details as they are (the same object)', () => {
    const clean = { previousExternalAccount: '6816f79cc0a8016401c5a33be04be441', count: 2 };
    expect(redactSecretLike(clean)).toEqual({ details: clean, redacted: [] });
  });

  it('cuts details nested too deep, and keys that themselves look like secrets', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i += 1) deep = [deep];
    const { details } = redactSecretLike({
      deep,
      p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK: 'Bearer p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK',
    });
    expect(ZSafeDetails.safeParse(details).success).toBe(true);
    expect(JSON.stringify(details)).not.toContain('p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK');
  });
});
