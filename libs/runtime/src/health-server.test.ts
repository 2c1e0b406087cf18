import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer, type THealthServer } from './health-server';

describe('startHealthServer', () => {
  let server: THealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const ready = () => Promise.resolve({ ok: true, checks: { nats: true } });

  it('listens on loopback unless told otherwise', async () => {
    server = await startHealthServer(0, ready);
    expect(server.host).toBe('127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(await res.json()).toEqual({ ok: true, checks: { nats: true } });
  });

  it('listens on every interface with HEALTH_HOST=0.0.0.0 (what the images set)', async () => {
    server = await startHealthServer(0, ready, { host: '0.0.0.0' });
    expect(server.host).toBe('0.0.0.0');
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
  });

  it('fails to start, rather than hang, on an interface it cannot bind', async () => {
    await expect(startHealthServer(0, ready, { host: '192.0.2.1' })).rejects.toThrow(
      /EADDRNOTAVAIL/,
    );
  });
});
