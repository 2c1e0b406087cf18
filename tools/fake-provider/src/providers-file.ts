import { writeFileSync } from 'node:fs';

/**
 * PROVIDERS_FILE content that points every OAuth provider of the catalogue at the fake provider: dev, demo and
 * tests use the real code paths (grant, identity, revocation, refresh) against a real HTTP server on loopback.
 */
export function fakeProvidersFile(fakeUrl: string): { providers: Record<string, unknown>[] } {
  const base = fakeUrl.replace(/\/$/, '');
  const common = (key: string, root: string) => ({
    authorizeUrl: `${root}/oauth/authorize`,
    tokenUrl: `${root}/oauth/token`,
    clientId: `otesse-dev-${key}`,
    clientSecret: `dev-secret-${key}`,
    revocation: {
      kind: 'rfc7009',
      url: `${root}/oauth/revoke`,
      clientAuth: 'basic',
      sendHint: true,
    },
    identity: {
      kind: 'userinfo',
      url: `${root}/oauth/userinfo`,
      accountIdPath: 'sub',
      tenantIdPath: 'tenant_id',
      labelPath: 'email',
    },
  });
  const simple = ['google', 'slack', 'salesforce', 'hubspot', 'quickbooks', 'xero'].map((key) => ({
    key,
    oauth: common(key, base),
    dataApi: { baseUrl: base },
  }));
  return {
    providers: [
      {
        key: 'servicenow',
        oauth: {
          ...common('servicenow', `${base}/i/[subdomain]`),
          // ServiceNow's own revocation call shape, served by the fake provider's RFC 7009 endpoint.
          revocation: { kind: 'servicenow', url: `${base}/i/[subdomain]/oauth/revoke` },
        },
        dataApi: { baseUrl: `${base}/i/[subdomain]` },
      },
      {
        key: 'confluence',
        oauth: {
          ...common('confluence', base),
          // Atlassian has no revocation endpoint: kept as in production.
          revocation: {
            kind: 'none',
            reason:
              'Atlassian 3LO has no revocation endpoint; the user revokes in "Connected apps"',
          },
          identity: {
            kind: 'atlassian',
            profileUrl: `${base}/oauth/userinfo`,
            resourcesUrl: `${base}/oauth/accessible-resources`,
            accountIdPath: 'sub',
            labelPath: 'email',
          },
        },
        dataApi: { baseUrl: base },
      },
      {
        key: 'zendesk',
        oauth: {
          ...common('zendesk', `${base}/i/[subdomain]`),
          revocation: {
            kind: 'rfc7009',
            url: `${base}/i/[subdomain]/oauth/revoke`,
            clientAuth: 'basic',
            sendHint: true,
          },
        },
        dataApi: { baseUrl: `${base}/i/[subdomain]` },
      },
      ...simple,
    ],
  };
}

export function writeFakeProvidersFile(fakeUrl: string, path: string): string {
  writeFileSync(path, `${JSON.stringify(fakeProvidersFile(fakeUrl), null, 2)}\n`);
  return path;
}
