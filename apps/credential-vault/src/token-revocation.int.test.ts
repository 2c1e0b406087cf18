import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TRequestInput } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import type { TFakeProvider } from '@otesse/fake-provider';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import { startVaultTestBed, type TVaultTestBed } from './test/vault-test-bed';

/** Issue 5 step 3 (seed "Revoke OAuth Tokens"): `vault.tokens.revoke` against the fake provider over HTTP. */
describe('token revocation in the vault (fake provider over HTTP)', () => {
  let bed: TVaultTestBed;
  let db: TTestDatabase;
  let fake: TFakeProvider;
  let bus: Bus;
  const issued: string[] = [];

  beforeAll(async () => {
    bed = await startVaultTestBed('revoke');
    ({ db, fake, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });
  beforeEach(() => {
    fake.state.reset();
  });

  /** Tokens the fake provider issued, stored in the vault for a new connection. */
  const stored = async (vendor: 'google' | 'servicenow' | 'confluence') => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    const { access, refresh } = fake.state.issueTokens({
      clientId: `otesse-dev-${vendor}`,
      user: fake.state.findUser('u-alice')!,
      instance: vendor === 'servicenow' ? 'acme' : undefined,
      scope: '',
      familyId: randomUUID(),
    });
    issued.push(access.token, refresh.token);
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId,
      vendor,
      credentials: [
        {
          kind: 'access_token',
          value: access.token,
          expiresAt: new Date(access.expiresAt).toISOString(),
        },
        { kind: 'refresh_token', value: refresh.token },
      ],
    });
    return { orgId, connectionId, vendor, access: access.token, refresh: refresh.token };
  };
  const revoke = (
    c: { orgId: string; connectionId: string; vendor: string },
    over: Partial<TRequestInput<'vault.tokens.revoke'>> = {},
  ) =>
    bus.request('vault.tokens.revoke', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      vendor: c.vendor,
      idempotencyKey: `saga-${randomUUID()}:revoke`,
      ...over,
    });

  it('revokes the refresh token and the access token separately, each with its token_type_hint', async () => {
    const c = await stored('google');
    const idempotencyKey = `saga-${randomUUID()}:revoke`;
    const report = await revoke(c, { idempotencyKey });
    expect(report).toEqual({
      supported: true,
      succeeded: true,
      results: [
        { kind: 'refresh_token', outcome: 'revoked', httpStatus: 200 },
        { kind: 'access_token', outcome: 'revoked', httpStatus: 200 },
      ],
      warnings: [],
    });
    // Two calls at the provider, one per token, each naming its kind.
    const calls = fake.state.revocations.map((r) => ({
      token: r.token,
      hint: r.tokenTypeHint,
      clientId: r.clientId,
    }));
    expect(calls).toHaveLength(2);
    expect(calls).toEqual(
      expect.arrayContaining([
        { token: c.refresh, hint: 'refresh_token', clientId: 'otesse-dev-google' },
        { token: c.access, hint: 'access_token', clientId: 'otesse-dev-google' },
      ]),
    );
    expect(fake.state.tokenStatus(c.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(c.access).status).toBe('revoked');

    // A replay answers the same report without calling the provider again.
    await expect(revoke(c, { idempotencyKey })).resolves.toEqual(report);
    expect(fake.state.revocations).toHaveLength(2);
    // The same key for another connection is a conflict, not a replay.
    const other = await stored('google');
    await expect(revoke(other, { idempotencyKey })).rejects.toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });
    // Concurrent duplicates: one set of calls, one report.
    const key2 = `saga-${randomUUID()}:revoke`;
    const reports = await Promise.all(
      Array.from({ length: 5 }, () => revoke(other, { idempotencyKey: key2 })),
    );
    for (const r of reports) expect(r).toEqual(reports[0]);
    expect(fake.state.revocations).toHaveLength(4);
  });

  it("uses ServiceNow's revocation at the instance's host, one token per call", async () => {
    const c = await stored('servicenow');
    const report = await revoke(c, { subdomain: 'acme' });
    expect(report).toMatchObject({ supported: true, succeeded: true });
    expect(
      fake.state.revocations.map((r) => [r.instance, r.token, r.tokenTypeHint]).sort(),
    ).toEqual(
      [
        ['acme', c.access, null],
        ['acme', c.refresh, null],
      ].sort(),
    );
    expect(fake.state.tokenStatus(c.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(c.access).status).toBe('revoked');
  });

  it.each([
    ['500', 'failed', 500],
    ['400', 'failed', 400],
    ['hang', 'timeout', null],
    ['down', 'unreachable', null],
  ] as const)(
    'revokeMode %s: completes within its bound with warnings, never an error',
    async (mode, outcome, httpStatus) => {
      const c = await stored('google');
      fake.state.applyConfig({ revokeMode: mode });
      const started = Date.now();
      const report = await revoke(c, { timeoutMs: 300 });
      // Both calls run in parallel, each bounded by timeoutMs.
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(report).toMatchObject({
        supported: true,
        succeeded: false,
        results: [
          { kind: 'refresh_token', outcome, httpStatus },
          { kind: 'access_token', outcome, httpStatus },
        ],
      });
      expect(report.warnings).toHaveLength(2);
      expect(report.warnings.join(' ')).toMatch(/refresh token/);
      expect(report.warnings.join(' ')).toMatch(/access token/);
      expect(fake.state.revocations).toHaveLength(2);
      for (const t of [c.access, c.refresh]) {
        expect(fake.state.tokenStatus(t).status).toBe('active');
        expect(report.warnings.join(' ')).not.toContain(t);
      }
    },
  );

  it.each([
    ['expired', 400],
    ['404', 404],
  ] as const)(
    'revokeMode %s (the token already expired or is gone at the provider): revoked, no warning',
    async (mode, httpStatus) => {
      const c = await stored('google');
      fake.state.applyConfig({ revokeMode: mode });
      await expect(revoke(c)).resolves.toEqual(
        expect.objectContaining({
          supported: true,
          succeeded: true,
          warnings: [],
          results: [
            expect.objectContaining({ kind: 'refresh_token', outcome: 'revoked', httpStatus }),
            expect.objectContaining({ kind: 'access_token', outcome: 'revoked', httpStatus }),
          ],
        }),
      );
    },
  );

  it('counts 200 for an unknown token as revoked (RFC 7009), and reports no_token when nothing is stored', async () => {
    const c = await stored('google');
    fake.state.tokens.clear();
    await expect(revoke(c)).resolves.toMatchObject({
      supported: true,
      succeeded: true,
      results: [
        { kind: 'refresh_token', outcome: 'revoked' },
        { kind: 'access_token', outcome: 'revoked' },
      ],
    });
    const empty = { orgId: randomUUID(), connectionId: randomUUID(), vendor: 'google' };
    await expect(revoke(empty)).resolves.toEqual({
      supported: true,
      succeeded: true,
      results: [
        { kind: 'refresh_token', outcome: 'no_token', httpStatus: null },
        { kind: 'access_token', outcome: 'no_token', httpStatus: null },
      ],
      warnings: [],
    });
  });

  it('records "not supported" for Confluence (no revocation endpoint) and for Postmark (API key)', async () => {
    const c = await stored('confluence');
    const conf = await revoke(c);
    expect(conf).toMatchObject({
      supported: false,
      succeeded: false,
      results: [
        { kind: 'refresh_token', outcome: 'not_supported' },
        { kind: 'access_token', outcome: 'not_supported' },
      ],
    });
    expect(conf.warnings).toEqual([expect.stringMatching(/not supported.*Connected apps/)]);

    const pm = { orgId: randomUUID(), connectionId: randomUUID(), vendor: 'postmark' };
    await bus.request('vault.credentials.store', {
      ...pm,
      credentials: [{ kind: 'api_key', value: 'pm-server-token-0123456789' }],
    });
    const report = await revoke(pm);
    expect(report).toEqual({
      supported: false,
      succeeded: false,
      results: [],
      warnings: [expect.stringMatching(/rotate the server token in Postmark/)],
    });
    expect(fake.state.revocations).toHaveLength(0);
  });

  it('refuses an unknown provider and credentials of another provider', async () => {
    const c = await stored('google');
    await expect(revoke({ ...c, vendor: 'nope-provider' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      reason: 'unknown_provider',
    });
    await expect(revoke({ ...c, vendor: 'slack' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      reason: 'vendor_mismatch',
    });
    expect(fake.state.revocations).toHaveLength(0);
    // Refused before anything is claimed: the right vendor may try again under the same key.
    expect(
      await db.query('select key from vault.revocation_claim where connection_id = $1', [
        c.connectionId,
      ]),
    ).toEqual([]);
  });

  it('holds no database connection while the provider hangs: other commands are answered meanwhile', async () => {
    // More revocations than the vault's pool has connections (10).
    const cs = await Promise.all(Array.from({ length: 12 }, () => stored('google')));
    fake.state.applyConfig({ revokeMode: 'hang' });
    let settled = 0;
    const revocations = cs.map((c) =>
      revoke(c, { timeoutMs: 2_000 }).finally(() => {
        settled += 1;
      }),
    );
    await waitFor(
      async () =>
        (await db.query<{ n: number }>('select count(*)::int as n from vault.revocation_claim'))[0]!
          .n === 12,
      { what: 'every revocation claimed' },
    );
    const described = await bus.request('vault.credentials.describe', {
      orgId: cs[0]!.orgId,
      connectionId: cs[0]!.connectionId,
    });
    expect(described.credentials).toHaveLength(2);
    expect(settled).toBe(0);
    for (const r of await Promise.all(revocations))
      expect(r.results.map((x) => x.outcome)).toEqual(['timeout', 'timeout']);
    // Each report stored, each claim released.
    expect(await db.query('select key from vault.revocation_claim')).toEqual([]);
  });

  it("another replica's live claim: UNAVAILABLE, and a claim whose holder died is taken over", async () => {
    const c = await stored('google');
    const idempotencyKey = `saga-${randomUUID()}:revoke`;
    await db.query(
      `insert into vault.revocation_claim (key, org_id, connection_id, blocks_refresh, claimed_until, created_at)
       values ($1, $2, $3, true, now() + interval '1 minute', now())`,
      [idempotencyKey, c.orgId, c.connectionId],
    );
    await expect(revoke(c, { idempotencyKey })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'revocation_in_progress',
    });
    // The key is this connection's: another connection may not use it, claimed or not.
    await expect(revoke(await stored('google'), { idempotencyKey })).rejects.toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });
    expect(fake.state.revocations).toHaveLength(0);
    // Its holder died: the claim expires and the retry takes it over.
    await db.query(
      `update vault.revocation_claim set claimed_until = now() - interval '1 second' where key = $1`,
      [idempotencyKey],
    );
    const report = await revoke(c, { idempotencyKey });
    expect(report).toMatchObject({ supported: true, succeeded: true });
    expect(fake.state.revocations).toHaveLength(2);
    await expect(revoke(c, { idempotencyKey })).resolves.toEqual(report);
    expect(fake.state.revocations).toHaveLength(2);
  });

  it('never wrote a token to a log line', () => {
    expect(bed.logLines.length).toBeGreaterThan(5);
    const all = bed.logLines.join('');
    for (const t of issued) expect(all).not.toContain(t);
  });
});
