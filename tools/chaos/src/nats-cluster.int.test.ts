import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { STREAMS } from '@otesse/contracts';
import {
  createTestCertificates,
  NATS_DEV_USERS,
  REPO_ROOT,
  waitFor,
  type TTestCertificates,
} from '@otesse/testing';
import { startNatsCluster, type TNatsCluster } from './nats-cluster';

const INBOX = {
  edge: '_INBOX_edge',
  'credential-vault': '_INBOX_vault',
  connection: '_INBOX_connection',
  'sync-scheduler': '_INBOX_sync_scheduler',
  audit: '_INBOX_audit',
} as const;

/**
 * Issue 8, Beyond one machine: tools/nats/cluster/ (what docker-compose's `cluster` profile runs) forms one
 * JetStream cluster of three nodes with the same users as the single server; a stream with three replicas keeps
 * taking (deduplicated) events with a node down, and each service reaches only its own streams' JetStream API.
 */
describe('NATS cluster (tools/nats/cluster)', () => {
  let cluster: TNatsCluster;
  const open: NatsConnection[] = [];
  const as = async (service: keyof typeof NATS_DEV_USERS): Promise<NatsConnection> => {
    const nc = await connect({
      servers: cluster.nodes.map((n) => n.url),
      user: NATS_DEV_USERS[service].user,
      pass: NATS_DEV_USERS[service].password,
      inboxPrefix: INBOX[service],
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    open.push(nc);
    return nc;
  };

  beforeAll(async () => {
    cluster = await startNatsCluster();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    await cluster?.stop();
  });

  it('forms one JetStream cluster of three nodes', async () => {
    const meta = await waitFor(
      async () => {
        const jsz = (await (await fetch(`${cluster.nodes[0]!.monitorUrl}/jsz`)).json()) as {
          meta_cluster?: { leader?: string; cluster_size?: number; name?: string };
        };
        // Right after start a leader may be elected before the third node has joined (size 2): wait for all three.
        return jsz.meta_cluster?.leader && jsz.meta_cluster.cluster_size === 3
          ? jsz.meta_cluster
          : undefined;
      },
      { timeoutMs: 30_000, what: 'a JetStream meta leader of three nodes' },
    );
    expect(meta).toMatchObject({ name: 'otesse', cluster_size: 3 });
  });

  it('keeps a 3-replica stream writable with a node down; duplicates dropped; the audit consumer reads every event', async () => {
    const edge = await as('edge');
    const jsm = await edge.jetstreamManager();
    await waitFor(
      () =>
        jsm.streams
          .add({
            name: 'AUDIT',
            subjects: ['audit.entries.append'],
            num_replicas: 3,
            duplicate_window: 120e9,
          })
          .then(() => true),
      { timeoutMs: 30_000, what: 'the AUDIT stream created with 3 replicas' },
    );
    const js = edge.jetstream();
    const ids = Array.from({ length: 40 }, () => randomUUID());
    const publish = (id: string) =>
      js.publish(
        'audit.entries.append',
        new TextEncoder().encode(JSON.stringify({ eventId: id })),
        {
          msgID: id,
          timeout: 2_000,
        },
      );
    for (const id of ids.slice(0, 20)) await publish(id);

    // Down goes the node that leads the stream; the other two elect a new leader and keep acking. Only once both
    // followers are current: a follower still joining the group (slow under load) leaves the survivors without a
    // quorum, and no operator takes a node down while its replicas catch up.
    const info = await waitFor(
      async () => {
        const i = await jsm.streams.info('AUDIT');
        const replicas = i.cluster?.replicas ?? [];
        return replicas.length === 2 && replicas.every((r) => r.current && !r.offline)
          ? i
          : undefined;
      },
      { timeoutMs: 30_000, what: 'both followers of the AUDIT stream current' },
    );
    expect(info.config.num_replicas).toBe(3);
    const leader = cluster.nodes.find((n) => n.name === info.cluster?.leader)!;
    await leader.kill();
    try {
      for (const id of [...ids.slice(20), ...ids.slice(0, 5)])
        await waitFor(() => publish(id).then(() => true), {
          timeoutMs: 30_000,
          what: `publish ${id}`,
        });
    } finally {
      // Back in any case: the next test needs all three nodes.
      await leader.start();
    }

    // The node coming back may have led the JetStream meta group too: API requests time out until the cluster has
    // settled on a leader again, so the consumer is created like the publishes above (adding it again is a no-op).
    const audit = await as('audit');
    await waitFor(
      async () => {
        const ajsm = await audit.jetstreamManager({ timeout: 2_000 });
        await ajsm.consumers.add('AUDIT', {
          durable_name: 'audit-writer',
          ack_policy: AckPolicy.Explicit,
          filter_subject: 'audit.entries.append',
        });
        return true;
      },
      { timeoutMs: 30_000, what: 'the audit consumer created' },
    );
    const consumer = await audit.jetstream().consumers.get('AUDIT', 'audit-writer');
    const seen: string[] = [];
    // A fetch right after the node came back may find the consumer's leader still being elected and return empty:
    // empty batches end the read only once the cluster has had 30 s to settle.
    const readUntil = Date.now() + 30_000;
    while (seen.length < ids.length) {
      const batch = await consumer.fetch({ max_messages: 50, expires: 2_000 });
      let got = 0;
      for await (const m of batch) {
        seen.push(m.json<{ eventId: string }>().eventId);
        m.ack();
        got += 1;
      }
      if (got === 0 && Date.now() > readUntil) break;
    }
    expect(seen.sort()).toEqual([...ids].sort());
  }, 120_000);

  it("lets each service call only its own streams' JetStream API", async () => {
    const denied = async (p: Promise<unknown>): Promise<boolean> =>
      p.then(
        () => false,
        () => true,
      );
    const jsmOf = async (s: keyof typeof NATS_DEV_USERS) =>
      (await as(s)).jetstreamManager({ timeout: 1_500, checkAPI: false });
    const vault = await jsmOf('credential-vault');
    expect(await denied(vault.streams.info('AUDIT'))).toBe(false);
    expect(await denied(vault.streams.delete('AUDIT'))).toBe(true);
    const audit = await jsmOf('audit');
    expect(await denied(audit.streams.purge('AUDIT'))).toBe(true);
    expect(
      await denied(
        audit.consumers.add('AUDIT', { durable_name: 'other', ack_policy: AckPolicy.Explicit }),
      ),
    ).toBe(true);
    const connection = await jsmOf('connection');
    expect(
      await denied(
        connection.streams.add({
          name: 'INTEGRATIONS',
          subjects: [...STREAMS.INTEGRATIONS.subjects],
          num_replicas: 3,
        }),
      ),
    ).toBe(false);
    // Both streams it publishes to (domain events; audit entries of the connects it abandons), but no consumer.
    expect(await denied(connection.streams.info('AUDIT'))).toBe(false);
    expect(await denied(connection.streams.delete('AUDIT'))).toBe(true);
    expect(await denied(connection.consumers.info('AUDIT', 'audit-writer'))).toBe(true);
    // The vault reads INTEGRATIONS through its one durable consumer only, and removes nothing from it.
    expect(await denied(vault.streams.info('INTEGRATIONS'))).toBe(false);
    expect(await denied(vault.streams.purge('INTEGRATIONS'))).toBe(true);
    expect(
      await denied(
        vault.consumers.add('INTEGRATIONS', {
          durable_name: 'other',
          ack_policy: AckPolicy.Explicit,
        }),
      ),
    ).toBe(true);
    expect(
      await denied(
        vault.consumers.add('INTEGRATIONS', {
          durable_name: 'vault-abandoned-connects',
          ack_policy: AckPolicy.Explicit,
          filter_subject: 'integrations.connection.abandoned',
        }),
      ),
    ).toBe(false);
    expect(await denied(vault.consumers.delete('INTEGRATIONS', 'vault-abandoned-connects'))).toBe(
      true,
    );
    expect(await denied(vault.consumers.info('AUDIT', 'audit-writer'))).toBe(true);
    // The scheduler reads WEBHOOKS (accepted webhook deliveries) through its one durable consumer only.
    const scheduler = await jsmOf('sync-scheduler');
    expect(
      await denied(
        connection.streams.add({
          name: 'WEBHOOKS',
          subjects: [...STREAMS.WEBHOOKS.subjects],
          num_replicas: 3,
        }),
      ),
    ).toBe(false);
    expect(await denied(scheduler.streams.info('WEBHOOKS'))).toBe(false);
    expect(await denied(scheduler.streams.purge('WEBHOOKS'))).toBe(true);
    expect(await denied(scheduler.streams.info('INTEGRATIONS'))).toBe(true);
    expect(await denied(scheduler.streams.info('AUDIT'))).toBe(true);
    expect(
      await denied(
        scheduler.consumers.add('WEBHOOKS', {
          durable_name: 'other',
          ack_policy: AckPolicy.Explicit,
        }),
      ),
    ).toBe(true);
    expect(await denied(scheduler.consumers.delete('WEBHOOKS', 'sync-scheduler-webhooks'))).toBe(
      true,
    );
    // The one purge a service may make: the connection service's, of what INTEGRATIONS kept of moved-out subjects.
    expect(
      await denied(connection.streams.purge('INTEGRATIONS', { filter: 'integrations.webhook.>' })),
    ).toBe(false);
    expect(await denied(connection.streams.purge('AUDIT'))).toBe(true);
    const edge = await jsmOf('edge');
    expect(await denied(edge.consumers.info('AUDIT', 'audit-writer'))).toBe(true);
    // And the stream survived all of it.
    expect((await vault.streams.info('AUDIT')).state.messages).toBe(40);
  });
});

/**
 * The cluster beyond one machine: tools/nats/cluster/nats-N.tls.conf — TLS on the routes between nodes (mutual: every
 * node's route certificate checked against the CA) and on every client, with the certificates
 * tools/nats/make-cluster-certs.sh writes. Credentials cross NATS (a reconnect's new
 * tokens), and the routes carry every message between nodes: before, they ran in plaintext.
 */
describe('NATS cluster with TLS on routes and clients (tools/nats/cluster/*.tls.conf)', () => {
  /** What tools/nats/make-cluster-certs.sh writes (what docker-compose.cluster-tls.yml mounts). */
  let certDir: string;
  /** Only for a route certificate another CA signed. */
  let foreign: TTestCertificates;
  let cluster: TNatsCluster;
  /** The server ids a node has routes to. */
  const routedTo = async (monitorUrl: string): Promise<string[]> =>
    (
      (await (await fetch(`${monitorUrl}/routez`)).json()) as { routes?: { remote_id: string }[] }
    ).routes?.map((r) => r.remote_id) ?? [];
  const idOf = async (monitorUrl: string): Promise<string> =>
    ((await (await fetch(`${monitorUrl}/varz`)).json()) as { server_id: string }).server_id;

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'otesse-cluster-certs-'));
    execFileSync('bash', [resolve(REPO_ROOT, 'tools/nats/make-cluster-certs.sh'), certDir], {
      stdio: 'pipe',
    });
    foreign = createTestCertificates();
    const file = (name: string): string => join(certDir, name);
    cluster = await startNatsCluster(3, {
      tls: {
        caFile: file('ca.pem'),
        serverCertFile: file('nats-server.pem'),
        serverKeyFile: file('nats-server.key'),
        clientCertFile: file('client.pem'),
        clientKeyFile: file('client.key'),
        routeCertFile: file('route.pem'),
        routeKeyFile: file('route.key'),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    foreign?.remove();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('forms over TLS routes, and a 3-replica stream takes events from a TLS client', async () => {
    await waitFor(
      async () => {
        const jsz = (await (await fetch(`${cluster.nodes[0]!.monitorUrl}/jsz`)).json()) as {
          meta_cluster?: { leader?: string; cluster_size?: number };
        };
        return jsz.meta_cluster?.leader !== undefined && jsz.meta_cluster.cluster_size === 3;
      },
      { timeoutMs: 30_000, what: 'a JetStream meta leader of three nodes' },
    );
    const varz = (await (await fetch(`${cluster.nodes[0]!.monitorUrl}/varz`)).json()) as {
      tls_required?: boolean;
      tls_verify?: boolean;
      cluster?: { tls_required?: boolean; tls_verify?: boolean };
    };
    expect(varz).toMatchObject({ tls_required: true, tls_verify: true });
    expect(varz.cluster).toMatchObject({ tls_required: true, tls_verify: true });

    const nc = await connect({
      servers: cluster.nodes.map((n) => n.url),
      user: NATS_DEV_USERS.edge.user,
      pass: NATS_DEV_USERS.edge.password,
      inboxPrefix: INBOX.edge,
      tls: cluster.clientTls!,
    });
    try {
      const jsm = await nc.jetstreamManager();
      await waitFor(
        () =>
          jsm.streams
            .add({ name: 'AUDIT', subjects: ['audit.entries.append'], num_replicas: 3 })
            .then(() => true)
            .catch(() => false),
        { timeoutMs: 20_000, what: 'the 3-replica stream' },
      );
      const ack = await nc.jetstream().publish('audit.entries.append', '{}', {
        msgID: randomUUID(),
      });
      expect(ack.stream).toBe('AUDIT');
      expect((await jsm.streams.info('AUDIT')).cluster?.replicas).toHaveLength(2);
    } finally {
      await nc.close();
    }
    // A client without a certificate is refused, user and password notwithstanding.
    await expect(
      connect({
        servers: cluster.nodes[0]!.url,
        user: NATS_DEV_USERS.edge.user,
        pass: NATS_DEV_USERS.edge.password,
        tls: { caFile: join(certDir, 'ca.pem') },
        reconnect: false,
      }).then((c) => c.close()),
    ).rejects.toThrow();
  });

  it('lets no node in whose route certificate another CA signed, nor one without TLS; one with the cluster CA joins', async () => {
    const otherCa = await cluster.startIntruder({
      routeCert: { certFile: foreign.foreignRouteCertFile, keyFile: foreign.foreignRouteKeyFile },
    });
    const plaintext = await cluster.startIntruder({ plaintext: true });
    // Long enough for several route attempts each way (they are retried every second).
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await routedTo(otherCa.monitorUrl)).toEqual([]);
    expect(await routedTo(plaintext.monitorUrl)).toEqual([]);
    const kept = [await idOf(otherCa.monitorUrl), await idOf(plaintext.monitorUrl)];
    for (const node of cluster.nodes) {
      const routes = await routedTo(node.monitorUrl);
      for (const id of kept) expect(routes).not.toContain(id);
    }
    // The same node with the cluster's own route certificate is let in: the refusals above were the certificates'.
    const member = await cluster.startIntruder();
    const memberId = await idOf(member.monitorUrl);
    await waitFor(async () => (await routedTo(cluster.nodes[0]!.monitorUrl)).includes(memberId), {
      timeoutMs: 15_000,
      what: 'a node with the cluster CA to join',
    });
  });
});
