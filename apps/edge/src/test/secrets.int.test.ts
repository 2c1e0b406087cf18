import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { builtinWebhookSignature, signWebhook } from '@otesse/providers';
import { TestBrowser, waitFor } from '@otesse/testing';
import type { AppRouter } from '../routers/app.router';
import { DASHBOARD_URL, startHarness, type THarness } from './e2e-harness';

/**
 * Secrets (issue 8): a full OAuth connect → sync → API-key connect → a webhook signing secret and two deliveries →
 * disconnect of the first two, with every process at debug level, leaves no token, refresh token, API key, webhook
 * secret, OAuth client secret or master key in any log line, tRPC response, JetStream message, audit entry — or any
 * other row of any schema.
 */
const POSTMARK_KEY = 'pm-secret-3f9a1c7e5b2d4f6a8c0e';
const QB_SECRET = 'qb-webhook-verifier-7d1e9a4c2b';
const QB_SECRET_NEXT = 'qb-webhook-verifier-next-51f0c3';
const POSTMARK_WEBHOOK_PASSWORD = 'pm-webhook-basic-password-8e2a';

/** The forms a secret could leak in: as is, base64/base64url (Basic auth, JSON blobs), URL-encoded. */
function variants(secret: string): string[] {
  const forms = new Set([
    secret,
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
    encodeURIComponent(secret),
  ]);
  return [...forms].filter((f) => f.length >= 12);
}

describe('secrets never leave the vault (whole stack as processes, debug logs)', () => {
  let h: THarness;
  /** Every tRPC response body of the flow, raw. */
  const responses: string[] = [];
  /** Every URL the browser went through (OAuth redirects). */
  const hops: string[] = [];
  let client: ReturnType<typeof createTRPCClient<AppRouter>>;

  beforeAll(async () => {
    h = await startHarness({ envFor: () => ({ LOG_LEVEL: 'debug' }) });
    client = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `${h.stack.edgeUrl}/trpc`,
          headers: { authorization: `Bearer ${h.admin.token}` },
          fetch: async (url, init) => {
            const res = await fetch(url, init as RequestInit);
            responses.push(await res.clone().text());
            return res;
          },
        }),
      ],
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('runs the whole flow: OAuth connect, a sync, an API-key connect, two disconnects', async () => {
    // OAuth as a browser does it, keeping every URL it went through.
    const { url } = await client.integrations.oauthUrl.query({ vendor: 'google', flow: 'app' });
    const browsed = await new TestBrowser().follow(url, { stopAt: DASHBOARD_URL });
    expect(browsed.stoppedAt).toContain('oauth=connected');
    hops.push(...browsed.hops, browsed.stoppedAt!);
    const list = await client.integrations.list.query();
    const google = list.find((i) => i.provider.key === 'google')!;
    const instanceId = google.instance!.id;
    const googleConnectionId = google.appConnection!.id;

    // A sync run now: the scheduler fetches the access token from the vault and calls the provider's data API.
    const { jobs } = await client.sync.listJobs.query({ instanceId });
    const jobId = jobs[0]!.job.id;
    await client.sync.runNow.mutate({ jobId });
    const execution = await waitFor(
      async () => {
        const { executions } = await client.sync.listExecutions.query({ jobId });
        return executions.find((e) => e.trigger === 'manual' && e.status !== 'running');
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the manual sync to end' },
    );
    expect(execution.status).toBe('succeeded');
    expect(execution.recordsWritten).toBeGreaterThan(0);

    const postmark = await client.integrations.connectApiKey.mutate({
      vendor: 'postmark',
      apiKey: POSTMARK_KEY,
      senderEmails: ['ops@acme.test'],
    });
    const pmConnection = postmark.id;

    // Inbound webhooks: a signing secret set, one signed delivery accepted, one wrongly signed refused.
    const qb = await new TestBrowser().follow(
      (await client.integrations.oauthUrl.query({ vendor: 'quickbooks', flow: 'app' })).url,
      { stopAt: DASHBOARD_URL },
    );
    expect(qb.stoppedAt).toContain('oauth=connected');
    await client.integrations.setWebhookSecret.mutate({ vendor: 'quickbooks', secret: QB_SECRET });
    const { endpoint } = await client.integrations.webhookEndpoint.query({ vendor: 'quickbooks' });
    const scheme = builtinWebhookSignature('quickbooks');
    const body = '{"eventNotifications":[]}';
    for (const [secret, status] of [
      [QB_SECRET, 202],
      ['not-the-secret-0000000', 401],
    ] as const) {
      const res = await fetch(endpoint!.url, {
        method: 'POST',
        headers: { [scheme.header]: signWebhook(scheme, secret, body, null) },
        body,
      });
      expect(res.status).toBe(status);
    }
    // Replaced with a grace: a delivery still signed with the previous secret is accepted by it.
    await client.integrations.setWebhookSecret.mutate({
      vendor: 'quickbooks',
      secret: QB_SECRET_NEXT,
      keepPreviousHours: 24,
    });
    const byPrevious = await fetch(endpoint!.url, {
      method: 'POST',
      headers: { [scheme.header]: signWebhook(scheme, QB_SECRET, `${body} `, null) },
      body: `${body} `,
    });
    expect(byPrevious.status).toBe(202);
    // Postmark's deliveries carry the password in basic credentials.
    await client.integrations.setWebhookSecret.mutate({
      vendor: 'postmark',
      secret: POSTMARK_WEBHOOK_PASSWORD,
    });
    const pmEndpoint = (await client.integrations.webhookEndpoint.query({ vendor: 'postmark' }))
      .endpoint!;
    const pmScheme = builtinWebhookSignature('postmark');
    const pmDelivery = await fetch(pmEndpoint.url, {
      method: 'POST',
      headers: { [pmScheme.header]: signWebhook(pmScheme, POSTMARK_WEBHOOK_PASSWORD, '{}', null) },
      body: '{}',
    });
    expect(pmDelivery.status).toBe(202);

    for (const connectionId of [googleConnectionId, pmConnection]) {
      const { saga } = await client.disconnect.start.mutate({
        connectionId,
        confirm: true,
        waitMs: 20_000,
      });
      const done = await waitFor(
        async () => {
          const s = await client.disconnect.status.query({ sagaId: saga.id });
          return s.status === 'completed' ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the disconnect to complete' },
      );
      expect(done.status).toBe('completed');
    }
    // Both disconnects are audited before the logs and tables are read.
    await waitFor(
      async () => {
        const { entries } = await client.audit.list.query({
          filters: { action: 'connection.disconnected' },
        });
        return entries.length >= 2;
      },
      { timeoutMs: 20_000, what: 'both disconnects in the audit log' },
    );
    // The operations views of those sagas join the responses the sweep reads.
    const ops = await client.operations.list.query({ type: 'disconnect' });
    expect(ops.items.filter((o) => o.status === 'completed').length).toBeGreaterThanOrEqual(2);
    await client.operations.summary.query();
  });

  it('leaks no secret into logs, responses, events, audit entries or any table', async () => {
    // The secrets of the flow, from where they really are: the provider's own record of what it issued, the
    // providers file, the vault's master key, the edge's API tokens.
    const issued = await h.fakeClient.listTokens();
    expect(issued.filter((t) => t.type === 'access').length).toBeGreaterThanOrEqual(1);
    expect(issued.filter((t) => t.type === 'refresh').length).toBeGreaterThanOrEqual(1);
    const providers = JSON.parse(readFileSync(h.providersFile, 'utf8')) as {
      providers: { key: string; oauth?: { clientId?: string; clientSecret?: string } }[];
    };
    const clientSecrets = providers.providers.flatMap((p) =>
      p.oauth?.clientSecret ? [p.oauth.clientSecret] : [],
    );
    expect(clientSecrets.length).toBeGreaterThan(0);
    const basicAuth = providers.providers.flatMap((p) =>
      p.oauth?.clientId && p.oauth.clientSecret
        ? [Buffer.from(`${p.oauth.clientId}:${p.oauth.clientSecret}`).toString('base64')]
        : [],
    );
    const masterKey = h.stack.vaultMasterKey;
    const masterKeyBytes = masterKey.slice(masterKey.indexOf(':') + 1);
    const secrets: [string, string][] = [
      ...issued.map((t): [string, string] => [`${t.type} token`, t.token]),
      ['Postmark API key', POSTMARK_KEY],
      ['QuickBooks webhook signing secret', QB_SECRET],
      ['QuickBooks replacement webhook signing secret', QB_SECRET_NEXT],
      ['Postmark webhook password', POSTMARK_WEBHOOK_PASSWORD],
      [
        'Postmark webhook basic credentials',
        Buffer.from(`otesse:${POSTMARK_WEBHOOK_PASSWORD}`).toString('base64'),
      ],
      ...clientSecrets.map((s): [string, string] => ['OAuth client secret', s]),
      ...basicAuth.map((s): [string, string] => ['OAuth client Basic credentials', s]),
      ['VAULT_MASTER_KEY', masterKey],
      ['VAULT_MASTER_KEY key part', masterKeyBytes],
      ['VAULT_MASTER_KEY key part (hex)', Buffer.from(masterKeyBytes, 'base64').toString('hex')],
      ...[h.admin, h.member, h.viewer, h.otherAdmin].map((u): [string, string] => [
        `${u.email} API token`,
        u.token,
      ]),
    ];

    // Where to look.
    const places: [string, string][] = [];
    for (const service of h.stack.processes.keys()) {
      const out = h.stack.output(service);
      // Debug lines really were written (a silent log would prove nothing).
      expect(out, service).toContain('"level":"debug"');
      places.push([`${service} log`, out]);
    }
    expect(responses.length).toBeGreaterThan(5);
    places.push(['tRPC responses', responses.join('\n')]);
    places.push(['OAuth redirect URLs', hops.join('\n')]);

    const jsm = await h.nc.jetstreamManager();
    for (const stream of ['INTEGRATIONS', 'WEBHOOKS', 'AUDIT']) {
      const { state } = await jsm.streams.info(stream);
      expect(state.messages, stream).toBeGreaterThan(0);
      const messages: string[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        const headers = m.header ? [...m.header.keys()].map((k) => `${k}: ${m.header.get(k)}`) : [];
        messages.push(`${m.subject}\n${headers.join('\n')}\n${new TextDecoder().decode(m.data)}`);
      }
      expect(messages.length).toBe(state.messages);
      places.push([`${stream} stream`, messages.join('\n')]);
    }

    const audit = await h.db.query<{ row: string }>(
      'select row_to_json(a)::text as row from audit.audit_entry a',
    );
    expect(audit.length).toBeGreaterThanOrEqual(4);
    places.push(['audit entries', audit.map((r) => r.row).join('\n')]);
    // Beyond the list: every row of every schema (the vault's included: ciphertext only).
    const tables = await h.db.query<{ schema: string; name: string }>(
      `select table_schema as schema, table_name as name from information_schema.tables
        where table_schema in ('edge', 'vault', 'connection', 'sync', 'audit') and table_type = 'BASE TABLE'`,
    );
    for (const t of tables) {
      const rows = await h.db.query<{ row: string }>(
        `select row_to_json(x)::text as row from "${t.schema}"."${t.name}" x`,
      );
      places.push([`table ${t.schema}.${t.name}`, rows.map((r) => r.row).join('\n')]);
    }

    const leaks: string[] = [];
    for (const [what, secret] of secrets) {
      for (const form of variants(secret)) {
        for (const [where, text] of places) {
          if (text.includes(form)) leaks.push(`${what} (${form.slice(0, 6)}…) in ${where}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});
