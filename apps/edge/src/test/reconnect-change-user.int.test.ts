import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { AppError } from '@otesse/contracts';
import { Bus } from '@otesse/messaging';
import { failUpdatesWhere, TestBrowser, waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, trpcErrorOf, type THarness } from './e2e-harness';
import { streamEvents } from './disconnect-helpers';

/** Issue 6: seed 003's Reconnect and Change User for Confluence and ServiceNow, and its REST contract. */
describe('reconnect and change user (whole stack as processes, fake provider)', () => {
  let h: THarness;
  let bus: Bus;
  beforeAll(async () => {
    h = await startHarness();
    bus = new Bus(h.nc);
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const rest = async (path: string, token = h.admin.token) => {
    const res = await fetch(`${h.stack.edgeUrl}/v1${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const activeCredentialIds = async (connectionId: string) =>
    (
      await h.db.query<{ id: string }>(
        `select id from vault.credential where connection_id = $1 and is_active order by id`,
        [connectionId],
      )
    ).map((r) => r.id);
  const appConnection = async (vendor: string) =>
    (await h.admin.client.integrations.list.query()).find((i) => i.provider.key === vendor)!
      .appConnection!;

  /**
   * The provider answers invalid_grant on the next refresh, and the next token use needs a refresh. Only this
   * vendor's tokens (its OAuth client's): expiring every provider's let another vendor's background refresh (a health
   * check, a sync) flag a connection a later test expects healthy.
   */
  const expireRefreshToken = async (vendor: string, connectionId: string) => {
    const client = { clientId: `otesse-dev-${vendor}` };
    await h.fakeClient.expireAccessTokens(client);
    await h.fakeClient.expireRefreshTokens(client);
    await h.db.query(
      `update vault.credential set expires_at = now() - interval '1 minute' where connection_id = $1 and kind = 'access_token' and is_active`,
      [connectionId],
    );
    const err = await bus
      .request('vault.access-tokens.get', { orgId: h.orgId, connectionId })
      .catch((e: AppError) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).reason).toBe('refresh_token_expired');
  };

  describe.each([
    ['confluence', 'knowledgeBase', 'invalid_grant'],
    ['servicenow', 'supportAndTicketing', 'servicenow'],
  ] as const)('%s', (vendor, type, style) => {
    it('expired refresh token → refreshTokenExpired → Reconnect → cleared; connections, jobs and references intact', async () => {
      await h.fakeClient.reset();
      await h.fakeClient.configure({
        refreshExpiredStyle: style === 'servicenow' ? 'servicenow' : 'rfc',
      });
      const { connectionId } = await connectOAuth(h, h.admin, vendor, 'app');
      const user =
        vendor === 'servicenow'
          ? undefined
          : await connectOAuth(h, h.member, vendor, 'user', { consentAs: 'u-bob' });
      await h.fakeClient.consentAs('u-alice');
      const before = await h.db.query(
        `select id, is_enabled from sync.sync_job where connection_id = $1 order by id`,
        [connectionId],
      );
      expect(
        (
          await trpcErrorOf(
            h.admin.client.integrations.oauthUrl.query({
              vendor,
              flow: 'app',
              action: 'reconnect',
            }),
          )
        ).data['reason'],
      ).toBe('reconnect_not_needed');

      await expireRefreshToken(vendor, connectionId!);
      const listed = (
        await rest(`/account/integrations?type=${type}&includeUserLevelConnectionData=true`)
      ).body as {
        vendor: string;
        refreshTokenExpired: boolean;
      }[];
      expect(listed.find((i) => i.vendor === vendor)?.refreshTokenExpired).toBe(true);

      const { outcome, action } = await connectOAuth(h, h.admin, vendor, 'app', {
        action: 'reconnect',
      });
      expect([outcome, action]).toEqual(['reconnected', 'reconnect']);
      const after = (await rest(`/account/integrations?type=${type}`)).body as {
        vendor: string;
        refreshTokenExpired: boolean;
      }[];
      expect(after.find((i) => i.vendor === vendor)?.refreshTokenExpired).toBe(false);
      // Same connection, same jobs, the user-level connection untouched; the new token works.
      expect((await appConnection(vendor)).id).toBe(connectionId);
      expect(
        await h.db.query(
          `select id, is_enabled from sync.sync_job where connection_id = $1 order by id`,
          [connectionId],
        ),
      ).toEqual(before);
      if (user) {
        const [u] = await h.db.query(
          `select status from connection.integration_connection where id = $1`,
          [user.connectionId],
        );
        expect(u).toEqual({ status: 'connected' });
      }
      await expect(
        bus.request('vault.access-tokens.get', { orgId: h.orgId, connectionId: connectionId! }),
      ).resolves.toMatchObject({ kind: 'access_token' });
      const entries = await waitFor(async () => {
        const { entries } = await h.admin.client.audit.list.query({
          filters: { action: 'connection.reconnected' },
        });
        const mine = entries.filter((e) => e.targets.connectionId === connectionId);
        return mine.length ? mine : undefined;
      });
      expect(entries[0]!.details).toMatchObject({
        previousExternalAccount: 'u-alice',
        newExternalAccount: 'u-alice',
      });
      expect(
        await streamEvents(
          h.nc,
          'integrations.connection.reconnected',
          (e) => e['connectionId'] === connectionId,
        ),
      ).toHaveLength(1);
    });

    it('refuses a reconnect as a different external account: nothing changes, the new tokens are revoked', async () => {
      const conn = await appConnection(vendor);
      await expireRefreshToken(vendor, conn.id);
      const activeBefore = await activeCredentialIds(conn.id);
      const { outcome, action } = await connectOAuth(h, h.admin, vendor, 'app', {
        action: 'reconnect',
        consentAs: 'u-bob',
      });
      expect([outcome, action]).toEqual(['refused:account_mismatch', 'reconnect']);
      const still = await appConnection(vendor);
      expect(still).toMatchObject({
        id: conn.id,
        externalAccountId: 'u-alice',
        refreshTokenExpired: true,
      });
      const refused = await waitFor(async () => {
        const { entries } = await h.admin.client.audit.list.query({
          filters: { action: 'connection.reconnect_failed' },
        });
        return entries.find((e) => e.targets.connectionId === conn.id);
      });
      expect(refused.details).toMatchObject({
        reason: 'account_mismatch',
        attemptedExternalAccount: 'u-bob',
      });
      // The refused tokens were revoked (Atlassian has no revocation endpoint: nothing to call) and never attached.
      const bobTokens = (await h.fakeClient.listTokens({ userId: 'u-bob' })).filter(
        (t) => t.status !== 'expired',
      );
      expect(bobTokens.length).toBeGreaterThan(0);
      for (const t of bobTokens) {
        expect((await h.fakeClient.tokenStatus(t.token)).status).toBe(
          vendor === 'confluence' ? 'active' : 'revoked',
        );
      }
      expect(await activeCredentialIds(conn.id)).toEqual(activeBefore);
      // Fix it for the next test.
      expect(
        (
          await connectOAuth(h, h.admin, vendor, 'app', {
            action: 'reconnect',
            consentAs: 'u-alice',
          })
        ).outcome,
      ).toBe('reconnected');
    });

    it('changes the user to another user of the same tenant; the old tokens are revoked', async () => {
      const conn = await appConnection(vendor);
      const aliceTokens = (await h.fakeClient.listTokens({ userId: 'u-alice' })).filter(
        (t) => t.status === 'active',
      );
      const { outcome, action } = await connectOAuth(h, h.admin, vendor, 'app', {
        action: 'changeUser',
        consentAs: 'u-bob',
      });
      expect([outcome, action]).toEqual(['user_changed', 'changeUser']);
      const now = await appConnection(vendor);
      expect(now).toMatchObject({ id: conn.id, externalAccountId: 'u-bob', status: 'connected' });
      // The old tokens are revoked where the provider can (not Atlassian: no endpoint) and destroyed in the vault.
      for (const t of aliceTokens) {
        expect((await h.fakeClient.tokenStatus(t.token)).status).toBe(
          vendor === 'confluence' ? 'active' : 'revoked',
        );
      }
      const [retired] = await h.db.query<{ n: string }>(
        `select count(*) as n from vault.credential where connection_id = $1 and retired_at is not null and ciphertext <> ''`,
        [conn.id],
      );
      expect(retired!.n).toBe('0');
      await waitFor(async () => {
        const { entries } = await h.admin.client.audit.list.query({
          filters: { action: 'connection.user_changed' },
        });
        return entries.some(
          (e) =>
            e.targets.connectionId === conn.id &&
            (e.details as { newExternalAccount?: string }).newExternalAccount === 'u-bob',
        );
      });
    });
  });

  it('refuses changeUser to another tenant (Confluence cloud id), nothing changed', async () => {
    const conn = await appConnection('confluence');
    const { outcome } = await connectOAuth(h, h.admin, 'confluence', 'app', {
      action: 'changeUser',
      consentAs: 'u-carol',
    });
    expect(outcome).toBe('refused:tenant_mismatch');
    expect(await appConnection('confluence')).toMatchObject({
      id: conn.id,
      externalAccountId: conn.externalAccountId,
      tenantId: 'acme',
    });
  });

  it("changeUser finds the connection's Atlassian site among several, listed in any order; the connection stays on it", async () => {
    const conn = await appConnection('confluence');
    expect(conn.tenantId).toBe('acme');
    // Erin reaches two sites, and accessible-resources lists the other one first.
    await h.fakeClient.setUsers([
      { id: 'u-erin', email: 'erin@acme.test', name: 'Erin', tenantId: 'acme', sites: ['initech'] },
    ]);
    const { outcome } = await connectOAuth(h, h.admin, 'confluence', 'app', {
      action: 'changeUser',
      consentAs: 'u-erin',
    });
    expect(outcome).toBe('user_changed');
    expect(await appConnection('confluence')).toMatchObject({
      id: conn.id,
      externalAccountId: 'u-erin',
      tenantId: 'acme',
    });
  });

  it("a new personal Confluence connection joins the instance's site, wherever Atlassian lists it", async () => {
    // Erin (set up above) reaches initech first, then acme: the org's instance is on acme.
    const { outcome, connectionId } = await connectOAuth(h, h.viewer, 'confluence', 'user', {
      consentAs: 'u-erin',
    });
    expect(outcome).toBe('connected');
    const [row] = await h.db.query<{ tenant_id: string }>(
      `select tenant_id from connection.integration_connection where id = $1`,
      [connectionId],
    );
    expect(row).toEqual({ tenant_id: 'acme' });
  });

  it('refuses changeUser when the provider names no domain for the account (a consumer Google account), nothing changed', async () => {
    // HubSpot points at the fake provider like Google; the race test below connects Google itself.
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'hubspot', 'app');
    await h.fakeClient.setUsers([
      { id: 'u-gil', email: 'gil@gmail.test', name: 'Gil', tenantId: 'gmail', tenantHidden: true },
    ]);
    const { outcome } = await connectOAuth(h, h.admin, 'hubspot', 'app', {
      action: 'changeUser',
      consentAs: 'u-gil',
    });
    expect(outcome).toBe('refused:tenant_unknown');
    expect(await appConnection('hubspot')).toMatchObject({
      id: connectionId,
      externalAccountId: 'u-alice',
      tenantId: 'acme',
      status: 'connected',
    });
    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.change_user_failed' },
      });
      return entries.some(
        (e) =>
          e.targets.connectionId === connectionId &&
          (e.details as { reason?: string }).reason === 'tenant_unknown',
      );
    });
  });

  it('pre-checks: no action on a connected integration is CONFLICT; changeUser needs a connected instance and settings.edit', async () => {
    expect(
      (
        await trpcErrorOf(
          h.admin.client.integrations.oauthUrl.query({ vendor: 'confluence', flow: 'app' }),
        )
      ).code,
    ).toBe('CONFLICT');
    expect(
      (
        await trpcErrorOf(
          h.admin.client.integrations.oauthUrl.query({
            vendor: 'zendesk',
            flow: 'app',
            action: 'changeUser',
          }),
        )
      ).code,
    ).toBe('PRECONDITION_FAILED');
    expect(
      (
        await trpcErrorOf(
          h.member.client.integrations.oauthUrl.query({
            vendor: 'confluence',
            flow: 'app',
            action: 'changeUser',
          }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    const r = await rest('/account/integrations/confluence/oauth2/url?flow=app&action=changeUser');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      url: expect.stringContaining('/connect/start/'),
      action: 'changeUser',
    });
    expect((await rest('/account/integrations/confluence/oauth2/url?flow=app')).status).toBe(409);
  });

  it('changes the user of a Zendesk connection: its tenant is the instance host, the same by construction', async () => {
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'zendesk',
      subdomain: 'acme',
    });
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'zendesk', 'app');
    expect(await appConnection('zendesk')).toMatchObject({
      tenantId: expect.stringContaining('acme'),
    });
    const { outcome } = await connectOAuth(h, h.admin, 'zendesk', 'app', {
      action: 'changeUser',
      consentAs: 'u-bob',
    });
    expect(outcome).toBe('user_changed');
    expect(await appConnection('zendesk')).toMatchObject({
      id: connectionId,
      externalAccountId: 'u-bob',
    });
  });

  it('a change of user that stops past its swap is audited, shown on the connection and resumed by the admin', async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    // The connection service cannot record the new account (a bad deploy), after the vault swapped the tokens.
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_account',
      table: 'connection.integration_connection',
      when: 'new.external_account_id is distinct from old.external_account_id',
      message: 'column "account_label_v2" does not exist',
    });
    let sagaId: string;
    try {
      const { outcome } = await connectOAuth(h, h.admin, 'salesforce', 'app', {
        action: 'changeUser',
        consentAs: 'u-bob',
      });
      expect(outcome).toBe('refused:stopped_part_way');
      const conn = await appConnection('salesforce');
      expect(conn).toMatchObject({ id: connectionId, externalAccountId: 'u-alice' });
      expect(conn.operation).toMatchObject({
        type: 'change-user',
        status: 'failed',
        needsResume: true,
        error: { step: 'record-account', code: 'INTERNAL' },
      });
      sagaId = conn.operation!.sagaId;
      // Past the swap, the account not recorded (the reconnect flag not cleared): its syncs stay paused until the
      // operation goes on (resume-sync comes after record-account).
      expect(
        await h.db.query(`select paused_by_saga_id from sync.sync_job where connection_id = $1`, [
          connectionId,
        ]),
      ).toEqual([{ paused_by_saga_id: sagaId }]);
      const stopped = await waitFor(async () => {
        const { entries } = await h.admin.client.audit.list.query({
          filters: { action: 'operation.stopped' },
        });
        return entries.find((e) => e.targets.sagaId === sagaId);
      });
      expect(stopped).toMatchObject({
        provider: 'salesforce',
        details: {
          operation: 'change-user',
          stoppedAtStep: 'record-account',
          credentialsSwapped: true,
          accountRecorded: false,
        },
      });
      // A member may not resume the admin's operation on the organization's connection, nor learn that it exists:
      // NOT_FOUND, as its status answers them (a viewer, who sees the org's operations, is FORBIDDEN).
      expect((await trpcErrorOf(h.member.client.disconnect.status.query({ sagaId }))).code).toBe(
        'NOT_FOUND',
      );
      expect((await trpcErrorOf(h.member.client.operations.resume.mutate({ sagaId }))).code).toBe(
        'NOT_FOUND',
      );
      expect((await trpcErrorOf(h.viewer.client.operations.resume.mutate({ sagaId }))).code).toBe(
        'FORBIDDEN',
      );
    } finally {
      await fix();
    }
    const { saga } = await h.admin.client.operations.resume.mutate({ sagaId, waitMs: 15_000 });
    expect(saga).toMatchObject({ status: 'completed', timesResumed: 1 });
    const after = await appConnection('salesforce');
    expect(after).toMatchObject({ id: connectionId, externalAccountId: 'u-bob', operation: null });
    expect(
      await h.db.query(`select paused_by_saga_id from sync.sync_job where connection_id = $1`, [
        connectionId,
      ]),
    ).toEqual([{ paused_by_saga_id: null }]);
    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.user_changed' },
      });
      return entries.filter((e) => e.targets.sagaId === sagaId).length === 1;
    });
  });

  it('a reconnect racing a disconnect: one completes, the other is refused, no mixed state', async () => {
    await h.fakeClient.configure({ refreshExpiredStyle: 'rfc' });
    const { connectionId } = await connectOAuth(h, h.admin, 'google', 'app');
    await expireRefreshToken('google', connectionId!);
    await h.fakeClient.configure({ revokeDelayMs: 800 });
    try {
      const { url } = await h.admin.client.integrations.oauthUrl.query({
        vendor: 'google',
        flow: 'app',
        action: 'reconnect',
      });
      const [disconnect, reconnect] = await Promise.allSettled([
        h.admin.client.disconnect.start.mutate({
          connectionId: connectionId!,
          confirm: true,
          waitMs: 20_000,
        }),
        (async () => {
          const { stoppedAt } = await new TestBrowser().follow(url, {
            stopAt: 'http://dashboard.test',
          });
          return new URL(stoppedAt!).searchParams.get('oauth');
        })(),
      ]);
      const disconnected =
        disconnect.status === 'fulfilled' && disconnect.value.saga.status === 'completed';
      const reconnected = reconnect.status === 'fulfilled' && reconnect.value === 'reconnected';
      expect(disconnected !== reconnected).toBe(true);
      const [row] = await h.db.query<{ status: string; refresh_token_expired: boolean }>(
        `select status, refresh_token_expired from connection.integration_connection where id = $1`,
        [connectionId],
      );
      const active = await h.db.query(
        `select 1 from vault.credential where connection_id = $1 and is_active`,
        [connectionId],
      );
      if (disconnected) {
        expect(row!.status).toBe('revoked');
        expect(active.length).toBe(0);
      } else {
        expect(row).toEqual({ status: 'connected', refresh_token_expired: false });
        expect(active.length).toBeGreaterThan(0);
      }
    } finally {
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
  });

  it("a change of user that compensates after the callback stopped waiting revokes the new account's tokens", async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.member, 'salesforce', 'user');
    // The scheduler is slow (paused, still subscribed): each pause-sync attempt times out (5 s, three of them), the
    // callback stops waiting at 15 s, and the compensation cannot end before the scheduler answers again.
    const scheduler = h.stack.processes.get('sync-scheduler')!.child.proc;
    const before = new Set(h.fake.state.tokens.keys());
    let issued: string[] = [];
    scheduler.kill('SIGSTOP');
    try {
      const { outcome } = await connectOAuth(h, h.member, 'salesforce', 'user', {
        action: 'changeUser',
        consentAs: 'u-bob',
      });
      expect(outcome).toBe('refused:still_running');
      issued = [...h.fake.state.tokens.keys()].filter((t) => !before.has(t));
      expect(issued.length).toBeGreaterThan(0);
      // Paused until pause-sync's last attempt timed out too: the saga compensates only now.
      await waitFor(
        async () =>
          (
            await h.db.query(
              `select 1 from edge.saga where type = 'change-user' and subject_key = $1 and status = 'compensating'`,
              [connectionId],
            )
          ).length === 1,
        { timeoutMs: 10_000, intervalMs: 50, what: 'the change of user compensating' },
      );
    } finally {
      scheduler.kill('SIGCONT');
    }
    const [saga] = await waitFor(
      async () => {
        const rows = await h.db.query<{ status: string; error: { step: string } | null }>(
          `select status, error from edge.saga where type = 'change-user' and subject_key = $1`,
          [connectionId],
        );
        return rows[0]?.status === 'compensated' ? rows : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the change of user compensated' },
    );
    expect(saga!.error?.step).toBe('pause-sync');
    const conn = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    )!.myConnection!;
    expect(conn).toMatchObject({ id: connectionId, externalAccountId: 'u-alice', operation: null });
    // Before: the compensation forgot bob's tokens in memory; the grant stayed live at the provider.
    await waitFor(
      () => issued.every((t) => h.fake.state.tokens.get(t)?.revokedAt !== undefined) || undefined,
      { timeoutMs: 10_000, intervalMs: 50, what: "the new account's tokens revoked" },
    );
    // Alice's connection keeps its own tokens.
    expect((await activeCredentialIds(connectionId!)).length).toBeGreaterThan(0);
  });

  it("REST: connectionDetails counts the org's users and those with their own live connection; the URL call takes action=reconnect", async () => {
    await h.fakeClient.consentAs('u-bob');
    await connectOAuth(h, h.member, 'slack', 'user');
    await h.fakeClient.consentAs('u-alice');
    await connectOAuth(h, h.viewer, 'slack', 'user');
    const [users] = await h.db.query<{ n: string }>(
      `select count(*) as n from edge.app_user where org_id = $1`,
      [h.orgId],
    );
    const { body } = await rest(
      '/account/integrations?type=communication&includeUserLevelConnectionData=true',
    );
    expect(body).toEqual([
      {
        vendor: 'slack',
        integrated: true,
        connectionDetails: { total: Number(users!.n), connected: 2 },
        refreshTokenExpired: false,
      },
    ]);

    // The REST twin of oauthUrl with action=reconnect: refused while the refresh token is fine, offered once it
    // expired.
    const app = await connectOAuth(h, h.admin, 'slack', 'app');
    const notNeeded = await rest(
      '/account/integrations/slack/oauth2/url?flow=app&action=reconnect',
    );
    expect(notNeeded.status).toBe(409);
    expect(JSON.stringify(notNeeded.body)).toContain('reconnect_not_needed');
    await h.fakeClient.configure({ refreshExpiredStyle: 'rfc' });
    await expireRefreshToken('slack', app.connectionId!);
    const offered = await rest('/account/integrations/slack/oauth2/url?flow=app&action=reconnect');
    expect(offered.status).toBe(200);
    expect(offered.body).toMatchObject({
      url: expect.stringContaining('/connect/start/'),
      action: 'reconnect',
    });
  });

  it("serves the seed's REST shape field for field, and a valid OpenAPI document", async () => {
    const { status, body } = await rest(
      '/account/integrations?type=supportAndTicketing&includeUserLevelConnectionData=true',
    );
    expect(status).toBe(200);
    const items = body as Record<string, unknown>[];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual([
        'connectionDetails',
        'integrated',
        'refreshTokenExpired',
        'vendor',
      ]);
      expect(Object.keys(item['connectionDetails'] as object).sort()).toEqual([
        'connected',
        'total',
      ]);
      expect(typeof item['vendor']).toBe('string');
      expect(typeof item['integrated']).toBe('boolean');
      expect(typeof item['refreshTokenExpired']).toBe('boolean');
    }
    expect(items.find((i) => i['vendor'] === 'servicenow')).toMatchObject({
      vendor: 'servicenow',
      integrated: true,
      connectionDetails: { total: 3, connected: 0 },
      refreshTokenExpired: false,
    });
    // `type` keeps exactly that category of the catalogue.
    expect(items.map((i) => i['vendor']).sort()).toEqual(['servicenow', 'zendesk']);
    const plain = (await rest('/account/integrations?type=supportAndTicketing')).body as Record<
      string,
      unknown
    >[];
    expect(plain.every((i) => !('connectionDetails' in i))).toBe(true);
    expect((await rest('/account/integrations?type=nonsense')).status).toBe(400);
    expect((await fetch(`${h.stack.edgeUrl}/v1/account/integrations`)).status).toBe(401);

    const doc = (await (await fetch(`${h.stack.edgeUrl}/v1/openapi.json`)).json()) as Record<
      string,
      unknown
    >;
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(Object.keys(doc['paths'] as object)).toEqual(
      expect.arrayContaining([
        '/account/integrations',
        '/account/integrations/{vendor}/oauth2/url',
      ]),
    );
  });
});
