import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import {
  createTestDatabase,
  freePort,
  spawnTs,
  startNatsServer,
  type TChild,
  type TTestDatabase,
  type TTestNats,
} from '@otesse/testing';
import type { AppRouter } from '@otesse/edge-api';
import { acquireStackGuard } from './stack-guard';

/** Foundation done-when 5: `npm start` on a machine with only Postgres and NATS brings everything up. */
describe('npm start (smoke)', () => {
  let db: TTestDatabase | undefined;
  let nats: TTestNats | undefined;
  let child: TChild | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'otesse-start-'));

  afterAll(async () => {
    await child?.kill('SIGKILL');
    await nats?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts every service, the fake provider and the seeded demo org, then stops all of it when its terminal closes', async () => {
    [db, nats] = await Promise.all([createTestDatabase('otesse_start'), startNatsServer()]);
    const [edgePort, fakePort, dashboardPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    child = spawnTs('tools/dev/src/start.ts', {
      DATABASE_URL: db.adminUrl,
      NATS_URL: nats.url,
      EDGE_PORT: String(edgePort),
      FAKE_PROVIDER_PORT: String(fakePort),
      DASHBOARD_PORT: String(dashboardPort),
      START_DASHBOARD: '0',
      OTESSE_DEV_DIR: dir,
      LOG_LEVEL: 'warn',
    });
    await child.waitForOutput(/Otesse Integrations is up[\s\S]*Ctrl-C/, 90_000);
    const out = child.output();
    expect(out).toContain(`http://127.0.0.1:${edgePort}/trpc`);
    expect(out).toContain(`http://127.0.0.1:${fakePort}`);
    const adminToken = /admin\s+admin@demo\.otesse\.test\s+(otk_\S+)/.exec(out)?.[1];
    expect(adminToken).toBeTruthy();

    const client = createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: `http://127.0.0.1:${edgePort}/trpc`,
          headers: { authorization: `Bearer ${adminToken}` },
        }),
      ],
    });
    const me = await client.me.get.query();
    expect(me.email).toBe('admin@demo.otesse.test');
    expect(me.permissions).toContain('settings.edit');
    // Every backend service answers through the edge.
    const integrations = await client.integrations.list.query();
    expect(integrations.map((i) => i.provider.key)).toEqual(
      expect.arrayContaining(['servicenow', 'confluence', 'postmark']),
    );
    expect((await client.audit.list.query({})).entries).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${fakePort}/`)).ok).toBe(true);

    // A second npm start on other ports but the same database and NATS is refused before it starts anything.
    const second = spawnTs('tools/dev/src/start.ts', {
      DATABASE_URL: db.adminUrl,
      NATS_URL: nats.url,
      EDGE_PORT: String(await freePort()),
      FAKE_PROVIDER_PORT: String(await freePort()),
      START_DASHBOARD: '0',
      OTESSE_DEV_DIR: dir,
      LOG_LEVEL: 'warn',
    });
    expect(await new Promise((res) => second.proc.once('exit', res))).toBe(1);
    expect(second.output()).toContain('✗ Another Otesse stack already runs');
    expect(second.output()).toContain('its own DATABASE_URL and NATS_URL');
    expect(second.output()).toContain(`edge http://127.0.0.1:${edgePort}`);
    expect(second.output()).not.toContain('Otesse Integrations is up');
    expect((await client.me.get.query()).email).toBe('admin@demo.otesse.test');

    // A closed terminal sends SIGHUP (Ctrl-C's SIGINT and SIGTERM take the same way out). The edge alone would take
    // it as "reload the certificate" and stay: the start script stops it.
    expect(await child.kill('SIGHUP')).toBe(0);
    await expect(fetch(`http://127.0.0.1:${edgePort}/healthz`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${fakePort}/`)).rejects.toThrow();
    // It let go of the database and NATS: the next npm start may run there.
    const next = await acquireStackGuard({
      databaseUrl: db.adminUrl,
      natsUrl: nats.url,
      edgeUrl: `http://127.0.0.1:${edgePort}`,
    });
    await next.release();
    // Its own bound, longer than the 90 s its start may take on a loaded machine (the suite's default is 60 s).
  }, 150_000);
});
