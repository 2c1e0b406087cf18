import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalogue, publicProviderView } from './catalogue';

describe('OAuth client credentials from the environment', () => {
  it('puts a provider’s pair on its OAuth settings', () => {
    const catalogue = loadCatalogue({
      env: { OAUTH_SERVICENOW_CLIENT_ID: 'sn-id', OAUTH_SERVICENOW_CLIENT_SECRET: 'sn-secret' },
    });
    expect(catalogue.get('servicenow').oauth).toMatchObject({
      clientId: 'sn-id',
      clientSecret: 'sn-secret',
    });
  });

  it('treats a blank value as unset: the file’s client stays', () => {
    const before = loadCatalogue({ env: {} }).get('google').oauth?.clientId;
    const catalogue = loadCatalogue({
      env: { OAUTH_GOOGLE_CLIENT_ID: '  ', OAUTH_GOOGLE_CLIENT_SECRET: ' ' },
    });
    expect(catalogue.get('google').oauth?.clientId).toBe(before);
  });

  it('refuses at start a variable naming no OAuth provider and a half-set pair (empty counts as unset)', () => {
    expect(() => loadCatalogue({ env: { OAUTH_SERVICENOWW_CLIENT_ID: 'x' } })).toThrow(
      /OAUTH_SERVICENOWW_CLIENT_ID names no OAuth provider/,
    );
    expect(() => loadCatalogue({ env: { OAUTH_SERVICENOW_CLIENTID: 'x' } })).toThrow(
      /OAUTH_SERVICENOW_CLIENTID names no OAuth provider/,
    );
    // Postmark connects with an API key: an OAuth client for it would be silently ignored.
    expect(() =>
      loadCatalogue({ env: { OAUTH_POSTMARK_CLIENT_ID: 'x', OAUTH_POSTMARK_CLIENT_SECRET: 'y' } }),
    ).toThrow(/OAUTH_POSTMARK_CLIENT_ID names no OAuth provider/);
    expect(() =>
      loadCatalogue({
        env: { OAUTH_GOOGLE_CLIENT_ID: ' ', OAUTH_GOOGLE_CLIENT_SECRET: 'secret' },
      }),
    ).toThrow(/OAUTH_GOOGLE_CLIENT_SECRET is set without OAUTH_GOOGLE_CLIENT_ID/);
    expect(() => loadCatalogue({ env: { OAUTH_GOOGLE_CLIENT_ID: 'id' } })).toThrow(
      /OAUTH_GOOGLE_CLIENT_ID is set without OAUTH_GOOGLE_CLIENT_SECRET/,
    );
  });

  it('leaves the edge’s own OAUTH_SESSION_SECRET alone, and never echoes a value', () => {
    expect(() => loadCatalogue({ env: { OAUTH_SESSION_SECRET: 'x'.repeat(40) } })).not.toThrow();
    let message = '';
    try {
      loadCatalogue({ env: { OAUTH_GOOGLE_CLIENT_SECRET: 'do-not-print-me' } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/OAUTH_GOOGLE_CLIENT_SECRET is set without OAUTH_GOOGLE_CLIENT_ID/);
    expect(message).not.toContain('do-not-print-me');
  });
});

describe('revocation scope', () => {
  it("Google's revocation ends the whole grant (FIELD-NOTES); the others revoke the token given", () => {
    const catalogue = loadCatalogue({ env: {} });
    const grantWide = catalogue
      .list()
      .filter((p) => p.oauth?.revocationScope === 'grant')
      .map((p) => p.key);
    expect(grantWide).toEqual(['google']);
    expect(catalogue.get('salesforce').oauth?.revocationScope).toBe('token');
  });
});

describe('change-of-user parameters', () => {
  const withFile = (providers: Record<string, unknown>[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'providers-'));
    const file = join(dir, 'providers.json');
    writeFileSync(file, JSON.stringify({ providers }));
    return loadCatalogue({ providersFile: file, env: {} });
  };

  it('asks for an account chooser only where the provider documents one; the dashboard is told which', () => {
    const catalogue = loadCatalogue({ env: {} });
    const asking = catalogue
      .list()
      .filter((p) => publicProviderView(p).changeUserAsksAccount)
      .map((p) => [p.key, p.oauth?.changeUserParams]);
    expect(asking).toEqual([
      ['google', { prompt: 'select_account consent' }],
      ['salesforce', { prompt: 'login consent' }],
    ]);
    expect(catalogue.get('confluence').oauth?.changeUserParams).toEqual({});
  });

  it('PROVIDERS_FILE sets them key by key, like customParams; a provider without reconnect never asks', () => {
    const catalogue = withFile([
      { key: 'google', oauth: { changeUserParams: { hd: 'acme.test' } } },
      { key: 'zendesk', oauth: { changeUserParams: { prompt: 'login' } } },
      { key: 'xero', oauth: { changeUserParams: { prompt: 'select_account' } } },
    ]);
    expect(catalogue.get('google').oauth?.changeUserParams).toEqual({
      prompt: 'select_account consent',
      hd: 'acme.test',
    });
    expect(publicProviderView(catalogue.get('zendesk')).changeUserAsksAccount).toBe(true);
    // Xero offers no change of user at all (supportsReconnect: false).
    expect(publicProviderView(catalogue.get('xero')).changeUserAsksAccount).toBe(false);
  });

  it('refuses a value that is not a string', () => {
    expect(() => withFile([{ key: 'google', oauth: { changeUserParams: { prompt: 1 } } }])).toThrow(
      /provider google is invalid/,
    );
  });
});

describe('revokesWholeGrant', () => {
  it('is true only for a provider whose revocation ends the whole grant (Google), false for an unknown one', () => {
    const catalogue = loadCatalogue({ env: {} });
    expect(catalogue.revokesWholeGrant('google')).toBe(true);
    expect(catalogue.revokesWholeGrant('salesforce')).toBe(false);
    expect(catalogue.revokesWholeGrant('postmark')).toBe(false);
    expect(catalogue.revokesWholeGrant('no-such-provider')).toBe(false);
  });
});
