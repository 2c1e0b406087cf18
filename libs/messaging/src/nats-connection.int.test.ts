import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@otesse/logging';
import { startNatsServer, waitFor, type TTestNats } from '@otesse/testing';
import { connectNats, natsServersForLog, watchNatsConnection } from './nats-connection';

/**
 * A NATS change that refuses a service's password for a while (a rotation done in the wrong order) must not leave
 * the service deaf for good: nats.js gave up after the same auth error twice, whatever the reconnect policy, and
 * the process stayed alive, "healthy", answering nothing until restarted by hand.
 */
describe('a service connection through a refused password (real nats-server with users)', () => {
  let dir: string;
  let nats: TTestNats;
  const lines: string[] = [];
  const logger = createLogger({
    name: 'nats-watch-test',
    level: 'info',
    destination: { write: (line: string) => void lines.push(line) },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otesse-nats-auth-'));
    const conf = join(dir, 'nats.conf');
    writeFileSync(
      conf,
      'authorization { users = [ { user: "svc", password: $OTESSE_TEST_SVC_PASSWORD } ] }\n',
    );
    nats = await startNatsServer({
      configFile: conf,
      env: { OTESSE_TEST_SVC_PASSWORD: 'right-one' },
    });
  });
  afterAll(async () => {
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps trying through auth errors, says it is disconnected meanwhile, and serves again once the password is right', async () => {
    const nc = await connectNats({
      url: nats.url,
      name: 'svc',
      user: 'svc',
      password: 'right-one',
    });
    const watch = watchNatsConnection(nc, logger);
    try {
      nc.subscribe('svc.echo', { callback: (_e, m) => m.respond(m.data) });
      await nc.flush();
      expect(watch.connected()).toBe(true);

      await nats.restart({ OTESSE_TEST_SVC_PASSWORD: 'changed-elsewhere' });
      await waitFor(() => (watch.connected() ? undefined : true), {
        timeoutMs: 5_000,
        what: 'the disconnect to be noticed',
      });
      // Many reconnect attempts, each refused (every 250 ms): before, the second closed the connection for good.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(nc.isClosed()).toBe(false);
      expect(watch.connected()).toBe(false);

      await nats.restart({ OTESSE_TEST_SVC_PASSWORD: 'right-one' });
      // A bound for liveness, not speed: a loaded CI machine once took longer than 10 s.
      await waitFor(() => (watch.connected() ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the reconnect',
      });
      const answer = await nc.request('svc.echo', new TextEncoder().encode('ping'), {
        timeout: 2_000,
      });
      expect(new TextDecoder().decode(answer.data)).toBe('ping');

      const logged = lines.map((l) => JSON.parse(l) as { msg: string; natsCode?: string });
      expect(logged.map((l) => l.msg)).toEqual(
        expect.arrayContaining([
          'NATS connection lost; reconnecting',
          'NATS refused or failed the connection; still trying',
          'NATS connection back',
        ]),
      );
      // The refused password, once (throttled), not one line per attempt.
      const refusals = logged.filter(
        (l) => l.msg === 'NATS refused or failed the connection; still trying',
      );
      expect(refusals).toHaveLength(1);
      expect(refusals[0]!.natsCode).toBe('AUTHORIZATION_VIOLATION');
    } finally {
      await nc.close();
    }
    // A close is reported (the service's main exits on one it did not ask for).
    await expect(watch.closed).resolves.toBeUndefined();
  });
});

describe('a NATS server out of reach', () => {
  it('says where it was looked for, without the password the URL carries', async () => {
    const err = await connectNats({
      url: 'nats://edge:s3cret-pass@127.0.0.1:1',
      name: 'unreachable-test',
      reconnect: false,
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(
      'NATS is not reachable at nats://edge:***@127.0.0.1:1',
    );
    expect((err as Error).message).not.toContain('s3cret');
  });

  it('says every server of a list without their users’ passwords', () => {
    expect(natsServersForLog('nats://edge:p1@n1:4222,nats://edge:p2@n2:4222,nats://n3:4222')).toBe(
      'nats://edge:***@n1:4222,nats://edge:***@n2:4222,nats://n3:4222',
    );
  });
});
