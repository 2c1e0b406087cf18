import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fakeProvidersFile } from '@otesse/fake-provider';
import { SERVICE_SCHEMAS, type TServiceName } from '@otesse/persistence';
import { REPO_ROOT, TARGETS } from './bundle.mjs';

// No Docker engine runs here: these checks keep docker-compose.yml, the Dockerfiles and provision.sql in step
// with the code they deploy (service roles, entry points, mounted files).

interface TComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  profiles?: string[];
  command?: string[];
}

const read = (path: string): string => readFileSync(resolve(REPO_ROOT, path), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, TComposeService>;
};
const services = Object.keys(SERVICE_SCHEMAS) as TServiceName[];
const ownerRoleOf = (name: TServiceName): string | undefined =>
  (SERVICE_SCHEMAS[name] as { ownerRole?: string }).ownerRole;
const passwordVar = (role: string): RegExp =>
  new RegExp(`^postgres://${role}:(\\$\\{[A-Z_]+:-[^}]+\\})@postgres:5432/otesse$`);

describe('docker-compose.yml', () => {
  it.each(services)('runs %s as its own role, after provisioning, from its own image', (name) => {
    const svc = compose.services[name];
    expect(svc, `service ${name}`).toBeDefined();
    expect(svc?.build).toEqual({ context: '.', dockerfile: `apps/${name}/Dockerfile` });
    expect(svc?.depends_on).toMatchObject({
      provision: { condition: 'service_completed_successfully' },
      nats: { condition: 'service_healthy' },
    });
    const env = svc?.environment ?? {};
    const provisioned = Object.values(compose.services['provision']?.environment ?? {});
    const url = passwordVar(SERVICE_SCHEMAS[name].role).exec(env['DATABASE_URL'] ?? '');
    expect(url, `${name} DATABASE_URL`).not.toBeNull();
    // The very same `${VAR:-default}` provisions the role's password.
    expect(provisioned).toContain(url?.[1]);
    const owner = ownerRoleOf(name);
    if (owner) {
      // A separate schema owner runs the migrations.
      const ownerUrl = passwordVar(owner).exec(env['MIGRATIONS_DATABASE_URL'] ?? '');
      expect(ownerUrl, `${name} MIGRATIONS_DATABASE_URL`).not.toBeNull();
      expect(provisioned).toContain(ownerUrl?.[1]);
    }
    expect(env['NATS_URL']).toBe('nats://nats:4222');
    if (name === 'edge') {
      expect(env).toMatchObject({ EDGE_HOST: '0.0.0.0', EDGE_PORT: '3000' });
    } else {
      expect(env['HEALTH_PORT']).toMatch(/^\d+$/);
    }
  });

  it('gives the edge and the vault the fake-provider catalogue, and the vault a required master key', () => {
    for (const name of ['edge', 'credential-vault']) {
      const svc = compose.services[name];
      expect(svc?.environment?.['PROVIDERS_FILE']).toBe('/config/providers.json');
      expect(svc?.volumes).toContain(
        './tools/fake-provider/providers.compose.json:/config/providers.json:ro',
      );
    }
    expect(compose.services['credential-vault']?.environment?.['VAULT_MASTER_KEY']).toMatch(
      /^\$\{VAULT_MASTER_KEY:\?/,
    );
  });

  it('mounts files that exist', () => {
    for (const svc of Object.values(compose.services)) {
      for (const volume of svc.volumes ?? []) {
        const host = volume.split(':')[0] ?? '';
        if (host.startsWith('./')) expect(existsSync(resolve(REPO_ROOT, host)), host).toBe(true);
      }
      if (svc.build) expect(existsSync(resolve(REPO_ROOT, svc.build.dockerfile))).toBe(true);
    }
  });

  it('keeps providers.compose.json what the generator writes', () => {
    const committed = JSON.parse(read('tools/fake-provider/providers.compose.json')) as unknown;
    expect(committed).toEqual(fakeProvidersFile('http://fake-provider:4010'));
  });
});

describe('docker-compose.yml, profile `cluster`', () => {
  const NODES = [1, 2, 3].map((i) => `cluster-nats-${i}`);
  const nodeConf = (i: number): string => read(`tools/nats/cluster/nats-${i}.conf`);
  const clusterConf = read('tools/nats/cluster/cluster-node.conf');

  it('runs three NATS nodes with JetStream, each its own store, config and name, routed to all three', () => {
    for (const [k, node] of NODES.entries()) {
      const svc = compose.services[node];
      expect(svc?.profiles, node).toEqual(['cluster']);
      expect(svc?.command).toEqual([
        '--store_dir',
        '/data',
        '--config',
        `/etc/nats/otesse/cluster/nats-${k + 1}.conf`,
      ]);
      expect(svc?.volumes).toEqual([
        `cluster-natsdata-${k + 1}:/data`,
        './tools/nats:/etc/nats/otesse:ro',
      ]);
      expect(nodeConf(k + 1)).toMatch(new RegExp(`^server_name: nats-${k + 1}$`, 'm'));
      expect(nodeConf(k + 1)).toMatch(/^include \.\/cluster-node\.conf$/m);
      expect(clusterConf).toContain(`@${node}:6222"`);
    }
    expect(clusterConf).toMatch(/^jetstream \{/m);
    expect(clusterConf).toMatch(/^cluster \{[^]*name: otesse/m);
  });

  it('gives the single server and every cluster node the same users and permissions', () => {
    expect(compose.services['nats']?.volumes).toContain('./tools/nats:/etc/nats/otesse:ro');
    expect(compose.services['nats']?.command).toContain('/etc/nats/otesse/nats-server.conf');
    expect(read('tools/nats/nats-server.conf')).toMatch(/^include \.\/authorization\.conf$/m);
    expect(clusterConf).toMatch(/^include \.\.\/authorization\.conf$/m);
  });

  it.each(services)('runs two replicas of %s on the cluster, in its own database', (name) => {
    const single = compose.services[name];
    const replicas = [1, 2].map((i) => compose.services[`cluster-${name}-${i}`]);
    const provisioned = Object.values(compose.services['cluster-provision']?.environment ?? {});
    expect(compose.services['cluster-provision']?.environment?.['OTESSE_DB']).toBe(
      'otesse_cluster',
    );
    for (const svc of replicas) {
      expect(svc?.profiles).toEqual(['cluster']);
      expect(svc?.build).toEqual(single?.build);
      expect(svc?.image).toBe(single?.image);
      expect(svc?.depends_on).toMatchObject({
        'cluster-provision': { condition: 'service_completed_successfully' },
        ...Object.fromEntries(NODES.map((n) => [n, { condition: 'service_healthy' }])),
      });
      const env = svc?.environment ?? {};
      expect(env['NATS_URL']).toBe(NODES.map((n) => `nats://${n}:4222`).join(','));
      expect(env['NATS_USER']).toBe(single?.environment?.['NATS_USER']);
      expect(env['NATS_STREAM_REPLICAS']).toBe('3');
      const url = new RegExp(
        `^postgres://${SERVICE_SCHEMAS[name].role}:(\\$\\{[A-Z_]+:-[^}]+\\})@postgres:5432/otesse_cluster$`,
      ).exec(env['DATABASE_URL'] ?? '');
      expect(url, `${name} DATABASE_URL`).not.toBeNull();
      expect(provisioned).toContain(url?.[1]);
    }
  });

  it('publishes the two edges on distinct host ports', () => {
    const ports = [1, 2].map(
      (i) => (compose.services[`cluster-edge-${i}`] as { ports?: string[] } | undefined)?.ports,
    );
    expect(ports).toEqual([
      ['${CLUSTER_EDGE_1_HOST_PORT:-3001}:3000'],
      ['${CLUSTER_EDGE_2_HOST_PORT:-3002}:3000'],
    ]);
  });
});

describe.each(services)('apps/%s/Dockerfile', (name) => {
  const dockerfile = read(`apps/${name}/Dockerfile`);
  it('bundles in a build stage and runs the bundle as the node user with a readiness check', () => {
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS build$/m);
    expect(dockerfile).toContain(`RUN node tools/build/bundle.mjs ${name}\n`);
    expect(dockerfile).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(dockerfile).toContain(`COPY --from=build /app/${TARGETS[name].outDir}/`);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD \["node", "-e", ".*\/readyz/m);
    const cmd = dockerfile.trim().split('\n').at(-1);
    expect(cmd).toBe(`CMD ["node", "${TARGETS[name].outDir}/main.mjs"]`);
  });
});

describe('tools/postgres/provision.sql', () => {
  it('names every service schema, its runtime role and its owner', () => {
    const sql = read('tools/postgres/provision.sql');
    for (const name of services) {
      const { schema, role } = SERVICE_SCHEMAS[name];
      const owner = ownerRoleOf(name) ?? role;
      expect(sql).toMatch(new RegExp(`\\(\\d+, '${schema}', '${role}', '${owner}'\\)`));
      for (const r of new Set([role, owner])) {
        expect(sql).toMatch(new RegExp(`\\('${r}', :'[a-z_]+_pw'\\)`));
      }
    }
  });
});
