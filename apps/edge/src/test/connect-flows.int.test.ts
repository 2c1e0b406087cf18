import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '@otesse/contracts';
import { hashToken } from '@otesse/identity';
import type { Bus } from '@otesse/messaging';
import { confirmationForm, failUpdatesWhere, TestBrowser, waitFor } from '@otesse/testing';
import { completeConnection } from '../connect/complete-connection';
import { DEFAULT_CONSENT_AS } from '@otesse/fake-provider';
import {
  DASHBOARD_URL,
  connectOAuth,
  edgeClient,
  startEdgeReplica,
  startHarness,
  trpcErrorOf,
  type THarness,
} from './e2e-harness';

/** Foundation done-when 1–3: OAuth and API-key connect end to end, and every refused callback stores nothing. */
describe('connect flows through the edge (all services as processes, real Postgres/NATS/HTTP)', () => {
  let h: THarness;

  beforeAll(async () => {
    // The purge of expired OAuth rows every second instead of every 10 minutes. No pending-connect sweep (which
    // also publishes the connection service's owed events): an event seen here was published by the connect itself.
    h = await startHarness({
      envFor: (s) =>
        s === 'edge'
          ? { EDGE_OAUTH_PURGE_INTERVAL_MS: '1000', EDGE_TOKEN_EXCHANGE_TIMEOUT_MS: '2000' }
          : s === 'connection'
            ? { PENDING_CONNECT_SWEEP_ENABLED: 'false' }
            : {},
    });
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  /**
   * Connections and credentials. `readable`: only credentials not yet destroyed (a refused account's tokens go to
   * the vault only to be revoked and destroyed).
   */
  const counts = async (credentials: 'all' | 'readable' = 'all') => {
    const [c] = await h.db.query<{ connections: string; credentials: string }>(
      `select (select count(*) from connection.integration_connection) as connections,
              (select count(*) from vault.credential
                where $1 = 'all' or not is_deleted or ciphertext <> '') as credentials`,
      [credentials],
    );
    return { connections: Number(c!.connections), credentials: Number(c!.credentials) };
  };

  /** Opens the start URL and the provider's authorize page; returns the callback URL the provider sent back. */
  const authorizeUntilCallback = async (
    browser: TestBrowser,
    vendor: string,
    flow: 'app' | 'user' = 'user',
    client = h.member.client,
  ) => {
    const { url } = await client.integrations.oauthUrl.query({ vendor, flow });
    // The link's page, then its Continue.
    const page = await browser.get(url);
    const form = confirmationForm(await page.text(), url)!;
    const start = await browser.post(form.action, form.fields);
    expect(start.status).toBe(302);
    const authorize = await browser.get(start.headers.get('location')!);
    expect(authorize.status).toBe(302);
    const callback = authorize.headers.get('location')!;
    expect(callback).toContain(`/connect/${vendor}/callback`);
    return callback;
  };

  it('connects ServiceNow over OAuth as a browser would, stores no plaintext, audits and publishes', async () => {
    const browser = new TestBrowser();
    const { url } = await h.admin.client.integrations.oauthUrl.query({
      vendor: 'servicenow',
      flow: 'app',
    });
    const { stoppedAt, hops } = await browser.follow(url, { stopAt: DASHBOARD_URL });
    expect(hops.some((u) => u.includes('/i/acme/oauth/authorize'))).toBe(true);
    expect(hops.every((u) => !/access_token|refresh_token/.test(u))).toBe(true);
    expect(stoppedAt).toContain('oauth=connected');

    const list = await h.admin.client.integrations.list.query({ category: 'supportAndTicketing' });
    const sn = list.find((i) => i.provider.key === 'servicenow')!;
    expect(sn.integrated).toBe(true);
    expect(sn.instance?.status).toBe('connected');
    expect(sn.appConnection?.status).toBe('connected');
    expect(sn.appConnection?.tenantId).toBe('acme.service-now.com');
    expect(sn.appConnection?.externalAccountId).toBe('u-alice');

    // The vault holds ciphertext only: no issued token appears anywhere in its table, raw or base64.
    const tokens = await h.fakeClient.listTokens({ instance: 'acme' });
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    const rows = await h.db.query<{ row: string; connection_id: string; ciphertext: string }>(
      'select row_to_json(c)::text as row, connection_id, ciphertext from vault.credential c',
    );
    // The connection's two, and the callback's staged copy of them, destroyed as the store moved them in.
    const held = rows.filter((r) => r.connection_id === sn.appConnection!.id);
    expect(held.length).toBe(2);
    expect(rows.filter((r) => !held.includes(r)).map((r) => r.ciphertext)).toEqual(['', '']);
    for (const t of tokens) {
      for (const r of rows) {
        expect(r.row).not.toContain(t.token);
        expect(r.row).not.toContain(Buffer.from(t.token).toString('base64'));
      }
    }

    const entry = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.connected', provider: 'servicenow' },
      });
      return entries[0];
    });
    expect(entry.actorUserId).toBe(h.admin.id);
    expect(entry.targets.connectionId).toBe(sn.appConnection!.id);

    const jsm = await h.nc.jetstreamManager();
    const msg = await jsm.streams.getMessage('INTEGRATIONS', {
      last_by_subj: 'integrations.connection.connected',
    });
    expect(msg.json<{ connectionId: string; vendor: string }>()).toMatchObject({
      connectionId: sn.appConnection!.id,
      vendor: 'servicenow',
    });

    // The pre-check refuses connecting it again.
    const again = await trpcErrorOf(
      h.admin.client.integrations.oauthUrl.query({ vendor: 'servicenow', flow: 'app' }),
    );
    expect(again.code).toBe('CONFLICT');
  });

  it('connects Postmark with an API key; its senders feed the Email Builder "From" options', async () => {
    const conn = await h.admin.client.integrations.connectApiKey.mutate({
      vendor: 'postmark',
      apiKey: 'pm-server-token-0123456789',
      senderEmails: ['billing@acme.test', 'support@acme.test'],
    });
    expect(conn.status).toBe('connected');
    const list = await h.admin.client.integrations.list.query({ category: 'email' });
    expect(list.find((i) => i.provider.key === 'postmark')?.integrated).toBe(true);
    const from = await h.member.client.emailBuilder.fromOptions.query();
    expect(from.map((o) => o.email).sort()).toEqual(['billing@acme.test', 'support@acme.test']);
    // Another org sees none of it.
    expect(await h.otherAdmin.client.emailBuilder.fromOptions.query()).toEqual([]);
  });

  it.each(['applied', 'unsent'] as const)(
    "a connect whose activation's answer is lost goes on; one that failed before it leaves no credential (%s)",
    async (activation) => {
      // An edge in this process whose bus loses what the connection service answers to the activation, or fails it
      // before it is sent: the first is a connection live in the connection service, the second a pending one.
      const edge = await startEdgeReplica(h);
      try {
        const real = edge.deps.bus;
        const lossy = Object.create(real) as Bus;
        lossy.request = (async (subject: string, payload: never, opts?: never) => {
          if (subject === 'connection.connections.activate' && activation === 'applied') {
            await real.request(subject as never, payload, opts);
            throw new AppError('TIMEOUT', 'no answer in time', { reason: 'timeout' });
          }
          if (subject === 'connection.connections.activate')
            throw new AppError('UNAVAILABLE', 'no responders', { reason: 'no_responders' });
          return real.request(subject as never, payload, opts);
        }) as Bus['request'];
        const vendor = activation === 'applied' ? 'quickbooks' : 'xero';
        const outcome = await completeConnection(
          { ...edge.deps, bus: lossy },
          {
            orgId: h.orgId,
            userId: h.admin.id,
            provider: edge.deps.catalogue.get(vendor),
            level: 'app',
            externalAccountId: 'acct-1',
            tenantId: null,
            details: {},
            credentials: [
              {
                kind: 'access_token',
                value: `fpa_${randomBytes(8).toString('hex')}`,
                expiresAt: null,
              },
              {
                kind: 'refresh_token',
                value: `fpr_${randomBytes(8).toString('hex')}`,
                expiresAt: null,
              },
            ],
            ip: null,
            traceId: `lossy-${activation}`,
          },
        ).then(
          (r) => r.connection.id,
          (e: unknown) => e as AppError,
        );
        const [row] = await h.db.query<{ id: string; status: string; active: string }>(
          `select c.id, c.status, (select count(*) from vault.credential v
              where v.connection_id = c.id and v.is_active and not v.is_deleted) as active
             from connection.integration_connection c where c.org_id = $1 and c.vendor = $2`,
          [h.orgId, vendor],
        );
        if (activation === 'applied') {
          // Connected, with its credentials: the connect succeeded (its jobs and audit entry too).
          expect(outcome).toBe(row!.id);
          expect([row!.status, Number(row!.active)]).toEqual(['connected', 2]);
          const jobs = await h.db.query(`select 1 from sync.sync_job where connection_id = $1`, [
            row!.id,
          ]);
          expect(jobs.length).toBeGreaterThan(0);
        } else {
          // Failed before the activation: abandoned, and nothing of its credentials is left (the vault takes them
          // out of use, revokes and destroys them on the abandoned event).
          expect((outcome as AppError).code).toBe('UNAVAILABLE');
          expect(row!.status).toBe('error');
          await waitFor(async () => {
            const [left] = await h.db.query<{ n: string }>(
              `select count(*) as n from vault.credential where connection_id = $1 and is_active and not is_deleted`,
              [row!.id],
            );
            return Number(left!.n) === 0;
          });
        }
      } finally {
        await edge.stop();
      }
    },
  );

  it('a connect whose activation could not publish its connected event activates again: the event is out once when it answers', async () => {
    const edge = await startEdgeReplica(h);
    const jsm = await h.nc.jetstreamManager();
    const { config } = await jsm.streams.info('INTEGRATIONS');
    let restored = false;
    const restore = async () => {
      if (restored) return;
      restored = true;
      await jsm.streams.update('INTEGRATIONS', config);
    };
    // JetStream refuses every INTEGRATIONS publish (its subjects moved away) until the connect gives up on the
    // activation and asks to abandon: by then the activation committed and answered UNAVAILABLE
    // (event_publish_failed), its event owed.
    await jsm.streams.update('INTEGRATIONS', {
      ...config,
      subjects: ['refused-integrations.nothing'],
    });
    const sent: string[] = [];
    try {
      const real = edge.deps.bus;
      const spy = Object.create(real) as Bus;
      spy.request = (async (subject: string, payload: never, opts?: never) => {
        sent.push(subject);
        if (subject === 'connection.connections.abandon') await restore();
        return real.request(subject as never, payload, opts);
      }) as Bus['request'];
      const { connection } = await completeConnection(
        { ...edge.deps, bus: spy },
        {
          orgId: h.orgId,
          userId: h.admin.id,
          provider: edge.deps.catalogue.get('hubspot'),
          level: 'app',
          externalAccountId: 'hub-user-1',
          tenantId: 'hub-1',
          details: {},
          credentials: [
            {
              kind: 'access_token',
              value: `fpa_${randomBytes(8).toString('hex')}`,
              expiresAt: null,
            },
            {
              kind: 'refresh_token',
              value: `fpr_${randomBytes(8).toString('hex')}`,
              expiresAt: null,
            },
          ],
          ip: null,
          traceId: 'connected-event-refused',
        },
      );
      // The path taken: activated (refused event), abandon refused (connected), activated again.
      expect(sent.filter((s) => s.startsWith('connection.connections.'))).toEqual([
        'connection.connections.create',
        'connection.connections.activate',
        'connection.connections.abandon',
        'connection.connections.activate',
      ]);
      expect(connection.status).toBe('connected');
      // On the stream as the connect answers (no sweep runs here), once, at the connection's connectedAt.
      const { state } = await jsm.streams.info('INTEGRATIONS');
      const found = [];
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage('INTEGRATIONS', { seq }).catch(() => undefined);
        if (m?.subject !== 'integrations.connection.connected') continue;
        const event = m.json<{ connectionId: string; eventId: string; occurredAt: string }>();
        if (event.connectionId !== connection.id) continue;
        found.push({
          event,
          msgId: m.header?.get('Nats-Msg-Id'),
          org: m.header?.get('Otesse-Org'),
        });
      }
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        msgId: found[0]!.event.eventId,
        org: h.orgId,
        event: { occurredAt: connection.connectedAt, orgId: h.orgId, vendor: 'hubspot' },
      });
      const [owed] = await h.db.query<{ n: string }>(
        `select count(*) as n from connection.event_outbox where connection_id = $1 and published_at is null`,
        [connection.id],
      );
      expect(Number(owed!.n)).toBe(0);
    } finally {
      await restore();
      await edge.stop();
    }
  });

  it('refuses a tampered state, and stores nothing', async () => {
    const before = await counts();
    const callback = new URL(await authorizeUntilCallback(new TestBrowser(), 'google'));
    const browser = new TestBrowser();
    callback.searchParams.set('state', 'tampered-state-value-0000000000000');
    const res = await browser.get(callback.toString());
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('data-reason="unknown_state"');
    expect(await counts()).toEqual(before);
  });

  it('refuses a callback completed in another browser (no binding cookie), and stores nothing', async () => {
    const before = await counts();
    const tokenCalls = (await h.fakeClient.getState()).tokenCalls.length;
    const callback = await authorizeUntilCallback(new TestBrowser(), 'google');
    const res = await new TestBrowser().get(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('data-reason="wrong_browser"');
    expect(await counts()).toEqual(before);
    // No code exchange. The vault's refresher may refresh another test's connection meanwhile (it did once in CI).
    const exchanges = (await h.fakeClient.getState()).tokenCalls
      .slice(tokenCalls)
      .filter((c) => c.grantType === 'authorization_code');
    expect(exchanges).toEqual([]);
  });

  it('refuses an expired pending authorization, and stores nothing', async () => {
    const before = await counts();
    const browser = new TestBrowser();
    const callback = await authorizeUntilCallback(browser, 'google');
    await h.db.query(
      `update edge.pending_authorization set expires_at = now() - interval '1 minute' where completed_at is null`,
    );
    const res = await browser.get(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('data-reason="expired"');
    expect(await counts()).toEqual(before);
  });

  it('cuts a code exchange that drips, answers megabytes or answers compressed: the browser hears it failed within the bound, and nothing is stored', async () => {
    // EDGE_TOKEN_EXCHANGE_TIMEOUT_MS is 2 s here. All answers carry real tokens: waited for, read whole or decoded,
    // they would connect.
    try {
      for (const mode of ['drip', 'oversized', 'gzip'] as const) {
        await h.fakeClient.configure({ tokenMode: mode });
        const before = await counts();
        const tokenCalls = (await h.fakeClient.getState()).tokenCalls.length;
        const browser = new TestBrowser();
        const callback = await authorizeUntilCallback(browser, 'google');
        const started = Date.now();
        const res = await browser.get(callback);
        const took = Date.now() - started;
        expect(res.status, mode).toBe(302);
        const back = new URL(res.headers.get('location')!);
        expect(back.searchParams.get('oauth'), mode).toBe('failed');
        expect(back.searchParams.get('reason'), mode).toBe('token_exchange_failed');
        // The drip is cut at the deadline (its token takes minutes at a byte every half second), the 2 MB at 64 KB,
        // the gzip answer as its head declares the coding.
        if (mode === 'drip') expect(took).toBeGreaterThanOrEqual(1_900);
        expect(took, mode).toBeLessThan(6_000);
        expect(await counts(), mode).toEqual(before);
        // The code exchange only: the vault's refresher may refresh another test's connection meanwhile.
        const calls = (await h.fakeClient.getState()).tokenCalls
          .slice(tokenCalls)
          .filter((c) => c.grantType === 'authorization_code');
        expect(
          calls.map((c) => [c.grantType, c.status]),
          mode,
        ).toEqual([['authorization_code', 200]]);
        const [outcome] = await h.db.query<{ outcome: string }>(
          `select outcome from edge.pending_authorization order by created_at desc limit 1`,
        );
        expect(outcome?.outcome, mode).toBe('failed:token_exchange_failed');
      }
    } finally {
      await h.fakeClient.configure({ tokenMode: 'ok' });
    }
  });

  it('deletes what OAuth flows leave behind once it has expired: sessions at once, pending authorizations a day later', async () => {
    const rows = async () => ({
      sessions: (await h.db.query<{ sid: string }>(`select sid from edge.oauth_session`)).map(
        (r) => r.sid,
      ),
      pending: (await h.db.query<{ id: string }>(`select id from edge.pending_authorization`)).map(
        (r) => r.id,
      ),
    });
    /** A flow abandoned at the callback: its session and pending authorization, aged as given. */
    const abandoned = async (sessionAge: string, pendingAge: string) => {
      const before = await rows();
      await authorizeUntilCallback(new TestBrowser(), 'google');
      const after = await rows();
      const sid = after.sessions.find((x) => !before.sessions.includes(x))!;
      const id = after.pending.find((x) => !before.pending.includes(x))!;
      await h.db.query(
        `update edge.oauth_session set expires_at = now() - $2::interval where sid = $1`,
        [sid, sessionAge],
      );
      await h.db.query(
        `update edge.pending_authorization set expires_at = now() - $2::interval where id = $1`,
        [id, pendingAge],
      );
      return { sid, id };
    };
    const old = await abandoned('1 second', '25 hours');
    const recent = await abandoned('-10 minutes', '23 hours');
    await waitFor(
      async () => {
        const now = await rows();
        return !now.sessions.includes(old.sid) && !now.pending.includes(old.id);
      },
      { timeoutMs: 15_000, what: 'the expired session and day-old authorization to be deleted' },
    );
    // A live session, and an authorization expired less than a day ago (support still reads its outcome), stay.
    const now = await rows();
    expect(now.sessions).toContain(recent.sid);
    expect(now.pending).toContain(recent.id);
  });

  it('refuses a replayed callback: the first connects, the replay stores nothing more', async () => {
    const browser = new TestBrowser();
    const callback = await authorizeUntilCallback(browser, 'google');
    const first = await browser.get(callback);
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toContain('oauth=connected');
    const after = await counts();
    const replay = await browser.get(callback);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('data-reason="already_used"');
    expect(await counts()).toEqual(after);
  });

  it('tells the browser it connected even when the outcome cannot be recorded afterwards', async () => {
    // The authorization's outcome is for later readers; the connection is made by then.
    const fix = await failUpdatesWhere(h.db, {
      name: 'refuse_connected_outcome',
      table: 'edge.pending_authorization',
      when: `new.outcome = 'connected'`,
      message: 'simulated failure recording the outcome',
    });
    try {
      const browser = new TestBrowser();
      const res = await browser.get(await authorizeUntilCallback(browser, 'slack'));
      expect(res.status).toBe(302);
      // Before: `oauth=failed` for a connection that was made.
      expect(res.headers.get('location')).toContain('oauth=connected');
    } finally {
      await fix();
    }
    const slack = (await h.member.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    );
    expect(slack?.myConnection).toMatchObject({ status: 'connected' });
  });

  it('refuses a revoked API token at once, and an unknown one; the user’s other token keeps working', async () => {
    // A second token of the admin (as `npm run cli -- create-token` makes one), then revoked.
    const token = `otk_${randomBytes(32).toString('base64url')}`;
    const [admin] = await h.db.query<{ id: string }>(
      `select user_id as id from edge.api_token where token_hash = $1`,
      [hashToken(h.admin.token)],
    );
    await h.db.query(
      `insert into edge.api_token (id, user_id, org_id, token_hash, prefix, label, created_at)
       values (gen_random_uuid(), $1, $2, $3, $4, 'second', now())`,
      [admin!.id, h.orgId, hashToken(token), token.slice(0, 10)],
    );
    const second = edgeClient(h.stack.edgeUrl, token);
    await expect(second.me.get.query()).resolves.toMatchObject({ orgId: h.orgId });
    await h.db.query(`update edge.api_token set revoked_at = now() where token_hash = $1`, [
      hashToken(token),
    ]);
    expect((await trpcErrorOf(second.me.get.query())).code).toBe('UNAUTHORIZED');
    const unknown = edgeClient(h.stack.edgeUrl, `otk_${randomBytes(32).toString('base64url')}`);
    expect((await trpcErrorOf(unknown.me.get.query())).code).toBe('UNAUTHORIZED');
    await expect(h.admin.client.me.get.query()).resolves.toMatchObject({ orgId: h.orgId });
  });

  it('answers bad input, missing auth and missing permission with typed errors', async () => {
    expect((await trpcErrorOf(h.anonymous.integrations.list.query())).code).toBe('UNAUTHORIZED');
    const bad = await trpcErrorOf(
      h.admin.client.integrations.configureInstance.mutate({
        vendor: 'servicenow',
        subdomain: 'evil.com/x',
      }),
    );
    expect(bad.code).toBe('BAD_REQUEST');
    expect(bad.data['zodIssues']).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: ['subdomain'] })]),
    );
    const forbidden = await trpcErrorOf(
      h.member.client.integrations.configureInstance.mutate({
        vendor: 'zendesk',
        subdomain: 'acme',
      }),
    );
    expect(forbidden.code).toBe('FORBIDDEN');
    expect(await trpcErrorOf(h.member.client.audit.list.query({}))).toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(
      (
        await trpcErrorOf(
          h.member.client.integrations.oauthUrl.query({ vendor: 'servicenow', flow: 'app' }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    expect(
      (
        await trpcErrorOf(
          h.admin.client.integrations.oauthUrl.query({ vendor: 'nope-provider', flow: 'app' }),
        )
      ).code,
    ).toBe('NOT_FOUND');
  });

  it('asks an admin which Atlassian site the org uses when an account reaches several; every connection then stays on it', async () => {
    const confluence = async (who = h.member) =>
      (await who.client.integrations.list.query()).find((i) => i.provider.key === 'confluence');
    const siteRefusal = (who: typeof h.admin, site: string) =>
      trpcErrorOf(who.client.integrations.configureInstance.mutate({ vendor: 'confluence', site }));
    // Sam reaches two sites (Atlassian lists the other one first); Ivy only the other one.
    await h.fakeClient.setUsers([
      { id: 'u-sam', email: 'sam@acme.test', name: 'Sam', tenantId: 'acme', sites: ['initech'] },
      { id: 'u-ivy', email: 'ivy@initech.test', name: 'Ivy', tenantId: 'initech' },
    ]);
    const before = await counts('readable');
    await h.fakeClient.consentAs('u-sam');
    const { url } = await h.member.client.integrations.oauthUrl.query({
      vendor: 'confluence',
      flow: 'user',
    });
    const { stoppedAt } = await new TestBrowser().follow(url, { stopAt: DASHBOARD_URL });
    const back = new URL(stoppedAt!).searchParams;
    expect(Object.fromEntries(back)).toMatchObject({
      oauth: 'refused',
      vendor: 'confluence',
      reason: 'site_choice_required',
      flow: 'user',
    });
    // The sites stay on the edge: the URL carries only the id the dashboard exchanges for them.
    expect(back.has('sites')).toBe(false);
    const choice = { id: back.get('siteChoice')! };
    expect(await h.member.client.integrations.siteChoice.query(choice)).toEqual({
      vendor: 'confluence',
      flow: 'user',
      reason: 'site_choice_required',
      sites: [
        { id: 'initech', name: 'Initech' },
        { id: 'acme', name: 'Acme' },
      ],
    });
    // Only the user who started the connect, in that org, and not past the pending authorization's lifetime.
    for (const who of [h.admin, h.otherAdmin]) {
      expect(await trpcErrorOf(who.client.integrations.siteChoice.query(choice))).toMatchObject({
        code: 'NOT_FOUND',
      });
    }
    expect(
      await trpcErrorOf(h.member.client.integrations.siteChoice.query({ id: randomUUID() })),
    ).toMatchObject({ code: 'NOT_FOUND' });
    await h.db.query(
      `update edge.pending_authorization set completed_at = completed_at - interval '9 minutes' where id = $1`,
      [choice.id],
    );
    expect(await h.member.client.integrations.siteChoice.query(choice)).toMatchObject({
      vendor: 'confluence',
    });
    await h.db.query(
      `update edge.pending_authorization set completed_at = completed_at - interval '2 minutes' where id = $1`,
      [choice.id],
    );
    expect(await trpcErrorOf(h.member.client.integrations.siteChoice.query(choice))).toMatchObject({
      code: 'NOT_FOUND',
    });
    // Not the first site listed, nor any: nothing is stored until the org's site is chosen.
    expect(await counts('readable')).toEqual(before);

    // Only an admin chooses, only a site, only for a provider with sites.
    expect(await siteRefusal(h.member, 'acme')).toMatchObject({ code: 'FORBIDDEN' });
    for (const input of [
      { vendor: 'servicenow', site: 'acme' },
      { vendor: 'confluence', subdomain: 'acme' },
      { vendor: 'confluence', site: 'acme', subdomain: 'acme' },
      { vendor: 'confluence', site: '../acme' },
    ]) {
      expect(
        await trpcErrorOf(h.admin.client.integrations.configureInstance.mutate(input)),
      ).toMatchObject({ code: 'BAD_REQUEST' });
    }
    expect(
      await h.admin.client.integrations.configureInstance.mutate({
        vendor: 'confluence',
        site: 'acme',
      }),
    ).toMatchObject({ site: 'acme', subdomain: null });

    // Connecting again puts Sam on the chosen site, by name.
    const again = await connectOAuth(h, h.member, 'confluence', 'user', { consentAs: 'u-sam' });
    expect(again.outcome).toBe('connected');
    const [row] = await h.db.query<{ tenant_id: string; details: Record<string, unknown> }>(
      `select tenant_id, details from connection.integration_connection where id = $1`,
      [again.connectionId],
    );
    expect(row).toMatchObject({ tenant_id: 'acme', details: { siteName: 'Acme' } });
    const entry = await confluence();
    expect(entry?.instance?.site).toEqual({ id: 'acme', name: 'Acme' });
    expect(entry?.myConnection).toMatchObject({ tenantId: 'acme', siteName: 'Acme' });

    // An account that does not reach the org's site is refused, not put on its own.
    const mid = await counts('readable');
    const ivy = await connectOAuth(h, h.admin, 'confluence', 'user', { consentAs: 'u-ivy' });
    expect(ivy.outcome).toBe('refused:site_not_reachable');
    expect(await counts('readable')).toEqual(mid);
    // The site stays while a connection is live on it.
    expect(await siteRefusal(h.admin, 'initech')).toMatchObject({
      code: 'CONFLICT',
      data: { reason: 'instance_connected' },
    });
    await h.fakeClient.consentAs(DEFAULT_CONSENT_AS);
  });
});
