import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZErrorReply } from '@otesse/contracts';
import { hashToken } from '@otesse/identity';
import { ZRestError } from '../http/rest-errors';
import { STREAM_REAUTH_MS } from '../routers/disconnect-router/watch-disconnect-progress';
import { startHarness, trpcErrorOf, type THarness } from './e2e-harness';
import { rawHttp as raw, type TRawResponse } from './raw-http';

/**
 * Small limits so a burst is a handful of requests; each bucket refills one request every 2 s, so recovery is
 * seen within the test and a slow box does not refill a bucket in the middle of a burst.
 */
const AUTH_FAILURES = 5;
const OAUTH_REQUESTS = 6;
const TOKEN_CALLS = 25;
const refillWindow = (limit: number): number => limit * 2_000;
const MAX_BODY = 256 * 1024;
const STREAMS = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** tRPC's error shape: `{ error: { data: { code, appCode, reason, retryAfterSec } } }`. */
function trpcError(body: string): Record<string, unknown> {
  const parsed = JSON.parse(body) as { error?: { data?: Record<string, unknown> } };
  return parsed.error?.data ?? {};
}

describe('edge request size and rate limits (edge as a process, real Postgres/NATS/HTTP)', () => {
  let h: THarness;
  let edge: string;

  beforeAll(async () => {
    h = await startHarness({
      // Only the edge answers these: auth, OAuth start/callback refusals and body checks need no other service.
      services: ['edge'],
      envFor: (): Record<string, string> => ({
        EDGE_MAX_BODY_BYTES: String(MAX_BODY),
        RATE_LIMIT_AUTH_FAILURES: String(AUTH_FAILURES),
        RATE_LIMIT_AUTH_WINDOW_MS: String(refillWindow(AUTH_FAILURES)),
        RATE_LIMIT_OAUTH: String(OAUTH_REQUESTS),
        RATE_LIMIT_OAUTH_WINDOW_MS: String(refillWindow(OAUTH_REQUESTS)),
        RATE_LIMIT_TOKEN: String(TOKEN_CALLS),
        RATE_LIMIT_TOKEN_WINDOW_MS: String(refillWindow(TOKEN_CALLS)),
        EDGE_MAX_STREAMS_PER_TOKEN: String(STREAMS),
      }),
    });
    edge = h.stack.edgeUrl;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses an oversized body with a typed 413 on tRPC, REST and OAuth routes, storing nothing', async () => {
    const big = JSON.stringify({ vendor: 'postmark', apiKey: 'k'.repeat(MAX_BODY) });
    // The typed client sees PAYLOAD_TOO_LARGE like any other error code.
    const viaClient = await trpcErrorOf(
      h.admin.client.integrations.connectApiKey.mutate({
        vendor: 'postmark',
        apiKey: 'k'.repeat(MAX_BODY),
        senderEmails: [],
      }),
    );
    expect(viaClient.code).toBe('PAYLOAD_TOO_LARGE');
    expect(viaClient.data).toMatchObject({ httpStatus: 413, appCode: 'PAYLOAD_TOO_LARGE' });

    const declared = await raw(`${edge}/trpc/integrations.connectApiKey`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.admin.token}`, 'content-type': 'application/json' },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(trpcError(declared.body)).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      reason: 'body_too_large',
    });

    // No content-length: the body is cut while it streams in.
    const chunks = [new TextEncoder().encode(big.slice(0, 1_000)), new TextEncoder().encode(big)];
    const streamed = await fetch(`${edge}/trpc/integrations.connectApiKey`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.admin.token}`, 'content-type': 'application/json' },
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    expect(streamed.status).toBe(413);
    expect(trpcError(await streamed.text())).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });

    for (const path of [
      '/v1/account/integrations',
      '/v1/audit/export',
      '/connect/start/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '/connect/google/callback?state=x',
    ]) {
      const res = await raw(`${edge}${path}`, {
        headers: { authorization: `Bearer ${h.admin.token}`, 'content-type': 'application/json' },
        body: big,
      });
      expect(res.status, path).toBe(413);
      const body = JSON.parse(res.body) as unknown;
      if (path.startsWith('/v1/')) {
        // The REST API's one error shape, whichever layer refuses.
        expect(ZRestError.strict().parse(body), path).toMatchObject({
          code: 'PAYLOAD_TOO_LARGE',
          data: { httpStatus: 413, reason: 'body_too_large' },
        });
      } else {
        expect(ZErrorReply.parse(body).error, path).toMatchObject({
          code: 'PAYLOAD_TOO_LARGE',
          reason: 'body_too_large',
        });
      }
    }
    const [stored] = await h.db.query<{ n: string }>(
      'select (select count(*) from edge.pending_authorization) + (select count(*) from edge.saga) as n',
    );
    expect(Number(stored!.n)).toBe(0);
    // The same client's next, normal request goes through.
    expect((await h.admin.client.me.get.query()).email).toBe('admin@acme.test');
  });

  it('answers a burst of failed token verifications from one IP with 429 + Retry-After, then recovers', async () => {
    const from = '127.0.0.2';
    const me = (token: string, ip = from) =>
      raw(`${edge}/trpc/me.get`, { headers: { authorization: `Bearer ${token}` }, from: ip });
    // Guess until refused: at least the allowance is answered 401 first.
    let refusedAfter = 0;
    let limited: TRawResponse | undefined;
    while (!limited && refusedAfter < 10 * AUTH_FAILURES) {
      const res = await me(`otk_guess-${refusedAfter}`);
      if (res.status === 429) limited = res;
      else {
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        refusedAfter += 1;
      }
    }
    expect(refusedAfter).toBeGreaterThanOrEqual(AUTH_FAILURES);
    if (!limited) throw new Error('never rate limited');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(trpcError(limited.body)).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      appCode: 'TOO_MANY_REQUESTS',
      reason: 'rate_limited',
      retryAfterSec: retryAfter,
    });
    // Guesses from that address stay refused, on tRPC and on REST alike (the REST API's error shape)…
    expect((await me('otk_guess-more')).status).toBe(429);
    const guessOnRest = await raw(`${edge}/v1/audit/export`, {
      headers: { authorization: 'Bearer otk_guess-on-rest' },
      from,
    });
    expect(guessOnRest.status).toBe(429);
    expect(guessOnRest.headers['retry-after']).toBeDefined();
    expect(ZRestError.strict().parse(JSON.parse(guessOnRest.body))).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      data: { httpStatus: 429, reason: 'rate_limited', retryAfterSec: expect.any(Number) },
    });
    // …while a valid token from the same address is answered (one client guessing must not lock out the others
    // behind its NAT or proxy), and does not lift the limit for the guesser.
    const valid = await me(h.admin.token);
    expect(valid.status).toBe(200);
    expect(valid.body).toContain('admin@acme.test');
    expect((await me(h.member.token)).status).toBe(200);
    expect((await me('otk_guess-after-valid')).status).toBe(429);
    // Another address, and a request without any token, are not limited either.
    expect((await me('otk_guess-elsewhere', '127.0.0.3')).status).toBe(401);
    expect((await raw(`${edge}/trpc/me.get`, { from })).status).toBe(401);

    await sleep(retryAfter * 1_000);
    expect((await me('otk_guess-again')).status).toBe(401);
    expect((await me(h.admin.token)).status).toBe(200);
  });

  it('answers a burst on the OAuth routes from one IP with 429 + Retry-After, then recovers', async () => {
    const from = '127.0.0.4';
    const paths = (i: number) =>
      i % 2 === 0
        ? `/connect/start/${'B'.repeat(30)}${i}`
        : `/connect/google/callback?state=s${i}&code=c${i}`;
    let answered = 0;
    let limited: TRawResponse | undefined;
    while (!limited && answered < 10 * OAUTH_REQUESTS) {
      const res = await raw(`${edge}${paths(answered)}`, { from });
      if (res.status === 429) limited = res;
      else {
        // Refused on its merits (unknown start key / state), not by the limit.
        expect(res.status).toBe(400);
        expect(res.body).toMatch(/data-reason="(invalid_start|unknown_state)"/);
        answered += 1;
      }
    }
    expect(answered).toBeGreaterThanOrEqual(OAUTH_REQUESTS);
    if (!limited) throw new Error('never rate limited');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(ZErrorReply.parse(JSON.parse(limited.body)).error).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      reason: 'rate_limited',
      details: { limit: 'oauth', retryAfterSec: retryAfter },
    });
    expect((await raw(`${edge}${paths(1)}`, { from: '127.0.0.5' })).status).toBe(400);

    await sleep(retryAfter * 1_000);
    expect((await raw(`${edge}${paths(2)}`, { from })).status).toBe(400);
  });

  it('limits calls per API token, leaving other tokens alone', async () => {
    // One batch of calls: they reach the limit within milliseconds, whatever the box's speed.
    const n = TOKEN_CALLS * 2;
    const batch = await raw(
      `${edge}/trpc/${Array(n).fill('me.get').join(',')}?batch=1&input=${encodeURIComponent('{}')}`,
      { headers: { authorization: `Bearer ${h.viewer.token}` } },
    );
    const items = JSON.parse(batch.body) as { result?: unknown; error?: { data: unknown } }[];
    expect(items).toHaveLength(n);
    const ok = items.filter((i) => i.result).length;
    expect(ok).toBeGreaterThanOrEqual(TOKEN_CALLS);
    expect(ok).toBeLessThan(n);
    const refused = items.find((i) => i.error)!.error!.data;
    expect(refused).toMatchObject({ code: 'TOO_MANY_REQUESTS', reason: 'rate_limited' });
    const retryAfter = Number(batch.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The typed client sees the code too; another user's token is unaffected.
    expect((await trpcErrorOf(h.viewer.client.me.get.query())).code).toBe('TOO_MANY_REQUESTS');
    expect((await h.member.client.me.get.query()).email).toBe('member@acme.test');

    await sleep(retryAfter * 1_000);
    expect((await h.viewer.client.me.get.query()).email).toBe('viewer@acme.test');
  });

  it('caps the progress streams one API token keeps open; a closed one frees its place', async () => {
    // A disconnect that runs for as long as the test needs: another edge holds its lease for an hour.
    const sagaId = randomUUID();
    await h.db.query(
      `insert into edge.saga (id, type, subject_key, status, current_step, owner, lease_expires_at,
                              definition_version, org_id, actor_user_id, input, created_at, updated_at)
       values ($1, 'disconnect', $2::text || ':' || gen_random_uuid()::text, 'running', 'lock',
               'edge-elsewhere', now() + interval '1 hour', 3, $2::uuid, $3,
               jsonb_build_object('connectionId', gen_random_uuid(), 'mayManageOthers', false,
                                  'ip', null, 'traceId', 't'),
               now(), now())`,
      [sagaId, h.orgId, h.member.id],
    );
    const url = `${edge}/trpc/disconnect.progress?input=${encodeURIComponent(JSON.stringify({ sagaId }))}`;
    /** Opens a stream and reads until its first event (the saga) or its error. */
    const open = async (token: string) => {
      const abort = new AbortController();
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: abort.signal,
      });
      const reader = res.body!.getReader();
      let text = '';
      while (!/"status":"running"|TOO_MANY_REQUESTS|NOT_FOUND/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      return { text, close: () => abort.abort() };
    };
    const first = await open(h.member.token);
    const second = await open(h.member.token);
    expect(first.text).toContain('"status":"running"');
    expect(second.text).toContain('"status":"running"');
    const third = await open(h.member.token);
    expect(third.text).toContain('TOO_MANY_REQUESTS');
    third.close();
    // Another token is not charged for the member's streams (the admin may see the member's saga).
    const admins = await open(h.admin.token);
    expect(admins.text).toContain('"status":"running"');
    admins.close();

    first.close();
    // The edge notices the client left and frees the place.
    let again = await open(h.member.token);
    for (let i = 0; i < 40 && again.text.includes('TOO_MANY_REQUESTS'); i++) {
      again.close();
      await sleep(250);
      again = await open(h.member.token);
    }
    expect(again.text).toContain('"status":"running"');
    again.close();
    second.close();

    // A token revoked while its stream is open: the stream ends, UNAUTHORIZED, within the re-check period.
    const revocable = `otk_${randomUUID().replaceAll('-', '')}${randomUUID().replaceAll('-', '')}`;
    await h.db.query(
      `insert into edge.api_token (id, user_id, org_id, token_hash, prefix, label, created_at)
       values (gen_random_uuid(), $1, $2, $3, $4, 'stream test', now())`,
      [h.member.id, h.orgId, hashToken(revocable), revocable.slice(0, 10)],
    );
    const abort = new AbortController();
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${revocable}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"status":"running"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('"status":"running"');
    await h.db.query(`update edge.api_token set revoked_at = now() where token_hash = $1`, [
      hashToken(revocable),
    ]);
    const revokedAt = Date.now();
    let after = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      after += new TextDecoder().decode(value);
      if (after.includes('UNAUTHORIZED')) break;
    }
    abort.abort();
    expect(after).toContain('UNAUTHORIZED');
    expect(Date.now() - revokedAt).toBeLessThan(STREAM_REAUTH_MS + 3_000);
  });
});
