import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import type { TAuditEvent } from '@otesse/contracts';
import { Bus, connectNats } from '@otesse/messaging';
import { createLogger } from '@otesse/logging';
import { loadCatalogue } from '@otesse/providers';
import {
  startFakeProvider,
  writeFakeProvidersFile,
  type TFakeProvider,
} from '@otesse/fake-provider';
import {
  errorOf,
  createTestDatabase,
  startNatsServer,
  startStack,
  type TStack,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { TRunningService } from '@otesse/runtime';
import { startCredentialVault } from './credential-vault.service';
import type { TMasterKey } from './crypto/master-keys';

const logLines: string[] = [];
const logger = createLogger({
  name: 'vault-refresh-test',
  level: 'debug',
  destination: { write: (line: string) => void logLines.push(line) },
});

/** Issue 4 "Tokens": refresh before expiry, rotation, one refresh for many callers, refreshTokenExpired. */
describe('token refresh in the vault (connection service as a process, fake provider over HTTP)', () => {
  let db: TTestDatabase;
  let nats: TTestNats;
  let fake: TFakeProvider;
  let dir: string;
  let stack: TStack;
  let nc: NatsConnection;
  let bus: Bus;
  const vaults: TRunningService[] = [];
  const masterKeys: TMasterKey[] = [{ keyId: 'k1', key: randomBytes(32) }];
  let providersFile: string;

  const startVault = async () => {
    const v = await startCredentialVault({
      databaseUrl: db.urlFor('credential-vault'),
      natsUrl: nats.url,
      masterKeys,
      catalogue: loadCatalogue({ providersFile, env: {} }),
      logger,
      // Small bounds so the transient cases finish quickly.
      refresh: { attemptTimeoutMs: 400, budgetMs: 1_500, backoffMs: 50, maxAttempts: 3 },
    });
    await v.deps.nc.flush();
    vaults.push(v);
    return v;
  };

  beforeAll(async () => {
    [db, nats, fake] = await Promise.all([
      createTestDatabase(),
      startNatsServer(),
      startFakeProvider({ port: 0 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'otesse-refresh-'));
    providersFile = writeFakeProvidersFile(fake.url, join(dir, 'providers.json'));
    [stack] = await Promise.all([
      startStack(
        {
          databaseUrlFor: (s) => db.urlFor(s),
          natsUrl: nats.url,
          providersFile,
          envFor: () => ({ HEALTH_CHECKS_ENABLED: 'false' }),
        },
        ['connection'],
      ),
      startVault(),
    ]);
    nc = await connectNats({ url: nats.url, name: 'test' });
    bus = new Bus(nc, { timeoutMs: 8_000 });
  });
  afterAll(async () => {
    for (const v of vaults) await v.stop();
    await nc?.close();
    await stack?.stop();
    await fake?.close();
    await nats?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    fake.state.reset();
  });

  /**
   * A connected connection whose tokens the fake provider issued (as a completed OAuth flow would have) and the
   * vault holds; `accessExpiresInMs` sets what the vault believes (negative: already expired).
   */
  const connect = async (
    vendor: 'google' | 'servicenow' | 'confluence',
    opts: { accessExpiresInMs?: number; userId?: string } = {},
  ) => {
    const orgId = randomUUID();
    if (vendor === 'servicenow') {
      await bus.request('connection.instances.configure', {
        orgId,
        vendor,
        config: { subdomain: 'acme' },
      });
    }
    const { connection, instance } = await bus.request('connection.connections.create', {
      orgId,
      vendor,
      level: 'user',
      userId: randomUUID(),
      externalAccountId: opts.userId ?? 'u-alice',
      tenantId: 'acme',
    });
    const { access, refresh } = fake.state.issueTokens({
      clientId: `otesse-dev-${vendor}`,
      user: fake.state.findUser(opts.userId ?? 'u-alice')!,
      instance: vendor === 'servicenow' ? 'acme' : undefined,
      scope: '',
      familyId: randomUUID(),
    });
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId: connection.id,
      vendor,
      credentials: [
        {
          kind: 'access_token',
          value: access.token,
          expiresAt: new Date(Date.now() + (opts.accessExpiresInMs ?? 3_600_000)).toISOString(),
        },
        { kind: 'refresh_token', value: refresh.token },
      ],
    });
    await bus.request('connection.connections.activate', {
      orgId,
      connectionId: connection.id,
      eventId: randomUUID(),
    });
    return { orgId, connectionId: connection.id, instanceId: instance.id, access, refresh };
  };
  const get = (c: { orgId: string; connectionId: string }) =>
    bus.request('vault.access-tokens.get', { orgId: c.orgId, connectionId: c.connectionId });
  const refreshCalls = (refreshToken?: string) =>
    fake.state.tokenCalls.filter(
      (t) =>
        t.grantType === 'refresh_token' &&
        (refreshToken === undefined || t.refreshToken === refreshToken),
    );
  const flagOf = async (c: { orgId: string; connectionId: string }) =>
    (await bus.request('connection.connections.get', c)).connection.refreshTokenExpired;
  const expireInVault = (connectionId: string) =>
    db.query(
      `update vault.credential set expires_at = now() - interval '1 second'
        where connection_id = $1 and kind = 'access_token'`,
      [connectionId],
    );

  /** Every message of a stream's subject (the tests read JetStream directly, as a consumer would). */
  async function streamMessages<T>(stream: string, subject: string) {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(stream);
    const out: { data: T; msgId: string | undefined }[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (m?.subject === subject)
        out.push({ data: m.json<T>(), msgId: m.header?.get('Nats-Msg-Id') });
    }
    return out;
  }

  it('refreshes before expiry and saves the rotated refresh token', async () => {
    const c = await connect('google', { accessExpiresInMs: 30_000 });
    // An hour-old token with 30 s left: inside the 60 s margin.
    await db.query(
      `update vault.credential set updated_at = now() - interval '1 hour' where connection_id = $1`,
      [c.connectionId],
    );
    const [refreshRowBefore] = await db.query<{ ciphertext: string }>(
      `select ciphertext from vault.credential where connection_id = $1 and kind = 'refresh_token'`,
      [c.connectionId],
    );

    const got = await get(c);
    expect(got.kind).toBe('access_token');
    expect(got.accessToken).not.toBe(c.access.token);
    expect(new Date(got.expiresAt!).getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    const calls = refreshCalls();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      refreshToken: c.refresh.token,
      status: 200,
      clientId: 'otesse-dev-google',
    });
    // The provider's answer is what the vault now holds: the new access token works at the provider…
    expect(fake.state.tokenStatus(got.accessToken)).toMatchObject({
      exists: true,
      status: 'active',
    });
    // …and the old refresh token is dead there (rotated), the vault having saved the new one.
    expect(fake.state.tokenStatus(c.refresh.token)).toMatchObject({
      status: 'revoked',
      revokeReason: 'rotated',
    });
    const [refreshRowAfter] = await db.query<{ ciphertext: string; is_active: boolean }>(
      `select ciphertext, is_active from vault.credential where connection_id = $1 and kind = 'refresh_token'`,
      [c.connectionId],
    );
    expect(refreshRowAfter!.ciphertext).not.toBe(refreshRowBefore!.ciphertext);
    expect(refreshRowAfter!.is_active).toBe(true);
    // Still one row per kind: a refresh rewrites the rows in place.
    const [n] = await db.query<{ n: number }>(
      'select count(*)::int as n from vault.credential where connection_id = $1',
      [c.connectionId],
    );
    expect(n!.n).toBe(2);

    // Fresh now: answered without a call. When it is due again, the saved (rotated) refresh token is the one used.
    await expect(get(c)).resolves.toMatchObject({ accessToken: got.accessToken });
    expect(refreshCalls()).toHaveLength(1);
    await expireInVault(c.connectionId);
    const third = await get(c);
    expect(third.accessToken).not.toBe(got.accessToken);
    const second = refreshCalls()[1]!;
    expect(second.status).toBe(200);
    expect(fake.state.tokens.get(second.refreshToken!)?.type).toBe('refresh');
    expect(second.refreshToken).not.toBe(c.refresh.token);

    // No token ever reached a log line.
    const logs = logLines.join('');
    for (const t of [c.access.token, c.refresh.token, got.accessToken, third.accessToken])
      expect(logs).not.toContain(t);
  });

  it('20 concurrent requests at expiry, across two vault replicas, cause one call to the token endpoint', async () => {
    if (vaults.length < 2) await startVault();
    const c = await connect('google', { accessExpiresInMs: -1_000 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(c)));
    expect(refreshCalls(c.refresh.token)).toHaveLength(1);
    expect(refreshCalls()).toHaveLength(1);
    const tokens = new Set(answers.map((a) => a.accessToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).not.toBe(c.access.token);
    expect(fake.state.tokenStatus([...tokens][0]!).status).toBe('active');
  });

  const refuse = (c: { orgId: string; connectionId: string }, refusedFingerprint: string) =>
    bus.request('vault.access-tokens.get', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      refusedFingerprint,
    });

  it('a token the provider refused before its recorded expiry is refreshed once when a caller says so', async () => {
    const c = await connect('google');
    const first = await get(c);
    expect(first).toMatchObject({ accessToken: c.access.token, fingerprint: expect.any(String) });
    // The provider ends the token early (password change, sessions revoked…); the vault still thinks it has an hour.
    fake.state.expireTokens('access', { token: c.access.token });
    // A caller that says nothing gets the same token, without a refresh (as before).
    await expect(get(c)).resolves.toMatchObject({ accessToken: c.access.token });
    expect(refreshCalls()).toHaveLength(0);

    const renewed = await refuse(c, first.fingerprint!);
    expect(renewed.accessToken).not.toBe(c.access.token);
    expect(renewed.fingerprint).not.toBe(first.fingerprint);
    expect(fake.state.tokenStatus(renewed.accessToken).status).toBe('active');
    expect(refreshCalls(c.refresh.token)).toMatchObject([{ status: 200 }]);
    // A refusal of a token already replaced refreshes nothing: the newer token is the answer.
    await expect(refuse(c, first.fingerprint!)).resolves.toMatchObject({
      accessToken: renewed.accessToken,
      fingerprint: renewed.fingerprint,
    });
    await expect(get(c)).resolves.toMatchObject({ accessToken: renewed.accessToken });
    expect(refreshCalls()).toHaveLength(1);
    // The fingerprint is not the token, and neither token reached a log line.
    const logs = logLines.join('');
    for (const t of [c.access.token, c.refresh.token, renewed.accessToken]) {
      expect(logs).not.toContain(t);
      expect(t).not.toContain(renewed.fingerprint!);
    }
  });

  it('callers refusing the same token at once, across two vault replicas, cause one refresh', async () => {
    if (vaults.length < 2) await startVault();
    const c = await connect('google');
    const { fingerprint } = await get(c);
    fake.state.expireTokens('access', { token: c.access.token });
    const answers = await Promise.all(Array.from({ length: 12 }, () => refuse(c, fingerprint!)));
    expect(refreshCalls()).toHaveLength(1);
    const tokens = new Set(answers.map((a) => a.accessToken));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).not.toBe(c.access.token);
    expect(fake.state.tokenStatus([...tokens][0]!).status).toBe('active');
  });

  it('a refused token whose refresh token is dead too: refresh_token_expired, the connection flagged, the token never answered again', async () => {
    const c = await connect('confluence', { userId: 'u-bob' });
    const { fingerprint } = await get(c);
    fake.state.expireTokens('access', { userId: 'u-bob' });
    fake.state.expireTokens('refresh', { userId: 'u-bob' });
    expect(await errorOf(refuse(c, fingerprint!))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'refresh_token_expired',
    });
    expect(refreshCalls()).toMatchObject([{ status: 400, error: 'invalid_grant' }]);
    // The flag the dashboard's Reconnect warning reads (seed 003).
    expect(await flagOf(c)).toBe(true);
    // Refused again: the dead refresh token is not presented again, the refused token not handed back — nor to a
    // caller that reports nothing (another run, a health check): it would only be refused at the provider.
    expect(await errorOf(refuse(c, fingerprint!))).toMatchObject({
      reason: 'refresh_token_expired',
    });
    expect(await errorOf(get(c))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'refresh_token_expired',
    });
    expect(refreshCalls()).toHaveLength(1);
  });

  it('a provider that refuses every token it issues: one forced refresh per back-off (doubling), the refused token handed to nobody meanwhile', async () => {
    const c = await connect('google');
    const forced = async () =>
      (
        await db.query<{ n: number; last: Date; refused: Date | null }>(
          `select forced_refreshes as n, last_forced_refresh_at as last, refused_at as refused
             from vault.credential where connection_id = $1 and kind = 'access_token'`,
          [c.connectionId],
        )
      )[0]!;
    // Time passing, as the database sees it: the last forced refresh moved back.
    const age = (seconds: number) =>
      db.query(
        `update vault.credential set last_forced_refresh_at = last_forced_refresh_at - make_interval(secs => $2)
          where connection_id = $1 and kind = 'access_token'`,
        [c.connectionId, seconds],
      );
    const first = await get(c);
    const second = await refuse(c, first.fingerprint!);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(refreshCalls()).toHaveLength(1);
    const one = await forced();
    expect(one).toMatchObject({ n: 1, refused: null });

    // Refused again at once: no second refresh within the minute, and the refused token goes to nobody.
    const backoff = await errorOf(refuse(c, second.fingerprint!));
    expect(backoff).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'access_token_refused' });
    expect(backoff.message).toMatch(/keeps refusing/);
    const retryAt = new Date((backoff.details as { retryAt: string }).retryAt).getTime();
    expect(retryAt - one.last.getTime()).toBe(60_000);
    expect(await errorOf(get(c))).toMatchObject({ reason: 'access_token_refused' });
    expect(refreshCalls()).toHaveLength(1);
    expect((await forced()).refused).not.toBeNull();

    // The minute is over: the next caller, reporting nothing, gets a renewed token (the refused one is known).
    await age(61);
    const third = await get(c);
    expect(third.accessToken).not.toBe(second.accessToken);
    expect(fake.state.tokenStatus(third.accessToken).status).toBe('active');
    expect(refreshCalls()).toHaveLength(2);
    const two = await forced();
    expect(two).toMatchObject({ n: 2, refused: null });

    // Refused again: twice the wait now.
    const longer = await errorOf(refuse(c, third.fingerprint!));
    const retryAt2 = new Date((longer.details as { retryAt: string }).retryAt).getTime();
    expect(retryAt2 - two.last.getTime()).toBe(120_000);
    await age(61);
    expect(await errorOf(get(c))).toMatchObject({ reason: 'access_token_refused' });
    expect(refreshCalls()).toHaveLength(2);

    // Hours without a forced refresh: the next refusal is renewed at once, and starts a new row.
    await age(3 * 3_600);
    const fourth = await refuse(c, third.fingerprint!);
    expect(fourth.accessToken).not.toBe(third.accessToken);
    expect(refreshCalls()).toHaveLength(3);
    expect(await forced()).toMatchObject({ n: 1, refused: null });
    expect(logLines.join('')).toContain('no renewal before the back-off ends');
  });

  it('invalid_grant flags the connection, publishes the event and the audit entry, and is not retried', async () => {
    const c = await connect('confluence', { accessExpiresInMs: -1_000, userId: 'u-bob' });
    fake.state.expireTokens('refresh', { userId: 'u-bob' });

    const err = await errorOf(get(c));
    expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'refresh_token_expired' });
    expect(refreshCalls()).toMatchObject([{ status: 400, error: 'invalid_grant' }]);
    expect(await flagOf(c)).toBe(true);

    const events = (
      await streamMessages<{ connectionId: string; eventId: string }>(
        'INTEGRATIONS',
        'integrations.connection.refresh_token_expired',
      )
    ).filter((m) => m.data.connectionId === c.connectionId);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({
      orgId: c.orgId,
      vendor: 'confluence',
      instanceId: c.instanceId,
      connectionId: c.connectionId,
      level: 'user',
    });
    expect(events[0]!.msgId).toBe(events[0]!.data.eventId);
    const audits = (await streamMessages<TAuditEvent>('AUDIT', 'audit.entries.append')).filter(
      (m) => m.data.targets.connectionId === c.connectionId,
    );
    expect(audits).toHaveLength(1);
    expect(audits[0]!.data).toMatchObject({
      eventId: events[0]!.data.eventId,
      orgId: c.orgId,
      actorUserId: null,
      action: 'connection.refresh_token_expired',
      provider: 'confluence',
      outcome: 'failure',
      targets: { instanceId: c.instanceId, connectionId: c.connectionId },
      details: { signal: 'invalid_grant', httpStatus: 400 },
    });
    expect(audits[0]!.msgId).toBe(events[0]!.data.eventId);

    // The dead refresh token is never presented again; the answer stays the same.
    await expect(errorOf(get(c))).resolves.toMatchObject({ reason: 'refresh_token_expired' });
    expect(refreshCalls()).toHaveLength(1);
  });

  it("ServiceNow's 401 access_denied on a refresh means expired for ServiceNow only", async () => {
    fake.state.applyConfig({ refreshExpiredStyle: 'servicenow' });
    const sn = await connect('servicenow', { accessExpiresInMs: -1_000 });
    const google = await connect('google', { accessExpiresInMs: -1_000 });
    fake.state.expireTokens('refresh', {});

    await expect(errorOf(get(sn))).resolves.toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'refresh_token_expired',
    });
    // The refresh went to the instance's own host.
    expect(refreshCalls(sn.refresh.token)).toMatchObject([
      { status: 401, error: 'server_error', instance: 'acme' },
    ]);
    expect(await flagOf(sn)).toBe(true);

    // The same answer from another provider is not its expiry signal: an error, no flag.
    const err = await errorOf(get(google));
    expect(err).toMatchObject({ code: 'PROVIDER_ERROR', reason: 'refresh_rejected' });
    expect(await flagOf(google)).toBe(false);
  });

  it('a 503 or a hanging token endpoint is retried within bounds and never sets the flag', async () => {
    const c = await connect('google', { accessExpiresInMs: -1_000 });
    fake.state.applyConfig({ tokenMode: '503' });
    let started = Date.now();
    expect(await errorOf(get(c))).toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'provider_unavailable',
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    // Retried (the provider's Retry-After: 1 s fits the 1.5 s budget once), and bounded.
    expect(refreshCalls().length).toBeGreaterThanOrEqual(2);
    expect(refreshCalls().length).toBeLessThanOrEqual(3);
    expect(await flagOf(c)).toBe(false);

    fake.state.applyConfig({ tokenMode: 'hang' });
    const before = refreshCalls().length;
    started = Date.now();
    expect(await errorOf(get(c))).toMatchObject({
      code: 'UNAVAILABLE',
      reason: 'provider_unavailable',
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(refreshCalls().length - before).toBeGreaterThanOrEqual(2);
    expect(await flagOf(c)).toBe(false);

    // Back to normal: the same refresh token still works (nothing was given up on).
    fake.state.applyConfig({ tokenMode: 'ok' });
    const ok = await get(c);
    expect(ok.accessToken).not.toBe(c.access.token);
  });

  it('a still-valid token is answered when the refresh fails; invalid_client is a PROVIDER_ERROR and an alert, no flag', async () => {
    const c = await connect('google', { accessExpiresInMs: 20_000 });
    await db.query(
      `update vault.credential set updated_at = now() - interval '1 hour' where connection_id = $1`,
      [c.connectionId],
    );
    fake.state.applyConfig({ tokenMode: 'invalid_client' });
    // Due for a refresh, the refresh fails, but the token still works for 20 s: the caller gets it.
    await expect(get(c)).resolves.toMatchObject({ accessToken: c.access.token });
    expect(logLines.join('')).toContain('oauth_client_rejected');

    await expireInVault(c.connectionId);
    expect(await errorOf(get(c))).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'invalid_client',
    });
    expect(refreshCalls().every((t) => t.status === 401 && t.error === 'invalid_client')).toBe(
      true,
    );
    expect(await flagOf(c)).toBe(false);
  });

  it('does not refresh while a disconnect holds the connection', async () => {
    const c = await connect('google', { accessExpiresInMs: -1_000 });
    const sagaId = randomUUID();
    await bus.request('connection.connections.begin-disconnect', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      sagaId,
      idempotencyKey: `${sagaId}:lock`,
    });
    expect(await errorOf(get(c))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'connection_disconnecting',
    });
    expect(refreshCalls()).toHaveLength(0);
  });
  it("does not rotate the tokens a revocation is revoking; a swap's revocation of retired tokens blocks nothing", async () => {
    const c = await connect('google', { accessExpiresInMs: -1_000 });
    // vault.tokens.revoke claimed the connection's current tokens and is calling the provider (no lock held).
    const key = `${randomUUID()}:revoke-tokens`;
    await db.query(
      `insert into vault.revocation_claim (key, org_id, connection_id, blocks_refresh, claimed_until, created_at)
       values ($1, $2, $3, true, now() + interval '1 minute', now())`,
      [key, c.orgId, c.connectionId],
    );
    expect(await errorOf(get(c))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'connection_revoking',
    });
    expect(refreshCalls()).toHaveLength(0);
    // A reconnect's revocation of the tokens a swap retired leaves the current ones to refresh.
    await db.query(`update vault.revocation_claim set blocks_refresh = false where key = $1`, [
      key,
    ]);
    await expect(get(c)).resolves.toMatchObject({ kind: 'access_token' });
    expect(refreshCalls()).toHaveLength(1);
  });

  it('after a swap (reconnect) refreshes with the new refresh token, never a retired one', async () => {
    const c = await connect('servicenow', { accessExpiresInMs: -1_000 });
    // The provider killed the refresh token: the vault deactivates it and the connection is flagged.
    fake.state.expireTokens('refresh', { token: c.refresh.token });
    expect(await errorOf(get(c))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'refresh_token_expired',
    });
    expect(await flagOf(c)).toBe(true);
    // Reconnect: the new authorization's tokens staged, then swapped in; its access token already due.
    const fresh = fake.state.issueTokens({
      clientId: 'otesse-dev-servicenow',
      user: fake.state.findUser('u-alice')!,
      instance: 'acme',
      scope: '',
      familyId: randomUUID(),
    });
    const { stageId } = await bus.request('vault.tokens.stage', {
      orgId: c.orgId,
      vendor: 'servicenow',
      subdomain: 'acme',
      credentials: [
        {
          kind: 'access_token',
          value: fresh.access.token,
          expiresAt: new Date(Date.now() - 1_000).toISOString(),
        },
        { kind: 'refresh_token', value: fresh.refresh.token },
      ],
      idempotencyKey: `stage:${randomUUID()}`,
    });
    const swapped = await bus.request('vault.credentials.swap', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      vendor: 'servicenow',
      stageId,
      idempotencyKey: `saga-${randomUUID()}:swap`,
    });
    const retiredBefore = await db.query<{ id: string; ciphertext: string; updated_at: Date }>(
      'select id, ciphertext, updated_at from vault.credential where id = any($1) order by id',
      [swapped.retiredCredentialIds],
    );
    const got = await get(c);
    expect(got.accessToken).not.toBe(fresh.access.token);
    expect(fake.state.tokenStatus(got.accessToken).status).toBe('active');
    expect(refreshCalls(fresh.refresh.token)).toHaveLength(1);
    // The retired refresh token was used once (before the swap, refused) and never again; its rows are as retired.
    expect(refreshCalls(c.refresh.token)).toHaveLength(1);
    expect(
      await db.query(
        'select id, ciphertext, updated_at from vault.credential where id = any($1) order by id',
        [swapped.retiredCredentialIds],
      ),
    ).toEqual(retiredBefore);
  });
});
