import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventContracts, ZAuditEvent, ZSafeDetails } from '@otesse/contracts';

/** The audit contract is where secrets are stopped: producers, the stream and the writer all parse it. */
describe('audit event contract: never a secret', () => {
  const base = {
    eventId: randomUUID(),
    orgId: randomUUID(),
    actorUserId: randomUUID(),
    action: 'connection.disconnected',
    provider: 'servicenow',
    outcome: 'success',
    occurredAt: '2026-01-01T00:00:00.000Z',
  };

  it('accepts what a disconnect records: revocation result, counts, warnings', () => {
    const parsed = ZAuditEvent.parse({
      ...base,
      onBehalfOfUserId: randomUUID(),
      targets: { instanceId: randomUUID(), connectionId: randomUUID(), sagaId: randomUUID() },
      details: {
        revocationSucceeded: false,
        syncJobsDisabled: 3,
        credentialsDeleted: 2,
        tokensRevoked: 0,
        warnings: ['revocation endpoint answered 503; the token expires on its own'],
      },
      ip: '2001:db8::1',
      traceId: 'a'.repeat(32),
    });
    expect(parsed.details['credentialsDeleted']).toBe(2);
    expect(parsed.targets.sagaId).toBeDefined();
  });

  it.each([
    [{ accessToken: 'abc' }, ['accessToken']],
    [{ refresh_token: 'abc' }, ['refresh_token']],
    [{ apiKey: 'k' }, ['apiKey']],
    [{ clientSecret: 's' }, ['clientSecret']],
    [{ password: 'hunter2' }, ['password']],
    [{ Authorization: 'Bearer x' }, ['Authorization']],
    [{ headers: { cookie: 'sid=1' } }, ['headers', 'cookie']],
    [{ note: 'otk_' + 'Zk3q9'.repeat(8) }, ['note']],
    [
      { values: ['fine', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ'] },
      ['values', 1],
    ],
    [{ nested: { deeper: { privateKey: { pem: 'x' } } } }, ['nested', 'deeper', 'privateKey']],
  ])('rejects %j (at %j)', (details, path) => {
    const r = ZAuditEvent.safeParse({ ...base, details });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['details', ...path]);
    expect(r.error?.issues[0]?.message).toMatch(/secret/);
  });

  it('lets counts and flags under secret-sounding keys through (they reveal nothing), and ids', () => {
    expect(
      ZSafeDetails.safeParse({
        credentialsDeleted: 2,
        tokenRevoked: true,
        refreshTokenExpired: null,
        connectionId: randomUUID(),
      }).success,
    ).toBe(true);
  });

  it('refuses details nested deeper than 32 levels with an issue, never by throwing (hostile input)', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5_000; i += 1) deep = [deep];
    const r = ZAuditEvent.safeParse({ ...base, details: { x: deep } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('nests deeper than 32 levels');
    let fine: unknown = 'ok';
    for (let i = 0; i < 30; i += 1) fine = { level: fine };
    expect(ZSafeDetails.safeParse({ fine }).success).toBe(true);
  });

  it('is the payload of the audit.entries.append subject on the AUDIT stream', () => {
    expect(eventContracts['audit.entries.append'].payload).toBe(ZAuditEvent);
    expect(eventContracts['audit.entries.append'].stream).toBe('AUDIT');
  });

  it('refuses unknown targets and actions', () => {
    expect(ZAuditEvent.safeParse({ ...base, targets: { token: 'x' } }).success).toBe(false);
    expect(ZAuditEvent.safeParse({ ...base, action: 'connection.exfiltrated' }).success).toBe(
      false,
    );
  });
});
