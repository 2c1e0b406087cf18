import { createHash } from 'node:crypto';
import { nanos } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS, type TWebhookReceivedEvent } from '@otesse/contracts';
import { builtinWebhookSignature, signWebhook, webhookTimestampHeader } from '@otesse/providers';
import { waitFor } from '@otesse/testing';
import { streamEvents, uuid } from './disconnect-helpers';
import {
  connectOAuth,
  startEdgeReplica,
  startHarness,
  trpcErrorOf,
  type THarness,
} from './e2e-harness';
import { rawHttp } from './raw-http';

const schemeOf = builtinWebhookSignature;

const QB_SECRET = 'qb-verifier-token-0123456789';
const SLACK_SECRET = 'slack-signing-secret-abcdef0123';
const SLACK_SECRET_NEXT = 'slack-signing-secret-next-456789';
const POSTMARK_PASSWORD = 'postmark-basic-password-0123456789';
const GLOBEX_POSTMARK_PASSWORD = 'globex-postmark-password-9876543210';
/** RATE_LIMIT_AUTH_FAILURES' default, which this file's edge runs with. */
const AUTH_FAILURES = 20;

/**
 * Inbound webhooks (seed 000's retention table: inbound endpoints disabled and kept by a disconnect, enabled again
 * on reconnection): the endpoint each instance gets on its first connect receives the provider's signed
 * deliveries, refuses what it cannot verify, answers 410 once disconnected, and takes deliveries again after a
 * reconnect with the secret it kept.
 */
describe('inbound webhooks through the edge (all services as processes, real Postgres/NATS/HTTP)', () => {
  let h: THarness;
  let qbInstanceId: string;
  let qbConnectionId: string;

  beforeAll(async () => {
    // The edge's purge (OAuth rows, webhook delivery records) every second instead of every 10 minutes.
    h = await startHarness({
      envFor: (s) => (s === 'edge' ? { EDGE_OAUTH_PURGE_INTERVAL_MS: '1000' } : {}),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** POSTs a delivery, signed for `vendor` with `secret` unless `signature` is given. */
  const deliver = async (
    path: string,
    body: string | Buffer,
    opts: {
      vendor?: string;
      secret?: string;
      signature?: string | null;
      timestamp?: string;
      /** The URL the signature covers, for providers that sign it (default: the one called). */
      signedUrl?: string;
      headers?: Record<string, string>;
      method?: string;
      /** Another edge replica than the harness's. */
      edgeUrl?: string;
    } = {},
  ) => {
    const vendor = opts.vendor ?? 'quickbooks';
    const scheme = schemeOf(vendor);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...opts.headers,
    };
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const signature =
      opts.signature === undefined
        ? signWebhook(
            scheme,
            opts.secret ?? QB_SECRET,
            text,
            opts.timestamp ?? null,
            opts.signedUrl ?? `${h.stack.edgeUrl}${path}`,
          )
        : opts.signature;
    if (signature !== null) headers[scheme.header] = signature;
    const timestampHeader = webhookTimestampHeader(scheme);
    if (opts.timestamp && timestampHeader) headers[timestampHeader] = opts.timestamp;
    const res = await fetch(`${opts.edgeUrl ?? h.stack.edgeUrl}${path}`, {
      method: opts.method ?? 'POST',
      headers,
      ...(opts.method === 'GET'
        ? {}
        : { body: typeof body === 'string' ? body : new Uint8Array(body) }),
    });
    const json = (await res.json().catch(() => null)) as {
      accepted?: boolean;
      duplicate?: boolean;
      error?: { code: string; reason?: string; message: string };
    } | null;
    return { status: res.status, json };
  };

  const qbPath = () => `/webhooks/quickbooks/${qbInstanceId}`;
  const received = (instanceId: string) =>
    streamEvents<TWebhookReceivedEvent>(
      h.nc,
      'integrations.webhook.received',
      (e) => e.instanceId === instanceId,
    );

  it('has no endpoint before the first connect, and no secret can be set for it yet', async () => {
    const before = await h.admin.client.integrations.webhookEndpoint.query({
      vendor: 'quickbooks',
    });
    expect(before).toMatchObject({ supported: true, endpoint: null, secretConfigured: false });
    expect(before.secretHint).toContain('Verifier token');
    const err = await trpcErrorOf(
      h.admin.client.integrations.setWebhookSecret.mutate({
        vendor: 'quickbooks',
        secret: QB_SECRET,
      }),
    );
    expect(err.code).toBe('PRECONDITION_FAILED');
    expect(
      await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'google' }),
    ).toMatchObject({ supported: false, endpoint: null });
  });

  it('gives a connected instance its endpoint URL, refusing deliveries until a secret is set', async () => {
    const { outcome, connectionId } = await connectOAuth(h, h.admin, 'quickbooks', 'app');
    expect(outcome).toBe('connected');
    qbConnectionId = connectionId!;
    const list = await h.admin.client.integrations.list.query();
    const qb = list.find((i) => i.provider.key === 'quickbooks')!;
    expect(qb.provider.webhooks).toBe(true);
    qbInstanceId = qb.instance!.id;

    const view = await h.member.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
    expect(view.endpoint).toEqual({
      url: `${h.stack.edgeUrl}/webhooks/quickbooks/${qbInstanceId}`,
      status: 'enabled',
      lastDeliveryAt: null,
      lastRefusal: null,
    });
    expect(view.secretConfigured).toBe(false);

    const before = Date.now();
    const r = await deliver(qbPath(), '{"eventNotifications":[]}');
    expect(r.status).toBe(401);
    expect(r.json?.error).toMatchObject({ code: 'UNAUTHORIZED', reason: 'invalid_signature' });
    expect(await received(qbInstanceId)).toEqual([]);
    // The caller learns nothing more; the endpoint tells the org's admins why (no secret set yet), and when.
    expect(JSON.stringify(r.json)).not.toContain('secret');
    const refusal = await waitFor(
      async () =>
        (await h.viewer.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' }))
          .endpoint?.lastRefusal ?? undefined,
    );
    expect(refusal.reason).toBe('signature_no_secret');
    expect(Date.parse(refusal.at)).toBeGreaterThanOrEqual(before - 1_000);
  });

  it('lets only an admin set the secret, refuses bad input, and never hands the secret back', async () => {
    expect(
      (
        await trpcErrorOf(
          h.member.client.integrations.setWebhookSecret.mutate({
            vendor: 'quickbooks',
            secret: QB_SECRET,
          }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    const short = await trpcErrorOf(
      h.admin.client.integrations.setWebhookSecret.mutate({
        vendor: 'quickbooks',
        secret: 'short',
      }),
    );
    expect(short.code).toBe('BAD_REQUEST');
    expect(JSON.stringify(short.data)).toContain('secret');
    const unsupported = await trpcErrorOf(
      h.admin.client.integrations.setWebhookSecret.mutate({ vendor: 'google', secret: QB_SECRET }),
    );
    expect(unsupported.code).toBe('BAD_REQUEST');
    // The other org has no QuickBooks instance of its own: nothing of Acme's is reachable from there.
    expect(
      (
        await trpcErrorOf(
          h.otherAdmin.client.integrations.setWebhookSecret.mutate({
            vendor: 'quickbooks',
            secret: QB_SECRET,
          }),
        )
      ).code,
    ).toBe('PRECONDITION_FAILED');
    expect(
      (await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' }))
        .secretConfigured,
    ).toBe(false);

    const set = await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'quickbooks',
      secret: QB_SECRET,
    });
    expect(set.secretConfigured).toBe(true);
    expect(JSON.stringify(set)).not.toContain(QB_SECRET);
    const view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
    expect(view.secretConfigured).toBe(true);
    expect(JSON.stringify(view)).not.toContain(QB_SECRET);
    // Encrypted at rest: no column of the vault's table holds it.
    const rows = await h.db.query<Record<string, unknown>>('select * from vault.webhook_secret');
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(QB_SECRET);

    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'webhook_secret.set' },
      });
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        actorUserId: h.admin.id,
        provider: 'quickbooks',
        targets: { instanceId: qbInstanceId },
      });
      expect(JSON.stringify(entries)).not.toContain(QB_SECRET);
      return true;
    });
  });

  it('accepts a signed delivery, publishes it once for the org, and the instance’s jobs run soon', async () => {
    const body = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    const first = await deliver(qbPath(), body);
    expect(first).toEqual({ status: 202, json: { accepted: true, duplicate: false } });
    // The provider's retry of the same delivery is stored once.
    const again = await deliver(qbPath(), body);
    expect(again).toEqual({ status: 202, json: { accepted: true, duplicate: true } });

    // The largest body, in the characters JSON escapes the most (sixfold), still goes through every hop.
    const worst = '\u0001'.repeat(131_072);
    expect((await deliver(qbPath(), worst)).status).toBe(202);

    const events = (await received(qbInstanceId)).filter((e) => e.body !== worst);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      orgId: h.orgId,
      vendor: 'quickbooks',
      instanceId: qbInstanceId,
      body,
      contentType: 'application/json',
      deliveryId: null,
    });

    // The endpoint shows when the newest accepted delivery arrived (the connection service's consumer).
    const delivered = await waitFor(async () => {
      const v = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
      return v.endpoint?.lastDeliveryAt ?? undefined;
    });
    expect(Date.now() - Date.parse(delivered)).toBeLessThan(60_000);
    await waitFor(
      async () => {
        const { jobs } = await h.admin.client.sync.listJobs.query({ instanceId: qbInstanceId });
        expect(jobs.length).toBeGreaterThan(0);
        // Requested by the delivery ('manual', as run-now), not the schedule's first run.
        for (const j of jobs) expect(j.lastExecution?.trigger).toBe('manual');
        return true;
      },
      { timeoutMs: 20_000 },
    );
  });

  it('refuses what it cannot verify or does not know, publishing nothing', async () => {
    const body = JSON.stringify({ eventNotifications: [{ id: uuid() }] });
    const cases = [
      // Signed with another secret.
      [await deliver(qbPath(), body, { secret: 'not-the-verifier-token-000' }), 401],
      // No signature header.
      [await deliver(qbPath(), body, { signature: null }), 401],
      // Signed for another body.
      [
        await deliver(qbPath(), body, {
          signature: signWebhook(schemeOf('quickbooks'), QB_SECRET, '{}', null),
        }),
        401,
      ],
      // The instance is QuickBooks', not Xero's; an unknown instance; a provider without webhooks; not a uuid.
      [await deliver(`/webhooks/xero/${qbInstanceId}`, body, { vendor: 'xero' }), 404],
      [await deliver(`/webhooks/quickbooks/${uuid()}`, body), 404],
      [await deliver(`/webhooks/google/${qbInstanceId}`, body), 404],
      [await deliver('/webhooks/quickbooks/not-an-id', body), 404],
      // A malformed escape in either segment is an unknown endpoint, not a server error.
      [await deliver(`/webhooks/quickbooks/%E0%A4%A`, body), 404],
      [await deliver(`/webhooks/%E0%A4%A/${qbInstanceId}`, body), 404],
      [await deliver(qbPath(), body, { method: 'GET' }), 405],
      [await deliver(qbPath(), Buffer.from([0xff, 0xfe, 0x7b])), 400],
      [await deliver(qbPath(), 'x'.repeat(131_073)), 413],
    ] as const;
    expect(cases.map(([r]) => r.status)).toEqual(cases.map(([, s]) => s));
    for (const [r] of cases) expect(r.json?.error?.code).toBeTruthy();
    // The endpoint's last refusal is one of these (a wrong signature, or none), never a 404's.
    await waitFor(async () => {
      const v = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
      return ['signature_mismatch', 'signature_missing'].includes(
        v.endpoint?.lastRefusal?.reason ?? '',
      );
    });
    // Why deliveries fail is the admins' (settings.view or settings.edit); a member sees the endpoint without it.
    const asMember = await h.member.client.integrations.webhookEndpoint.query({
      vendor: 'quickbooks',
    });
    expect(asMember.endpoint?.url).toBeTruthy();
    expect(asMember.endpoint?.lastRefusal).toBeNull();
    expect((await received(qbInstanceId)).map((e) => e.body)).not.toContain(body);
  });

  it('answers 503 while the vault or the connection service is away (the provider retries), and takes the retry once it is back', async () => {
    for (const service of ['credential-vault', 'connection'] as const) {
      const body = JSON.stringify({ eventNotifications: [{ id: uuid() }] });
      const before = (await received(qbInstanceId)).length;
      await h.stack.kill(service);
      try {
        const r = await deliver(qbPath(), body);
        expect(r.status, service).toBe(503);
        expect(r.json?.error).toMatchObject({ code: 'UNAVAILABLE', reason: 'unavailable' });
      } finally {
        await h.stack.start(service);
      }
      expect(await received(qbInstanceId)).toHaveLength(before);
      const retried = await waitFor(async () => {
        const r = await deliver(qbPath(), body);
        return r.status === 202 ? r : undefined;
      });
      expect(retried.json).toEqual({ accepted: true, duplicate: false });
    }
  });

  it('checks a signed timestamp (Slack): a stale one is refused, a fresh one accepted', async () => {
    const { outcome } = await connectOAuth(h, h.admin, 'slack', 'app');
    expect(outcome).toBe('connected');
    const slack = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )!;
    const path = `/webhooks/slack/${slack.instance!.id}`;
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'slack',
      secret: SLACK_SECRET,
    });
    const body = 'token=x&team_id=T1&event=message';
    const now = Math.floor(Date.now() / 1000);
    const stale = await deliver(path, body, {
      vendor: 'slack',
      secret: SLACK_SECRET,
      timestamp: String(now - 600),
    });
    expect(stale.status).toBe(401);
    const missing = await deliver(path, body, { vendor: 'slack', secret: SLACK_SECRET });
    expect(missing.status).toBe(401);
    const fresh = await deliver(path, body, {
      vendor: 'slack',
      secret: SLACK_SECRET,
      timestamp: String(now),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(fresh).toEqual({ status: 202, json: { accepted: true, duplicate: false } });
    // A secret is the instance's: QuickBooks' does not sign for Slack.
    const crossed = await deliver(path, `${body}&n=2`, {
      vendor: 'slack',
      secret: QB_SECRET,
      timestamp: String(now),
    });
    expect(crossed.status).toBe(401);
    expect(await received(slack.instance!.id)).toHaveLength(1);
  });

  it('replaces a secret with a grace: both are accepted until an admin stops the previous one', async () => {
    const slack = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )!;
    const path = `/webhooks/slack/${slack.instance!.id}`;
    const send = (secret: string, n: number) =>
      deliver(path, `token=x&team_id=T1&event=message&n=${n}`, {
        vendor: 'slack',
        secret,
        timestamp: String(Math.floor(Date.now() / 1000)),
      });
    const tooLong = await trpcErrorOf(
      h.admin.client.integrations.setWebhookSecret.mutate({
        vendor: 'slack',
        secret: SLACK_SECRET_NEXT,
        keepPreviousHours: 169,
      }),
    );
    expect(tooLong.code).toBe('BAD_REQUEST');
    expect(JSON.stringify(tooLong.data)).toContain('keepPreviousHours');

    const before = Date.now();
    const set = await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'slack',
      secret: SLACK_SECRET_NEXT,
      keepPreviousHours: 24,
    });
    const until = Date.parse(set.previousSecret!.validUntil);
    expect(until - before).toBeGreaterThan(23.9 * 3600_000);
    expect(until - before).toBeLessThan(24.1 * 3600_000);
    expect(set.previousSecret!.lastUsedAt).toBeNull();

    // The provider still signs with the old secret, then switches: neither delivery is refused.
    expect((await send(SLACK_SECRET, 1)).status).toBe(202);
    expect((await send(SLACK_SECRET_NEXT, 2)).status).toBe(202);
    const view = await h.member.client.integrations.webhookEndpoint.query({ vendor: 'slack' });
    expect(view.previousSecret?.validUntil).toBe(set.previousSecret!.validUntil);
    expect(Date.now() - Date.parse(view.previousSecret!.lastUsedAt!)).toBeLessThan(60_000);
    expect(JSON.stringify(view)).not.toContain(SLACK_SECRET);

    expect(
      (
        await trpcErrorOf(
          h.member.client.integrations.expirePreviousWebhookSecret.mutate({ vendor: 'slack' }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    expect(
      (
        await trpcErrorOf(
          h.otherAdmin.client.integrations.expirePreviousWebhookSecret.mutate({ vendor: 'slack' }),
        )
      ).code,
    ).toBe('PRECONDITION_FAILED');
    expect((await send(SLACK_SECRET, 3)).status).toBe(202);

    await expect(
      h.admin.client.integrations.expirePreviousWebhookSecret.mutate({ vendor: 'slack' }),
    ).resolves.toEqual({ expired: true });
    expect((await send(SLACK_SECRET, 4)).status).toBe(401);
    expect((await send(SLACK_SECRET_NEXT, 5)).status).toBe(202);
    expect(
      (await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'slack' })).previousSecret,
    ).toBeNull();
    await expect(
      h.admin.client.integrations.expirePreviousWebhookSecret.mutate({ vendor: 'slack' }),
    ).resolves.toEqual({ expired: false });

    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'webhook_secret.previous_expired' },
      });
      // Once: the second request found nothing to expire.
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ actorUserId: h.admin.id, provider: 'slack' });
      const sets = await h.admin.client.audit.list.query({
        filters: { action: 'webhook_secret.set', provider: 'slack' },
      });
      expect(sets.entries[0]?.details).toEqual({
        previousKeptUntil: set.previousSecret!.validUntil,
      });
      expect(JSON.stringify([entries, sets])).not.toContain(SLACK_SECRET);
      return true;
    });
  });

  it('removes the secret on request: deliveries are refused until a new one is set', async () => {
    const slack = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )!;
    const path = `/webhooks/slack/${slack.instance!.id}`;
    const send = (n: number) =>
      deliver(path, `token=x&team_id=T1&event=removed&n=${n}`, {
        vendor: 'slack',
        secret: SLACK_SECRET_NEXT,
        timestamp: String(Math.floor(Date.now() / 1000)),
      });
    expect((await send(1)).status).toBe(202);
    expect(
      (
        await trpcErrorOf(
          h.member.client.integrations.removeWebhookSecret.mutate({ vendor: 'slack' }),
        )
      ).code,
    ).toBe('FORBIDDEN');
    await expect(
      h.admin.client.integrations.removeWebhookSecret.mutate({ vendor: 'slack' }),
    ).resolves.toEqual({ removed: true });
    expect((await send(2)).status).toBe(401);
    const view = await waitFor(async () => {
      const v = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'slack' });
      return v.endpoint?.lastRefusal?.reason === 'signature_no_secret' ? v : undefined;
    });
    expect(view).toMatchObject({ secretConfigured: false, previousSecret: null });
    expect(view.endpoint?.status).toBe('enabled');
    await expect(
      h.admin.client.integrations.removeWebhookSecret.mutate({ vendor: 'slack' }),
    ).resolves.toEqual({ removed: false });
    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'webhook_secret.removed' },
      });
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ actorUserId: h.admin.id, provider: 'slack' });
      return true;
    });
    // Set again, and deliveries are taken again.
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'slack',
      secret: SLACK_SECRET_NEXT,
    });
    expect((await send(3)).status).toBe(202);
  });

  it("checks HubSpot's v3 signature over the URL it called, the body and a timestamp in milliseconds", async () => {
    const { outcome } = await connectOAuth(h, h.admin, 'hubspot', 'app');
    expect(outcome).toBe('connected');
    const secret = 'hubspot-client-secret-0123456789';
    await h.admin.client.integrations.setWebhookSecret.mutate({ vendor: 'hubspot', secret });
    const { endpoint } = await h.admin.client.integrations.webhookEndpoint.query({
      vendor: 'hubspot',
    });
    const path = new URL(endpoint!.url).pathname;
    const body = JSON.stringify([{ eventId: 1, subscriptionType: 'contact.creation' }]);
    const opts = { vendor: 'hubspot', secret };
    expect(
      (await deliver(path, body, { ...opts, timestamp: String(Date.now() - 600_000) })).status,
    ).toBe(401);
    expect(
      (
        await deliver(path, body, {
          ...opts,
          timestamp: String(Date.now()),
          signedUrl: endpoint!.url.replace('/hubspot/', '/hubspot-other/'),
        })
      ).status,
    ).toBe(401);
    // Signed over the URL the admin registered at HubSpot: the endpoint's public URL.
    expect(
      await deliver(path, body, {
        ...opts,
        timestamp: String(Date.now()),
        signedUrl: endpoint!.url,
      }),
    ).toEqual({ status: 202, json: { accepted: true, duplicate: false } });
  });

  it("receives Postmark's deliveries by the basic credentials in the URL an admin gave it", async () => {
    await h.admin.client.integrations.connectApiKey.mutate({
      vendor: 'postmark',
      apiKey: 'pm-server-token-0123456789',
      senderEmails: ['billing@acme.test'],
    });
    const view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'postmark' });
    expect(view).toMatchObject({
      supported: true,
      authentication: { kind: 'basic', username: 'otesse' },
      secretConfigured: false,
    });
    expect(view.secretHint).toContain('password');
    const path = new URL(view.endpoint!.url).pathname;
    const body = JSON.stringify({ RecordType: 'Bounce', MessageID: uuid(), Email: 'x@y.test' });
    const withCredentials = (password: string) => ({
      vendor: 'postmark',
      signature: `Basic ${Buffer.from(`otesse:${password}`).toString('base64')}`,
    });
    // No password set yet: refused, whatever the caller sends.
    expect((await deliver(path, body, withCredentials(POSTMARK_PASSWORD))).status).toBe(401);
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'postmark',
      secret: POSTMARK_PASSWORD,
    });
    expect((await deliver(path, body, withCredentials('not-the-password-0123'))).status).toBe(401);
    expect((await deliver(path, body, { vendor: 'postmark', signature: null })).status).toBe(401);
    expect(await deliver(path, body, withCredentials(POSTMARK_PASSWORD))).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    const instanceId = path.split('/').pop()!;
    expect((await received(instanceId)).map((e) => e.body)).toEqual([body]);
  });

  /**
   * Lets JetStream forget every msgID at once (its duplicate window cut to 100 ms, then restored): what
   * "later than two minutes" looks like to the stream, without waiting for it.
   */
  const pastDuplicateWindow = async <T>(fn: () => Promise<T>): Promise<T> => {
    const jsm = await h.nc.jetstreamManager();
    const { config } = await jsm.streams.info('WEBHOOKS');
    await jsm.streams.update('WEBHOOKS', { ...config, duplicate_window: nanos(100) });
    try {
      await new Promise((r) => setTimeout(r, 500));
      return await fn();
    } finally {
      await jsm.streams.update('WEBHOOKS', {
        ...config,
        duplicate_window: nanos(STREAMS.WEBHOOKS.duplicateWindowMs),
      });
    }
  };
  const replayedCount = async (vendor: string) => {
    const text = await (await fetch(`${h.stack.edgeUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) =>
        l.startsWith(`otesse_webhook_deliveries_total{vendor="${vendor}",outcome="replayed"}`),
      );
    return Number(line?.split(' ').pop() ?? 0);
  };
  const sha256 = (body: string) => createHash('sha256').update(body).digest('hex');
  const seenRows = async (body: string) =>
    h.db.query<{ signed_timestamp: string; published: boolean }>(
      `select signed_timestamp, published_at is not null as published from edge.webhook_delivery
        where body_sha256 = $1 order by signed_timestamp`,
      [sha256(body)],
    );

  it('does not publish a captured delivery again when it is replayed later, whatever delivery id it carries', async () => {
    // QuickBooks signs the body only: nothing in a delivery dates it, so a copy verifies forever.
    const entityId = uuid();
    const body = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: entityId }] });
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    expect(await seenRows(body)).toEqual([{ signed_timestamp: '', published: true }]);
    const replayedBefore = await replayedCount('quickbooks');
    const replays = await pastDuplicateWindow(async () => [
      await deliver(qbPath(), body),
      // An unsigned header changes nothing: the record is keyed by what was signed.
      await deliver(qbPath(), body, { headers: { 'intuit-t-id': uuid(), 'x-request-id': uuid() } }),
    ]);
    // Answered 2xx (a provider's genuine late retry must stop), not published again.
    for (const r of replays)
      expect(r).toEqual({ status: 202, json: { accepted: true, duplicate: true } });
    expect((await received(qbInstanceId)).filter((e) => e.body === body)).toHaveLength(1);
    expect(await replayedCount('quickbooks')).toBe(replayedBefore + 2);
    // The log says it was a duplicate, naming the delivery by its hash: nothing of the body or the secret.
    const logs = h.stack.output('edge');
    expect(logs).toContain('webhook delivery duplicate');
    expect(logs).toContain(sha256(body));
    expect(logs).not.toContain(entityId);
    expect(logs).not.toContain(QB_SECRET);

    // A different genuine delivery is published. Basic credentials (Postmark) sign nothing, so their deliveries
    // are not recorded: an identical body past JetStream's window is published again (a genuine second event).
    const next = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    expect((await deliver(qbPath(), next)).json).toEqual({ accepted: true, duplicate: false });
    expect((await received(qbInstanceId)).filter((e) => e.body === next)).toHaveLength(1);
    const { endpoint } = await h.admin.client.integrations.webhookEndpoint.query({
      vendor: 'postmark',
    });
    const postmark = new URL(endpoint!.url).pathname;
    const credentials = {
      vendor: 'postmark',
      signature: `Basic ${Buffer.from(`otesse:${POSTMARK_PASSWORD}`).toString('base64')}`,
    };
    const bounce = JSON.stringify({ RecordType: 'Bounce', MessageID: uuid() });
    expect((await deliver(postmark, bounce, credentials)).json).toEqual({
      accepted: true,
      duplicate: false,
    });
    expect((await pastDuplicateWindow(() => deliver(postmark, bounce, credentials))).json).toEqual({
      accepted: true,
      duplicate: false,
    });
    expect(
      (await received(postmark.split('/').pop()!)).filter((e) => e.body === bounce),
    ).toHaveLength(2);
    expect(await seenRows(bounce)).toEqual([]);
  });

  it('tells two signed deliveries apart by their signed timestamps, and a replay within the freshness window is not published', async () => {
    const slack = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )!;
    const path = `/webhooks/slack/${slack.instance!.id}`;
    const body = `token=x&team_id=T1&event=replayed&n=${uuid()}`;
    const now = Math.floor(Date.now() / 1000);
    const at = (ts: number) =>
      deliver(path, body, { vendor: 'slack', secret: SLACK_SECRET_NEXT, timestamp: String(ts) });
    expect((await at(now)).json).toEqual({ accepted: true, duplicate: false });
    // Still fresh for Slack's 5 minutes, past JetStream's window: refused as the record's, not the stream's.
    expect((await pastDuplicateWindow(() => at(now))).json).toEqual({
      accepted: true,
      duplicate: true,
    });
    // The same body signed at another second is another delivery.
    expect((await pastDuplicateWindow(() => at(now - 1))).json).toEqual({
      accepted: true,
      duplicate: false,
    });
    expect((await received(slack.instance!.id)).filter((e) => e.body === body)).toHaveLength(2);
    expect(await seenRows(body)).toEqual([
      { signed_timestamp: String(now - 1), published: true },
      { signed_timestamp: String(now), published: true },
    ]);
  });

  it('publishes a delivery whose claim an edge left unpublished (it died mid-way), and asks a copy arriving during a live claim to retry', async () => {
    const body = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    const endpointId = (
      await h.db.query<{ id: string }>(
        `select id from connection.webhook_endpoint where instance_id = $1`,
        [qbInstanceId],
      )
    )[0]!.id;
    const claimedAgo = (age: string) =>
      h.db.query(
        `insert into edge.webhook_delivery
           (endpoint_id, body_sha256, signed_timestamp, received_at, claim_id, claimed_at, published_at)
         values ($1, $2, '', now() - $3::interval, gen_random_uuid(), now() - $3::interval, null)
         on conflict (endpoint_id, body_sha256, signed_timestamp)
         do update set claimed_at = excluded.claimed_at, published_at = null`,
        [endpointId, sha256(body), age],
      );
    // Another edge is publishing it right now: this copy is not answered 2xx before that one is done.
    await claimedAgo('1 second');
    const busy = await deliver(qbPath(), body);
    expect(busy.status).toBe(503);
    expect(busy.json?.error).toMatchObject({ code: 'UNAVAILABLE', reason: 'unavailable' });
    expect((await received(qbInstanceId)).filter((e) => e.body === body)).toHaveLength(0);
    // That edge died before publishing: the provider's next retry is taken over and published, once.
    await claimedAgo('2 minutes');
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: true },
    });
    expect((await received(qbInstanceId)).filter((e) => e.body === body)).toHaveLength(1);
  });

  it('forgets deliveries first received longer ago than the retention (7 days): a copy is then published again', async () => {
    const old = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    const recent = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    for (const body of [old, recent]) expect((await deliver(qbPath(), body)).status).toBe(202);
    await h.db.query(
      `update edge.webhook_delivery set received_at = received_at - $2::interval where body_sha256 = $1`,
      [sha256(old), '7 days 1 minute'],
    );
    await h.db.query(
      `update edge.webhook_delivery set received_at = received_at - $2::interval where body_sha256 = $1`,
      [sha256(recent), '6 days 23 hours'],
    );
    await waitFor(async () => (await seenRows(old)).length === 0, {
      timeoutMs: 15_000,
      what: 'the record of the 7-day-old delivery to be purged',
    });
    expect(await seenRows(recent)).toHaveLength(1);
    const [again, stillKnown] = await pastDuplicateWindow(async () => [
      await deliver(qbPath(), old),
      await deliver(qbPath(), recent),
    ]);
    expect(again.json).toEqual({ accepted: true, duplicate: false });
    expect(stillKnown.json).toEqual({ accepted: true, duplicate: true });
    expect((await received(qbInstanceId)).filter((e) => e.body === old)).toHaveLength(2);
  });

  const slackPath = async () => {
    const slack = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'slack',
    )!;
    return `/webhooks/slack/${slack.instance!.id}`;
  };
  const eventsOf = async (instanceId: string, body: string) =>
    (await received(instanceId)).filter((e) => e.body === body);

  it('forgets a timestamped delivery (Slack) 15 minutes after it came, a body-only one (QuickBooks) only after the retention; a copy of the forgotten one is refused as stale', async () => {
    const path = await slackPath();
    const slackInstanceId = path.split('/').pop()!;
    const slackBody = `token=x&team_id=T1&event=expiring&n=${uuid()}`;
    // Signed 290 s ago: fresh now, stale (past the 5 minutes) in 10 s, as any copy of it is once its record goes.
    const signedAt = Math.floor(Date.now() / 1000) - 290;
    const sendSlack = () =>
      deliver(path, slackBody, {
        vendor: 'slack',
        secret: SLACK_SECRET_NEXT,
        timestamp: String(signedAt),
      });
    expect(await sendSlack()).toEqual({ status: 202, json: { accepted: true, duplicate: false } });
    const qbBody = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    expect(await deliver(qbPath(), qbBody)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    // 16 minutes pass, as the database dates the records.
    for (const body of [slackBody, qbBody]) {
      await h.db.query(
        `update edge.webhook_delivery set received_at = received_at - interval '16 minutes',
           claimed_at = claimed_at - interval '16 minutes', published_at = published_at - interval '16 minutes'
          where body_sha256 = $1`,
        [sha256(body)],
      );
    }
    await waitFor(async () => (await seenRows(slackBody)).length === 0, {
      timeoutMs: 15_000,
      what: "the purge of the 16-minute-old Slack delivery's record",
    });
    // Body-only: nothing but the record stops a copy, kept for the retention (7 days).
    expect(await seenRows(qbBody)).toEqual([{ signed_timestamp: '', published: true }]);

    // The Slack copy, now that its timestamp is past the tolerance: refused before any record is read.
    await waitFor(() => Date.now() > (signedAt + 301) * 1000, { timeoutMs: 20_000 });
    const replay = await sendSlack();
    expect(replay.status).toBe(401);
    expect(replay.json?.error).toMatchObject({ code: 'UNAUTHORIZED', reason: 'invalid_signature' });
    await waitFor(
      async () =>
        (await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'slack' })).endpoint
          ?.lastRefusal?.reason === 'timestamp_stale',
      { what: "the Slack endpoint's last refusal to be the stale timestamp" },
    );
    expect(await eventsOf(slackInstanceId, slackBody)).toHaveLength(1);
    // The QuickBooks copy past JetStream's window: still known, not published again.
    expect((await pastDuplicateWindow(() => deliver(qbPath(), qbBody))).json).toEqual({
      accepted: true,
      duplicate: true,
    });
    expect(await eventsOf(qbInstanceId, qbBody)).toHaveLength(1);
  });

  it('answers 503 when JetStream refuses the publish, leaves no claim behind, and takes the same delivery at once afterwards', async () => {
    const body = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    const jsm = await h.nc.jetstreamManager();
    const { config } = await jsm.streams.info('WEBHOOKS');
    // The stream stops taking webhook deliveries (as if it were away): the edge's publish of one fails.
    await jsm.streams.update('WEBHOOKS', {
      ...config,
      subjects: ['integrations.webhook.paused'],
    });
    let refused;
    try {
      refused = await deliver(qbPath(), body);
    } finally {
      await jsm.streams.update('WEBHOOKS', config);
    }
    expect(refused.status).toBe(503);
    expect(refused.json?.error).toMatchObject({ code: 'UNAVAILABLE', reason: 'unavailable' });
    // The claim was released: no row, so the provider's retry is not answered "in flight" or "duplicate".
    expect(await seenRows(body)).toEqual([]);
    expect(await eventsOf(qbInstanceId, body)).toEqual([]);
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    expect(await seenRows(body)).toEqual([{ signed_timestamp: '', published: true }]);
    expect(await eventsOf(qbInstanceId, body)).toHaveLength(1);
  });

  it('takes over the claim of an edge that died after publishing but before marking: the copy is stored once, answered duplicate, and marked', async () => {
    const body = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    // What that edge left: published on JetStream, its claim two minutes old and never marked.
    await h.db.query(
      `update edge.webhook_delivery set published_at = null, claimed_at = now() - interval '2 minutes'
        where body_sha256 = $1`,
      [sha256(body)],
    );
    expect(await seenRows(body)).toEqual([{ signed_timestamp: '', published: false }]);
    // The provider's retry within JetStream's two minutes: taken over, published again under the same msgID,
    // which the stream drops (one publish more at worst, as the receiver documents), and marked.
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: true },
    });
    expect(await eventsOf(qbInstanceId, body)).toHaveLength(1);
    expect(await seenRows(body)).toEqual([{ signed_timestamp: '', published: true }]);
    // Marked: a copy past the window is answered from the record.
    expect((await pastDuplicateWindow(() => deliver(qbPath(), body))).json).toEqual({
      accepted: true,
      duplicate: true,
    });
    expect(await eventsOf(qbInstanceId, body)).toHaveLength(1);
  });

  it('publishes a delivery once when two edges take copies of it at the same moment', async () => {
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'zendesk',
      subdomain: 'acme',
    });
    expect((await connectOAuth(h, h.admin, 'zendesk', 'app')).outcome).toBe('connected');
    const zendeskSecret = 'zendesk-signing-secret-0123456789';
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'zendesk',
      secret: zendeskSecret,
    });
    const { endpoint } = await h.admin.client.integrations.webhookEndpoint.query({
      vendor: 'zendesk',
    });
    const zendeskPath = new URL(endpoint!.url).pathname;
    const zendeskInstanceId = zendeskPath.split('/').pop()!;
    const replica = await startEdgeReplica(h);
    try {
      const edges = [h.stack.edgeUrl, replica.url];
      /** Both edges at once; a copy told to retry (503: the other is publishing it) retries until answered. */
      const race = async (send: (edgeUrl: string, i: number) => ReturnType<typeof deliver>) => {
        const first = await Promise.all(edges.map((u, i) => send(u, i)));
        for (const r of first) expect([202, 503]).toContain(r.status);
        // Exactly one of them published it.
        expect(first.filter((r) => r.status === 202 && r.json?.duplicate === false)).toHaveLength(
          1,
        );
        for (const [i, r] of first.entries()) {
          if (r.status === 503) {
            expect(r.json?.error?.reason).toBe('unavailable');
            const retried = await waitFor(async () => {
              const again = await send(edges[i]!, i);
              return again.status === 202 ? again : undefined;
            });
            expect(retried.json).toEqual({ accepted: true, duplicate: true });
          }
        }
      };
      for (let round = 0; round < 5; round++) {
        // QuickBooks: the same body (and so the same msgID) at both edges.
        const qbBody = JSON.stringify({ eventNotifications: [{ realmId: 'r1', id: uuid() }] });
        await race((edgeUrl) => deliver(qbPath(), qbBody, { edgeUrl }));
        expect(await eventsOf(qbInstanceId, qbBody)).toHaveLength(1);
        expect(await seenRows(qbBody)).toEqual([{ signed_timestamp: '', published: true }]);
        // Zendesk: the same signed delivery under two invocation ids (an unsigned header, so two msgIDs JetStream
        // cannot merge): only the edges' claim keeps it to one event.
        const zBody = JSON.stringify({ ticket: { id: uuid(), status: 'open' } });
        const timestamp = new Date().toISOString();
        await race((edgeUrl, i) =>
          deliver(zendeskPath, zBody, {
            vendor: 'zendesk',
            secret: zendeskSecret,
            timestamp,
            edgeUrl,
            headers: { 'x-zendesk-webhook-invocation-id': `${round}-${i}-${uuid()}` },
          }),
        );
        expect(await eventsOf(zendeskInstanceId, zBody)).toHaveLength(1);
        expect(await seenRows(zBody)).toEqual([{ signed_timestamp: timestamp, published: true }]);
      }
    } finally {
      await replica.stop();
    }
  });

  it('merges a ServiceNow body repeated within two minutes (it sends no delivery id), so its rule is advised to send sys_id and sys_updated_on', async () => {
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
    expect((await connectOAuth(h, h.admin, 'servicenow', 'app')).outcome).toBe('connected');
    const view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'servicenow' });
    expect(view.secretHint).toContain('sys_id');
    expect(view.secretHint).toContain('sys_updated_on');
    const password = 'servicenow-basic-password-0123456789';
    await h.admin.client.integrations.setWebhookSecret.mutate({
      vendor: 'servicenow',
      secret: password,
    });
    const path = new URL(view.endpoint!.url).pathname;
    const instanceId = path.split('/').pop()!;
    const credentials = {
      vendor: 'servicenow',
      signature: `Basic ${Buffer.from(`otesse:${password}`).toString('base64')}`,
    };
    // A rule posting only the fields that changed: two changes 5 s apart look alike.
    const body = JSON.stringify({ table: 'incident', state: 'resolved', rule: uuid() });
    expect(await deliver(path, body, credentials)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await deliver(path, body, credentials)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: true },
    });
    expect(await eventsOf(instanceId, body)).toHaveLength(1);
    // Not recorded (basic credentials sign nothing): JetStream's window merged them, by the body's hash.
    expect(await seenRows(body)).toEqual([]);
    // With the record's sys_id and sys_updated_on, as advised, two changes are two events.
    const change = (updatedOn: string) =>
      JSON.stringify({
        table: 'incident',
        sys_id: 'a1b2c3',
        sys_updated_on: updatedOn,
        state: 'resolved',
      });
    const stamp = Date.now();
    for (const at of [stamp, stamp + 5_000]) {
      expect((await deliver(path, change(new Date(at).toISOString()), credentials)).json).toEqual({
        accepted: true,
        duplicate: false,
      });
    }
  });

  it('answers 410 once disconnected (endpoint disabled, kept with its secret) and accepts again after reconnecting', async () => {
    const done = await h.admin.client.disconnect.start.mutate({
      connectionId: qbConnectionId,
      confirm: true,
      waitMs: 20_000,
    });
    expect(done.saga.status).toBe('completed');
    const view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
    expect(view.endpoint?.status).toBe('disabled');
    expect(view.secretConfigured).toBe(true);

    const eventsBefore = (await received(qbInstanceId)).length;
    const body = JSON.stringify({ eventNotifications: [{ id: uuid() }] });
    const gone = await deliver(qbPath(), body);
    expect(gone.status).toBe(410);
    expect(gone.json?.error?.reason).toBe('endpoint_disabled');
    // Unsigned, it learns nothing about the endpoint's state.
    expect((await deliver(qbPath(), body, { signature: null })).status).toBe(401);
    expect(await received(qbInstanceId)).toHaveLength(eventsBefore);

    const { outcome } = await connectOAuth(h, h.admin, 'quickbooks', 'app');
    expect(outcome).toBe('connected');
    const back = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
    expect(back.endpoint).toMatchObject({ url: view.endpoint!.url, status: 'enabled' });
    // A refused delivery is no delivery: the last one is still the one before the disconnect.
    expect(back.endpoint?.lastDeliveryAt).toBe(view.endpoint?.lastDeliveryAt);
    expect(back.secretConfigured).toBe(true);
    expect(await deliver(qbPath(), body)).toEqual({
      status: 202,
      json: { accepted: true, duplicate: false },
    });
    expect(await received(qbInstanceId)).toHaveLength(eventsBefore + 1);
  });

  it("keeps one org's refused deliveries from locking out other orgs' deliveries and API tokens on the same provider IP", async () => {
    // A provider sends every customer's deliveries from the same few addresses: this one, for both orgs.
    const providerIp = '127.0.0.9';
    // Each org's Postmark endpoint with its password (Acme's is there already when the file runs in order).
    const postmarkPath = async (who: typeof h.admin, org: string, password: string) => {
      let view = await who.client.integrations.webhookEndpoint.query({ vendor: 'postmark' });
      if (!view.endpoint) {
        await who.client.integrations.connectApiKey.mutate({
          vendor: 'postmark',
          apiKey: `pm-${org}-server-token-0123456789`,
          senderEmails: [`billing@${org}.test`],
        });
        view = await who.client.integrations.webhookEndpoint.query({ vendor: 'postmark' });
      }
      if (!view.secretConfigured) {
        await who.client.integrations.setWebhookSecret.mutate({
          vendor: 'postmark',
          secret: password,
        });
      }
      return new URL(view.endpoint!.url).pathname;
    };
    const acme = await postmarkPath(h.admin, 'acme', POSTMARK_PASSWORD);
    const globex = await postmarkPath(h.otherAdmin, 'globex', GLOBEX_POSTMARK_PASSWORD);
    const post = async (path: string, password: string, from = providerIp) => {
      const body = JSON.stringify({ RecordType: 'Bounce', MessageID: uuid() });
      const res = await rawHttp(`${h.stack.edgeUrl}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`otesse:${password}`).toString('base64')}`,
        },
        body,
        from,
      });
      return {
        status: res.status,
        retryAfter: res.headers['retry-after'],
        body: res.body,
        sent: body,
      };
    };
    const me = (token: string) =>
      rawHttp(`${h.stack.edgeUrl}/trpc/me.get`, {
        headers: { authorization: `Bearer ${token}` },
        from: providerIp,
      });

    expect((await post(globex, GLOBEX_POSTMARK_PASSWORD)).status).toBe(202);
    // Acme's secret is wrong at the provider: its deliveries are refused until that endpoint's limit is used up.
    let refused = 0;
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    while (!limited && refused < 10 * AUTH_FAILURES) {
      const r = await post(acme, 'acme-wrong-password-0123456789');
      if (r.status === 429) limited = r;
      else {
        expect(r.status).toBe(401);
        refused += 1;
      }
    }
    expect(refused).toBeGreaterThanOrEqual(AUTH_FAILURES);
    if (!limited) throw new Error('never rate limited');
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited.body)).toMatchObject({
      error: {
        code: 'TOO_MANY_REQUESTS',
        reason: 'rate_limited',
        details: { limit: 'auth_failures', retryAfterSec: Number(limited.retryAfter) },
      },
    });
    // That endpoint stays limited from that address, even for a delivery with the right password (a right guess
    // must not get through: checked before the vault is asked), and nothing is published…
    expect((await post(acme, 'acme-wrong-password-0123456789')).status).toBe(429);
    const rightButLimited = await post(acme, POSTMARK_PASSWORD);
    expect(rightButLimited.status).toBe(429);
    // …but from another address the same endpoint takes it.
    const elsewhere = await post(acme, POSTMARK_PASSWORD, '127.0.0.10');
    expect(elsewhere.status).toBe(202);

    // The other org's deliveries from the same address are taken and published.
    const globexAfter = await post(globex, GLOBEX_POSTMARK_PASSWORD);
    expect(globexAfter.status).toBe(202);
    // And API calls from that address with a valid token are answered.
    const asGlobex = await me(h.otherAdmin.token);
    expect(asGlobex.status).toBe(200);
    expect(asGlobex.body).toContain('admin@globex.test');
    expect((await me(h.admin.token)).status).toBe(200);

    const bodiesOf = async (path: string) =>
      (await received(path.split('/').pop()!)).map((e) => e.body);
    expect(await bodiesOf(globex)).toContain(globexAfter.sent);
    expect(await bodiesOf(acme)).toContain(elsewhere.sent);
    expect(await bodiesOf(acme)).not.toContain(rightButLimited.sent);

    // Bad tokens from that address are refused on their own merits (401: the refused deliveries did not count),
    // and still limited, with no effect on valid tokens or on deliveries.
    let guesses = 0;
    let guessLimited = false;
    while (!guessLimited && guesses < 10 * AUTH_FAILURES) {
      const r = await me(`otk_guess-${guesses}`);
      if (r.status === 429) guessLimited = true;
      else {
        expect(r.status).toBe(401);
        guesses += 1;
      }
    }
    expect(guesses).toBeGreaterThanOrEqual(AUTH_FAILURES);
    expect(guessLimited).toBe(true);
    expect((await me(h.otherAdmin.token)).status).toBe(200);
    expect((await post(globex, GLOBEX_POSTMARK_PASSWORD)).status).toBe(202);
  });

  it('an address naming endpoints that do not exist is refused past its allowance, before the body is read; endpoints the edge knows still take its deliveries', async () => {
    const prober = '127.0.0.21';
    let view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'postmark' });
    if (!view.endpoint) {
      await h.admin.client.integrations.connectApiKey.mutate({
        vendor: 'postmark',
        apiKey: 'pm-acme-server-token-0123456789',
        senderEmails: ['billing@acme.test'],
      });
      view = await h.admin.client.integrations.webhookEndpoint.query({ vendor: 'postmark' });
    }
    if (!view.secretConfigured) {
      await h.admin.client.integrations.setWebhookSecret.mutate({
        vendor: 'postmark',
        secret: POSTMARK_PASSWORD,
      });
    }
    const known = new URL(view.endpoint!.url).pathname;
    const post = (path: string) =>
      rawHttp(`${h.stack.edgeUrl}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Basic ${Buffer.from(`otesse:${POSTMARK_PASSWORD}`).toString('base64')}`,
        },
        body: JSON.stringify({ RecordType: 'Bounce', MessageID: uuid() }),
        from: prober,
      });
    // The edge has served this endpoint (a delivery from elsewhere).
    expect(
      (
        await rawHttp(`${h.stack.edgeUrl}${known}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Basic ${Buffer.from(`otesse:${POSTMARK_PASSWORD}`).toString('base64')}`,
          },
          body: JSON.stringify({ RecordType: 'Bounce', MessageID: uuid() }),
          from: '127.0.0.22',
        })
      ).status,
    ).toBe(202);
    let unknown = 0;
    let limited: Awaited<ReturnType<typeof post>> | undefined;
    while (!limited && unknown < 10 * AUTH_FAILURES) {
      const r = await post(`/webhooks/postmark/${uuid()}`);
      if (r.status === 429) limited = r;
      else {
        expect(r.status).toBe(404);
        unknown += 1;
      }
    }
    expect(unknown).toBeGreaterThanOrEqual(AUTH_FAILURES);
    if (!limited) throw new Error('never rate limited');
    expect(JSON.parse(limited.body)).toMatchObject({
      error: { code: 'TOO_MANY_REQUESTS', details: { limit: 'webhook_unknown' } },
    });
    // A malformed path is refused at once (404: nothing to read or look up), and counts too.
    expect((await post('/webhooks/postmark/not-an-id')).status).toBe(404);
    expect((await post(`/webhooks/postmark/${uuid()}`)).status).toBe(429);
    // The endpoint the edge knows takes the address's deliveries all the same (a provider's address that also
    // delivers to a deleted instance).
    expect((await post(known)).status).toBe(202);
    // Another address is not concerned.
    const other = await rawHttp(`${h.stack.edgeUrl}/webhooks/postmark/${uuid()}`, {
      method: 'POST',
      body: '{}',
      from: '127.0.0.23',
    });
    expect(other.status).toBe(404);
  });
});
