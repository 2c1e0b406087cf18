import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'nats';
import {
  freePort,
  NATS_DEV_PASSWORD_ENV,
  NATS_DEV_USERS,
  NATS_SERVER_BIN,
  REPO_ROOT,
  waitFor,
  type TTestCertificates,
} from '@otesse/testing';

/** The node configs docker-compose's `cluster` profile runs (cluster-nats-1 … 3); `.tls`: TLS on routes and clients. */
export const NATS_CLUSTER_CONFIG = (node: number, tls = false): string =>
  resolve(REPO_ROOT, `tools/nats/cluster/nats-${node}${tls ? '.tls' : ''}.conf`);

/** The certificates of a TLS cluster (createTestCertificates' files, or make-cluster-certs.sh's). */
export type TNatsClusterTls = Pick<
  TTestCertificates,
  | 'caFile'
  | 'serverCertFile'
  | 'serverKeyFile'
  | 'clientCertFile'
  | 'clientKeyFile'
  | 'routeCertFile'
  | 'routeKeyFile'
>;

export interface TNatsNode {
  name: string;
  url: string;
  monitorUrl: string;
  running(): boolean;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface TNatsCluster {
  nodes: TNatsNode[];
  /** What a client passes nats.js (`tls`) on a TLS cluster; undefined on a plain one. */
  clientTls: { caFile: string; certFile: string; keyFile: string } | undefined;
  /**
   * Starts one more node that dials every node's routes (not one of the cluster's): with `routeCert`, presenting that
   * certificate instead of the cluster's. Where it got in shows in the nodes' /routez.
   */
  startIntruder(
    how?: { routeCert: { certFile: string; keyFile: string } } | { plaintext: true },
  ): Promise<TNatsNode>;
  /** Every node, comma-separated (what NATS_URL holds in the cluster profile). */
  url: string;
  stop(): Promise<void>;
}

/**
 * The project's 3-node cluster configs on one machine: the same files, with what only differs here (client,
 * monitoring and route ports on 127.0.0.1, routes, a temporary JetStream store per node) given on the command
 * line, which nats-server lets override the file. The deployed configs (no test-only user): the passwords come from
 * the environment. Route authentication stays on, as deployed: `--cluster` with the route user's credentials (a bare
 * `--cluster` URL would switch it off) and the credentials in every route URL, as docker-compose.yml passes them.
 */
export async function startNatsCluster(
  size = 3,
  opts: { tls?: TNatsClusterTls } = {},
): Promise<TNatsCluster> {
  const { tls } = opts;
  const clientTls = tls
    ? { caFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile }
    : undefined;
  const tlsEnv = (route?: { certFile: string; keyFile: string }): Record<string, string> =>
    tls
      ? {
          NATS_TLS_SERVER_CERT_FILE: tls.serverCertFile,
          NATS_TLS_SERVER_KEY_FILE: tls.serverKeyFile,
          NATS_TLS_CA_FILE: tls.caFile,
          NATS_ROUTE_TLS_CERT_FILE: route?.certFile ?? tls.routeCertFile,
          NATS_ROUTE_TLS_KEY_FILE: route?.keyFile ?? tls.routeKeyFile,
          NATS_ROUTE_TLS_CA_FILE: tls.caFile,
        }
      : {};
  const dir = mkdtempSync(join(tmpdir(), 'otesse-nats-cluster-'));
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      monitor: await freePort(),
      route: await freePort(),
    })),
  );
  const routeAuth = `route:${NATS_DEV_PASSWORD_ENV['NATS_ROUTE_PASSWORD']}`;
  const routes = ports.map((p) => `nats-route://${routeAuth}@127.0.0.1:${p.route}`).join(',');
  const extra: TNatsNode[] = [];
  const makeNode = (
    name: string,
    p: { client: number; monitor: number; route: number },
    config: string,
    env: Record<string, string>,
    clientsUseTls = true,
  ): TNatsNode => {
    let proc: ChildProcess | undefined;
    const url = `nats://127.0.0.1:${p.client}`;
    const node: TNatsNode = {
      name,
      url,
      monitorUrl: `http://127.0.0.1:${p.monitor}`,
      running: () => proc !== undefined && proc.exitCode === null && proc.signalCode === null,
      start: async () => {
        proc = spawn(
          NATS_SERVER_BIN,
          [
            '-c',
            config,
            '--server_name',
            name,
            '-a',
            '127.0.0.1',
            '-p',
            String(p.client),
            '-m',
            String(p.monitor),
            '--cluster',
            `nats://${routeAuth}@127.0.0.1:${p.route}`,
            '--routes',
            routes,
            '-sd',
            join(dir, name),
          ],
          { stdio: 'ignore', env: { ...process.env, ...NATS_DEV_PASSWORD_ENV, ...env } },
        );
        await waitFor(
          async () => {
            const nc = await connect({
              servers: url,
              user: NATS_DEV_USERS.edge.user,
              pass: NATS_DEV_USERS.edge.password,
              reconnect: false,
              ...(clientTls && clientsUseTls ? { tls: clientTls } : {}),
            }).catch(() => undefined);
            await nc?.close();
            return nc !== undefined;
          },
          { timeoutMs: 15_000, what: `${node.name} on ${p.client}` },
        );
      },
      kill: async () => {
        const running = proc;
        if (!running || running.exitCode !== null || running.signalCode !== null) return;
        await new Promise<void>((r) => {
          running.once('exit', () => r());
          running.kill('SIGKILL');
        });
      },
    };
    return node;
  };
  const nodes = ports.map((p, i) =>
    makeNode(`nats-${i + 1}`, p, NATS_CLUSTER_CONFIG(i + 1, tls !== undefined), tlsEnv()),
  );
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    clientTls,
    startIntruder: async (how) => {
      const p = { client: await freePort(), monitor: await freePort(), route: await freePort() };
      const plaintext = how !== undefined && 'plaintext' in how;
      const node = makeNode(
        `intruder-${extra.length + 1}`,
        p,
        NATS_CLUSTER_CONFIG(1, tls !== undefined && !plaintext),
        plaintext ? {} : tlsEnv(how?.routeCert),
        !plaintext,
      );
      extra.push(node);
      await node.start();
      return node;
    },
    stop: async () => {
      await Promise.all([...nodes, ...extra].map((n) => n.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
