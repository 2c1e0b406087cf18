import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_SCHEMAS, urlForRole } from '@otesse/persistence';
import {
  createTestCertificates,
  freePort,
  NATS_DEV_USERS,
  NATS_TLS_CONFIG_FILE,
  SERVICE_ENTRIES,
  spawnTs,
  startPrivatePostgres,
  waitFor,
  type TPrivatePostgres,
  type TStackService,
  type TTestCertificates,
} from '@otesse/testing';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { edgeTlsOf } from '../env.schema';
import { connectOAuth, startEdgeReplica, startHarness, type THarness } from './e2e-harness';
import { expectDisconnectedOnce } from './disconnect-helpers';

/**
 * Encryption in transit: a Postgres that refuses plaintext and checks client certificates, a NATS that requires TLS
 * and verifies every client's certificate (tools/nats/tls.conf), and the whole stack, as processes, configured the
 * way an operator would (DATABASE_URL's sslmode=verify-full, NATS_TLS_*).
 */
describe('TLS to Postgres and NATS', () => {
  let certs: TTestCertificates;
  let pg: TPrivatePostgres;
  let h: THarness;
  const clientTls = () => ({
    caFile: certs.caFile,
    certFile: certs.clientCertFile,
    keyFile: certs.clientKeyFile,
  });
  const natsTlsEnv = (): Record<string, string> => ({
    NATS_TLS_CA_FILE: certs.caFile,
    NATS_TLS_CERT_FILE: certs.clientCertFile,
    NATS_TLS_KEY_FILE: certs.clientKeyFile,
  });

  beforeAll(async () => {
    certs = createTestCertificates();
    pg = await startPrivatePostgres({
      tls: {
        certFile: certs.serverCertFile,
        keyFile: certs.serverKeyFile,
        clientCaFile: certs.caFile,
      },
      client: clientTls(),
    });
    h = await startHarness({
      postgresAdminUrl: pg.adminUrl,
      natsConfigFile: NATS_TLS_CONFIG_FILE,
      natsEnv: {
        NATS_TLS_SERVER_CERT_FILE: certs.serverCertFile,
        NATS_TLS_SERVER_KEY_FILE: certs.serverKeyFile,
        NATS_TLS_CA_FILE: certs.caFile,
      },
      natsClientTls: clientTls(),
      envFor: (s) => ({
        NATS_USER: NATS_DEV_USERS[s].user,
        NATS_PASSWORD: NATS_DEV_USERS[s].password,
        ...natsTlsEnv(),
      }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await pg?.stop();
    certs?.remove();
  });

  it('connects, disconnects and audits with every service on TLS only', async () => {
    // The database URLs the services got carry the TLS parameters: nothing else reaches this server.
    expect(h.db.urlFor('credential-vault')).toMatch(/sslmode=verify-full/);
    const { outcome, connectionId } = await connectOAuth(h, h.admin, 'google', 'app');
    expect(outcome).toBe('connected');
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
      waitMs: 15_000,
    });
    expect(saga?.status).toBe('completed');
    await expectDisconnectedOnce(h, connectionId!);
    const revoked = await h.db.query<{ status: string }>(
      'select status from connection.integration_connection where id = $1',
      [connectionId],
    );
    expect(revoked[0]?.status).toBe('revoked');

    // Every service's sessions are encrypted, with a certificate the server verified.
    const sessions = await h.db.query<{ role: string; ssl: boolean; client_dn: string | null }>(
      `select a.usename as role, s.ssl, s.client_dn from pg_stat_activity a join pg_stat_ssl s using (pid)
        where a.datname = current_database() and a.backend_type = 'client backend'`,
    );
    const roles = new Set(sessions.map((s) => s.role));
    for (const service of Object.keys(SERVICE_SCHEMAS) as (keyof typeof SERVICE_SCHEMAS)[])
      expect(roles, service).toContain(SERVICE_SCHEMAS[service].role);
    expect(sessions.every((s) => s.ssl && s.client_dn === '/CN=otesse-service')).toBe(true);
  });

  it("serves the edge's public port over HTTPS when given a certificate (EDGE_TLS_*), and refuses plain HTTP there", async () => {
    const edge = await startEdgeReplica(h, undefined, {
      natsUser: NATS_DEV_USERS.edge.user,
      natsPassword: NATS_DEV_USERS.edge.password,
      natsTls: clientTls(),
      tls: edgeTlsOf({
        EDGE_TLS_CERT_FILE: certs.serverCertFile,
        EDGE_TLS_KEY_FILE: certs.serverKeyFile,
      }),
    });
    const trusting = new Agent({ connect: { ca: readFileSync(certs.caFile, 'utf8') } });
    try {
      expect(edge.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const health = await undiciFetch(`${edge.url}/healthz`, { dispatcher: trusting });
      expect(health.status).toBe(200);
      const me = await undiciFetch(`${edge.url}/trpc/me.get`, {
        dispatcher: trusting,
        headers: { authorization: `Bearer ${h.admin.token}` },
      });
      expect(me.status).toBe(200);
      expect(JSON.stringify(await me.json())).toContain(h.admin.email);
      // Plain HTTP to the TLS port gets no answer; a client trusting another CA refuses the server.
      await expect(fetch(`${edge.url.replace('https:', 'http:')}/healthz`)).rejects.toThrow();
      const other = new Agent({ connect: { ca: readFileSync(certs.otherCaFile, 'utf8') } });
      await expect(undiciFetch(`${edge.url}/healthz`, { dispatcher: other })).rejects.toThrow();
      await other.close();
    } finally {
      await trusting.close();
      await edge.stop();
    }
    expect(() => edgeTlsOf({ EDGE_TLS_CERT_FILE: certs.serverCertFile })).toThrow(
      /EDGE_TLS_KEY_FILE: EDGE_TLS_CERT_FILE and EDGE_TLS_KEY_FILE go together/,
    );
  });

  it("renews the edge's certificate on SIGHUP without a restart; a broken one is refused and the current one kept", async () => {
    // The files an operator's renewal overwrites in place.
    const dir = mkdtempSync(join(tmpdir(), 'otesse-edge-cert-'));
    const certFile = join(dir, 'edge.pem');
    const keyFile = join(dir, 'edge.key');
    copyFileSync(certs.serverCertFile, certFile);
    copyFileSync(certs.serverKeyFile, keyFile);
    const renewed = createTestCertificates();
    const port = await freePort();
    const edge = spawnTs(SERVICE_ENTRIES.edge, {
      DATABASE_URL: h.db.urlFor('edge'),
      NATS_URL: h.nats.url,
      NATS_USER: NATS_DEV_USERS.edge.user,
      NATS_PASSWORD: NATS_DEV_USERS.edge.password,
      ...natsTlsEnv(),
      EDGE_PORT: String(port),
      HEALTH_PORT: '0',
      LOG_LEVEL: 'info',
      EDGE_TLS_CERT_FILE: certFile,
      EDGE_TLS_KEY_FILE: keyFile,
    });
    const trusting = (ca: string) => new Agent({ connect: { ca: readFileSync(ca, 'utf8') } });
    const first = trusting(certs.caFile);
    const second = trusting(renewed.caFile);
    const url = `https://127.0.0.1:${port}/healthz`;
    const reloads = () => edge.output().match(/certificate (not )?reloaded/g) ?? [];
    const hangUp = async (expected: number) => {
      edge.proc.kill('SIGHUP');
      await waitFor(() => reloads().length === expected, { what: `reload ${expected}` });
    };
    try {
      await edge.waitForOutput(/edge ready/, 60_000);
      expect((await undiciFetch(url, { dispatcher: first })).status).toBe(200);
      // The renewal: new files, then SIGHUP. New handshakes get the new certificate; the process is the same.
      copyFileSync(renewed.serverCertFile, certFile);
      copyFileSync(renewed.serverKeyFile, keyFile);
      await hangUp(1);
      expect(edge.output()).toMatch(/"validTo":"[^"]+".*public port certificate reloaded/);
      expect((await undiciFetch(url, { dispatcher: second })).status).toBe(200);
      const fresh = trusting(certs.caFile);
      await expect(undiciFetch(url, { dispatcher: fresh })).rejects.toThrow();
      await fresh.close();
      // A broken renewal (a key of another certificate): refused, said, and the certificate in use stays.
      copyFileSync(certs.serverKeyFile, keyFile);
      await hangUp(2);
      expect(reloads()[1]).toBe('certificate not reloaded');
      const again = trusting(renewed.caFile);
      expect((await undiciFetch(url, { dispatcher: again })).status).toBe(200);
      await again.close();
      expect(edge.proc.exitCode).toBeNull();
      expect(edge.output()).not.toContain(readFileSync(keyFile, 'utf8').split('\n')[1]!);
    } finally {
      await first.close();
      await second.close();
      await edge.kill('SIGTERM');
      renewed.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /**
   * A service process started with the stack's settings, `env` over them (an empty value: unset): it must exit,
   * saying why.
   */
  const refusedStart = async (service: TStackService, env: Record<string, string>) => {
    const child = spawnTs(SERVICE_ENTRIES[service], {
      DATABASE_URL: h.db.urlFor(service),
      NATS_URL: h.nats.url,
      NATS_USER: NATS_DEV_USERS[service].user,
      NATS_PASSWORD: NATS_DEV_USERS[service].password,
      ...natsTlsEnv(),
      HEALTH_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    });
    try {
      await waitFor(() => child.proc.exitCode !== null, {
        timeoutMs: 30_000,
        what: `${service} to give up`,
      });
    } finally {
      if (child.proc.exitCode === null) await child.kill('SIGKILL');
    }
    expect(child.proc.exitCode).not.toBe(0);
    return child.output();
  };

  it('a service without TLS, trusting another CA, with half a client certificate or sslmode=prefer does not start, and says why', async () => {
    const plain = urlForRole(
      `postgres://x@127.0.0.1:${pg.port}/${h.db.name}`,
      SERVICE_SCHEMAS.audit.role,
    );
    const otherCa = new URL(h.db.urlFor('audit'));
    otherCa.searchParams.set('sslrootcert', certs.otherCaFile);
    const prefer = new URL(plain);
    prefer.searchParams.set('sslmode', 'prefer');
    // Six processes at once: each is refused on its own.
    const [natsPlain, natsOtherCa, halfCert, dbPlain, dbOtherCa, dbPrefer] = await Promise.all([
      refusedStart('audit', {
        NATS_TLS_CA_FILE: '',
        NATS_TLS_CERT_FILE: '',
        NATS_TLS_KEY_FILE: '',
      }),
      refusedStart('audit', { NATS_TLS_CA_FILE: certs.otherCaFile }),
      refusedStart('audit', { NATS_TLS_KEY_FILE: '' }),
      refusedStart('audit', { DATABASE_URL: plain }),
      refusedStart('audit', { DATABASE_URL: otherCa.toString() }),
      refusedStart('audit', { DATABASE_URL: prefer.toString() }),
    ]);
    expect(natsPlain).toMatch(/NATS is not reachable at nats:\/\/127\.0\.0\.1:\d+/);
    expect(natsPlain).toMatch(/set NATS_TLS_CA_FILE/);
    expect(natsOtherCa).toMatch(/NATS is not reachable.*(self[- ]signed|unable to (get|verify))/i);
    // A certificate without its key is a configuration error, named before anything is dialled.
    expect(halfCert).toMatch(
      /NATS_TLS_KEY_FILE: NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together/,
    );
    expect(dbPlain).toMatch(
      /PostgreSQL at postgres:\/\/otesse_audit\w*@127\.0\.0\.1:\d+\/\w+ refused this process \(pg_hba\.conf rejects connection .* no encryption\)/,
    );
    expect(dbOtherCa).toMatch(/self[- ]signed certificate|unable to (get|verify)/i);
    expect(dbPrefer).toMatch(/DATABASE_URL: sslmode=prefer falls back to plaintext/);
    // The server saw the plaintext attempt, and refused it.
    expect(pg.log()).toMatch(/pg_hba\.conf rejects connection .* no encryption/);
  });
});
