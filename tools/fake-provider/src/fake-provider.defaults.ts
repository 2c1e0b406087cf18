import type { TFakeProviderConfig, TFakeUser } from './fake-provider.types.js';

export const DEFAULT_PORT = 4010;
export const DEFAULT_HOST = '127.0.0.1';

export function defaultUsers(): TFakeUser[] {
  return [
    { id: 'u-alice', email: 'alice@acme.test', name: 'Alice Anders', tenantId: 'acme' },
    { id: 'u-bob', email: 'bob@acme.test', name: 'Bob Brown', tenantId: 'acme' },
    { id: 'u-carol', email: 'carol@globex.test', name: 'Carol Chen', tenantId: 'globex' },
  ];
}

export const DEFAULT_CONSENT_AS = 'u-alice';

export function defaultConfig(): TFakeProviderConfig {
  return {
    accessTokenTtlSec: 3600,
    refreshTokenTtlSec: 90 * 24 * 3600,
    codeTtlSec: 60,
    rotate: true,
    refreshExpiredStyle: 'rfc',
    tokenMode: 'ok',
    tokenDelayMs: 0,
    revokeMode: 'ok',
    revokeDelayMs: 0,
    revokeScope: 'token',
    authorizeMode: 'consent',
    pageDelayMs: 0,
    dataApiMode: 'ok',
    userinfoMode: 'ok',
    dataApiRedirectTo: null,
    dataCounts: { contacts: 50, invoices: 50, tickets: 50 },
    clients: [],
  };
}
