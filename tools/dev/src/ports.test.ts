import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@otesse/testing';
import { assertPortsFree, explainListenError, PortInUseError } from './ports';

/** Issue: a port clash at npm start printed a bare "listen EADDRINUSE … 4010". */
describe('npm start: ports in use', () => {
  let taken: Server;
  let takenPort: number;
  beforeAll(async () => {
    takenPort = await freePort();
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(takenPort, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => taken.close(resolve));
  });

  it('names the variable of each taken port and says another stack may be running', async () => {
    const free = await freePort();
    const e = await assertPortsFree([
      { variable: 'FAKE_PROVIDER_PORT', port: takenPort },
      { variable: 'EDGE_PORT', port: free },
    ]).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(PortInUseError);
    const message = (e as Error).message;
    expect(message).toContain(`port ${takenPort} (FAKE_PROVIDER_PORT) on 127.0.0.1 already in use`);
    expect(message).toContain('set FAKE_PROVIDER_PORT to a free port');
    expect(message).toContain('Another stack');
    expect(message).not.toContain('EDGE_PORT');
    // Free ports (and 0, any port) pass, and stay free.
    await assertPortsFree([
      { variable: 'EDGE_PORT', port: free },
      { variable: 'DASHBOARD_PORT', port: 0 },
    ]);
    await assertPortsFree([{ variable: 'EDGE_PORT', port: free }]);
  });

  it('names the variable when the listen itself fails (taken after the check)', () => {
    const err = Object.assign(new Error('listen EADDRINUSE: address already in use'), {
      code: 'EADDRINUSE',
    });
    const explained = explainListenError(err, { variable: 'FAKE_PROVIDER_PORT', port: 4010 });
    expect(explained).toBeInstanceOf(PortInUseError);
    expect((explained as Error).message).toContain('port 4010 (FAKE_PROVIDER_PORT)');
    const other = new Error('boom');
    expect(explainListenError(other, { variable: 'EDGE_PORT', port: 1 })).toBe(other);
  });
});
