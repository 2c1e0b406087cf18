import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError, TAuditEntry } from '@otesse/contracts';
import { Bus } from '@otesse/messaging';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, trpcErrorOf, type THarness } from './e2e-harness';

/** A long ServiceNow instance name: its host (the connection's tenant) is 50 characters. */
const INSTANCE = 'acme-corporation-production-emea1';
/** ServiceNow accounts are sys_ids: 32 hex digits. */
const SYS_ID_ALICE = '6816f79cc0a8016401c5a33be04be441';
const SYS_ID_BOB = '9d385017c611228701d22104cc95c371';
/** An account id that does look like a token (mixed-case random): its entry is written with it redacted. */
const OPAQUE_ID = 'p1sh9mH0qb7xF0maRqUlcGUNB9smMHeK';

/**
 * Audit entries record the identifiers providers hand out (hosts, sys_ids) instead of refusing them after the change
 * they record was made: configure, connect, reconnect and change user each complete with their entry written, and a
 * secret-looking subdomain is refused before anything changes.
 */
describe('audit entries with real identifiers (whole stack as processes, fake provider)', () => {
  let h: THarness;
  let bus: Bus;
  beforeAll(async () => {
    h = await startHarness();
    bus = new Bus(h.nc);
    await h.fakeClient.configure({ refreshExpiredStyle: 'servicenow' });
    await h.fakeClient.setUsers([
      { id: SYS_ID_ALICE, email: 'alice@acme.test', name: 'Alice Anders', tenantId: 'acme' },
      { id: SYS_ID_BOB, email: 'bob@acme.test', name: 'Bob Brown', tenantId: 'acme' },
      { id: OPAQUE_ID, email: 'olga@acme.test', name: 'Olga Opaque', tenantId: 'acme' },
    ]);
  });
  afterAll(async () => {
    await h?.close();
  });

  const entryFor = (action: TAuditEntry['action'], match: (e: TAuditEntry) => boolean) =>
    waitFor(
      async () => {
        const { entries } = await h.admin.client.audit.list.query({ filters: { action } });
        return entries.find(match);
      },
      { timeoutMs: 10_000 },
    );
  const instanceConfig = async () =>
    (
      await h.db.query<{ config: Record<string, unknown> }>(
        `select config from connection.integration_instance where vendor = 'servicenow'`,
      )
    )[0]?.config;
  const appConnection = async () =>
    (await h.admin.client.integrations.list.query()).find((i) => i.provider.key === 'servicenow')!
      .appConnection!;
  /** The provider answers ServiceNow's expired-refresh error on the next refresh: Reconnect is offered. */
  const expireRefreshToken = async (connectionId: string) => {
    await h.fakeClient.expireAccessTokens({});
    await h.fakeClient.expireRefreshTokens({});
    await h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute' where connection_id = $1 and kind = 'access_token' and is_active`,
      [connectionId],
    );
    const err = await bus
      .request('vault.access-tokens.get', { orgId: h.orgId, connectionId })
      .catch((e: unknown) => e);
    expect((err as AppError).reason).toBe('refresh_token_expired');
  };

  it('configures a long instance name and audits it', async () => {
    const configured = await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: INSTANCE,
    });
    expect(configured.subdomain).toBe(INSTANCE);
    const entry = await entryFor(
      'instance.configured',
      (e) => e.targets.instanceId === configured.id,
    );
    expect(entry.details).toEqual({ subdomain: INSTANCE });
  });

  it('refuses a subdomain that looks like a token before changing anything', async () => {
    const err = await trpcErrorOf(
      h.admin.client.integrations.configureInstance.mutate({
        vendor: 'servicenow',
        subdomain: OPAQUE_ID,
      }),
    );
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.data['zodIssues']).toEqual([expect.objectContaining({ path: ['subdomain'] })]);
    expect(await instanceConfig()).toEqual({ subdomain: INSTANCE });
    const { entries } = await h.admin.client.audit.list.query({
      filters: { action: 'instance.configured' },
    });
    expect(entries.map((e) => e.details)).toEqual([{ subdomain: INSTANCE }]);
  });

  it('connects as a sys_id account on the long-named instance; the connect is audited', async () => {
    const { outcome, connectionId } = await connectOAuth(h, h.admin, 'servicenow', 'app', {
      consentAs: SYS_ID_ALICE,
    });
    expect(outcome).toBe('connected');
    expect(await appConnection()).toMatchObject({
      id: connectionId,
      status: 'connected',
      externalAccountId: SYS_ID_ALICE,
      tenantId: `${INSTANCE}.service-now.com`,
    });
    const entry = await entryFor(
      'connection.connected',
      (e) => e.targets.connectionId === connectionId,
    );
    expect(entry.details).toMatchObject({ tenantId: `${INSTANCE}.service-now.com` });
  });

  it('reconnects the sys_id account: the saga completes and its entry names the account', async () => {
    const conn = await appConnection();
    await expireRefreshToken(conn.id);
    const { outcome } = await connectOAuth(h, h.admin, 'servicenow', 'app', {
      action: 'reconnect',
      consentAs: SYS_ID_ALICE,
    });
    expect(outcome).toBe('reconnected');
    expect(await appConnection()).toMatchObject({ id: conn.id, refreshTokenExpired: false });
    const entry = await entryFor(
      'connection.reconnected',
      (e) => e.targets.connectionId === conn.id,
    );
    expect(entry.details).toMatchObject({
      previousExternalAccount: SYS_ID_ALICE,
      newExternalAccount: SYS_ID_ALICE,
      tenant: `${INSTANCE}.service-now.com`,
    });
    expect(await sagaStatus(entry.targets.sagaId!)).toBe('completed');
  });

  it('changes the user to another sys_id account: completed and audited with both accounts', async () => {
    const conn = await appConnection();
    const { outcome } = await connectOAuth(h, h.admin, 'servicenow', 'app', {
      action: 'changeUser',
      consentAs: SYS_ID_BOB,
    });
    expect(outcome).toBe('user_changed');
    expect(await appConnection()).toMatchObject({ id: conn.id, externalAccountId: SYS_ID_BOB });
    const entry = await entryFor(
      'connection.user_changed',
      (e) => e.targets.connectionId === conn.id,
    );
    expect(entry.details).toMatchObject({
      previousExternalAccount: SYS_ID_ALICE,
      newExternalAccount: SYS_ID_BOB,
    });
    expect(await sagaStatus(entry.targets.sagaId!)).toBe('completed');
  });

  it('past the pivot, an account id that looks like a token is redacted from the entry, never a stuck saga', async () => {
    const conn = await appConnection();
    const { outcome } = await connectOAuth(h, h.admin, 'servicenow', 'app', {
      action: 'changeUser',
      consentAs: OPAQUE_ID,
    });
    expect(outcome).toBe('user_changed');
    expect(await appConnection()).toMatchObject({ id: conn.id, externalAccountId: OPAQUE_ID });
    const entry = await entryFor(
      'connection.user_changed',
      (e) =>
        e.targets.connectionId === conn.id &&
        (e.details as { previousExternalAccount?: string }).previousExternalAccount === SYS_ID_BOB,
    );
    expect(entry.details).toMatchObject({
      newExternalAccount: '[redacted]',
      redactedDetails: ['newExternalAccount'],
    });
    expect(JSON.stringify(entry)).not.toContain(OPAQUE_ID);
    expect(await sagaStatus(entry.targets.sagaId!)).toBe('completed');
  });

  const sagaStatus = async (sagaId: string) =>
    (
      await h.db.query<{ status: string }>(`select status from edge.saga where id = $1`, [sagaId])
    )[0]?.status;
});
