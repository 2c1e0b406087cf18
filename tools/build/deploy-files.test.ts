import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fakeProvidersFile } from '@otesse/fake-provider';
import { SERVICE_SCHEMAS, type TServiceName } from '@otesse/persistence';
import { BUILTIN_PROVIDERS } from '@otesse/providers';
import { NATS_DEV_PASSWORD_ENV, NATS_DEV_USERS } from '@otesse/testing';
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
  entrypoint?: string[];
  ports?: string[];
}

const read = (path: string): string => readFileSync(resolve(REPO_ROOT, path), 'utf8');
/** A nats-server config with the files it includes from its own folder (`include ./x.conf`) written in place. */
const readConf = (path: string): string =>
  read(path).replace(/^(\s*)include \.\/(\S+)$/gm, (_, indent: string, file: string) =>
    readConf(`${dirname(path)}/${file}`)
      .split('\n')
      .map((l) => indent + l)
      .join('\n'),
  );
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
    expect(env['DATABASE_POOL_MAX']).toBe('${DATABASE_POOL_MAX:-10}');
    if (name === 'edge') {
      expect(env).toMatchObject({ EDGE_HOST: '0.0.0.0', EDGE_PORT: '3000' });
    } else {
      expect(env['HEALTH_PORT']).toMatch(/^\d+$/);
    }
  });

  it('uses the built-in catalogue unless PROVIDERS_FILE is set (the demo points it at the fake provider)', () => {
    for (const name of ['edge', 'credential-vault', 'connection', 'sync-scheduler']) {
      const svc = compose.services[name];
      // No value: passed through from the shell, absent otherwise.
      expect(svc?.environment).toHaveProperty('PROVIDERS_FILE', null);
      expect(svc?.volumes).toContain(
        '${PROVIDERS_HOST_FILE:-./tools/fake-provider/providers.compose.json}:/config/providers.json:ro',
      );
    }
    expect(compose.services['fake-provider']?.profiles).toEqual(['demo']);
  });

  it('passes the OAuth client credentials of every catalogue provider to the edge and the vault', () => {
    const keys = BUILTIN_PROVIDERS.filter((p) => p.oauth).flatMap((p) => {
      const k = String(p.key).toUpperCase().replaceAll('-', '_');
      return [`OAUTH_${k}_CLIENT_ID`, `OAUTH_${k}_CLIENT_SECRET`];
    });
    expect(keys.length).toBeGreaterThan(0);
    for (const name of [
      'edge',
      'credential-vault',
      'cluster-edge-1',
      'cluster-credential-vault-2',
    ]) {
      for (const key of keys)
        expect(compose.services[name]?.environment, name).toHaveProperty(key, null);
    }
  });

  it("leaves VAULT_MASTER_KEY to the vault's own check, so compose commands work without it", () => {
    for (const name of ['credential-vault', 'cluster-credential-vault-1']) {
      expect(compose.services[name]?.environment).toHaveProperty('VAULT_MASTER_KEY', null);
    }
    expect(read('docker-compose.yml')).not.toMatch(/^[^#\n]*\$\{[A-Z_]+:\?/m);
  });

  it('passes the tracing variables through to every service, clustered ones included', () => {
    const apps = Object.entries(compose.services).filter(([, svc]) =>
      /^apps\//.test(svc.build?.dockerfile ?? ''),
    );
    expect(apps.map(([name]) => name)).toEqual(
      expect.arrayContaining(['edge', 'audit', 'cluster-edge-2', 'cluster-sync-scheduler-2']),
    );
    for (const [name, svc] of apps) {
      for (const key of [
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
        'OTEL_EXPORTER_OTLP_HEADERS',
      ])
        expect(svc?.environment, name).toHaveProperty(key, null);
    }
  });

  it('advertises the edge on the host port it is published on, unless EDGE_PUBLIC_URL says otherwise', () => {
    expect(compose.services['edge']?.environment?.['EDGE_PUBLIC_URL']).toBe(
      '${EDGE_PUBLIC_URL:-http://127.0.0.1:${EDGE_HOST_PORT:-3000}}',
    );
    expect(compose.services['edge']?.ports).toEqual(['${EDGE_HOST_PORT:-3000}:3000']);
  });

  it('gives the edge the origin the dashboard is served on', () => {
    expect(compose.services['edge']?.environment?.['DASHBOARD_URL']).toBe(
      '${DASHBOARD_URL:-http://127.0.0.1:5173}',
    );
  });

  it('runs the admin CLI as a one-shot, as the edge role, once the edge has migrated', () => {
    const cli = compose.services['cli'];
    expect(cli?.profiles).toEqual(['admin']);
    expect(cli?.build).toEqual({ context: '.', dockerfile: 'tools/build/cli.Dockerfile' });
    expect(cli?.depends_on).toEqual({ edge: { condition: 'service_healthy' } });
    expect(cli?.environment?.['DATABASE_URL']).toBe(
      compose.services['edge']?.environment?.['DATABASE_URL'],
    );
    const dockerfile = read('tools/build/cli.Dockerfile');
    expect(dockerfile).toContain('RUN node tools/build/bundle.mjs cli\n');
    expect(dockerfile).toContain(`COPY --from=build /app/${TARGETS.cli.outDir}/`);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile.trim().split('\n').at(-1)).toBe(
      `ENTRYPOINT ["node", "${TARGETS.cli.outDir}/main.mjs"]`,
    );
  });

  it("gives Postgres room for every process's pool, the cluster's included", () => {
    const pg = compose.services['postgres'];
    const max = Number(/max_connections=(\d+)/.exec((pg?.command ?? []).join(' '))?.[1]);
    const processes = Object.values(compose.services).filter((svc) =>
      /^postgres:\/\/otesse_/.test(svc.environment?.['DATABASE_URL'] ?? ''),
    ).length;
    expect(processes).toBe(16); // 5 + 10 of the cluster + the CLI
    // 10 per process (DATABASE_POOL_MAX's default), the provisioning one-shots, 3 reserved for superusers.
    expect(max).toBeGreaterThanOrEqual(processes * 10 + 2 + 3);
  });

  it('mounts files that exist', () => {
    for (const svc of Object.values(compose.services)) {
      for (const volume of svc.volumes ?? []) {
        // `${VAR:-./default}`: the default.
        const host = (/^\$\{[A-Z_]+:-([^}]+)\}/.exec(volume)?.[1] ?? volume).split(':')[0] ?? '';
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
  const clusterConf = readConf('tools/nats/cluster/cluster-node.conf');

  it('runs three NATS nodes with JetStream, each its own store, config and name, routed to all three', () => {
    // nats-server sends only the credentials written in a route's URL: each one carries the route user's, with
    // the password compose interpolates (the node configs, which cannot read the environment in a string, list none).
    const routes = NODES.map(
      (n) => `nats-route://route:\${NATS_ROUTE_PASSWORD:-route-dev-password}@${n}:6222`,
    ).join(',');
    for (const [k, node] of NODES.entries()) {
      const svc = compose.services[node];
      expect(svc?.profiles, node).toEqual(['cluster']);
      expect(svc?.command).toEqual([
        '--store_dir',
        '/data',
        '--config',
        `/etc/nats/otesse/cluster/nats-${k + 1}.conf`,
        '--routes',
        routes,
      ]);
      expect(svc?.volumes).toEqual([
        `cluster-natsdata-${k + 1}:/data`,
        './tools/nats:/etc/nats/otesse:ro',
      ]);
      expect(nodeConf(k + 1)).toMatch(new RegExp(`^server_name: nats-${k + 1}$`, 'm'));
      expect(nodeConf(k + 1)).toMatch(/^include \.\/cluster-node\.conf$/m);
    }
    expect(clusterConf).not.toMatch(/^\s*routes/m);
    expect(clusterConf).toMatch(
      /authorization \{\s*user: route\s*password: \$NATS_ROUTE_PASSWORD\s*\}/,
    );
    expect(clusterConf).toMatch(/^jetstream \{/m);
    expect(clusterConf).toMatch(/^cluster \{[^]*name: otesse/m);
  });

  it('the cluster edges refuse to start without a shared OAUTH_SESSION_SECRET', () => {
    for (const name of ['cluster-edge-1', 'cluster-edge-2']) {
      const svc = compose.services[name];
      expect(svc?.environment).toHaveProperty('OAUTH_SESSION_SECRET', null);
      const [shell, flag, script, zero] = svc?.entrypoint ?? [];
      expect([shell, flag, zero]).toEqual(['sh', '-c', 'sh']);
      expect(script).toMatch(/exec node dist\/apps\/edge\/main\.mjs$/);
      // The script as the container's shell runs it (compose turns $$ into $): without the secret it stops; with it,
      // a command given to `compose run` (the migrate step) runs instead of the server.
      const sh = (args: string[], env: Record<string, string>) =>
        spawnSync('sh', ['-c', script!.replaceAll('$$', '$'), 'sh', ...args], {
          env: { PATH: process.env['PATH'] ?? '', ...env },
          encoding: 'utf8',
        });
      const refused = sh(['echo', 'migrate ran'], {});
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('cluster edges need the same OAUTH_SESSION_SECRET');
      const migrate = sh(['echo', 'migrate ran'], { OAUTH_SESSION_SECRET: 'x'.repeat(32) });
      expect([migrate.status, migrate.stdout]).toEqual([0, 'migrate ran\n']);
    }
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
    // Prometheus and an orchestrator's probes reach the health server (the edge serves it on EDGE_HOST).
    expect(dockerfile).toMatch(name === 'edge' ? /EDGE_HOST=0\.0\.0\.0/ : /HEALTH_HOST=0\.0\.0\.0/);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD \["node", "-e", ".*\/readyz/m);
    const cmd = dockerfile.trim().split('\n').at(-1);
    expect(cmd).toBe(`CMD ["node", "${TARGETS[name].outDir}/main.mjs"]`);
  });
});

describe('docker-compose.cluster-tls.yml (the `cluster` profile with TLS on NATS)', () => {
  const override = parse(read('docker-compose.cluster-tls.yml'), { merge: true }) as {
    services: Record<string, TComposeService>;
  };
  const CERTS =
    "${NATS_CERTS_DIR:?set NATS_CERTS_DIR to the directory of the cluster's certificates}:/certs:ro";
  /** The `$NATS_…` variables a config reads (comments left out). */
  const varsOf = (conf: string): string[] =>
    [...new Set([...conf.matchAll(/^[^#\n]*\$(NATS_[A-Z_]+)/gm)].map((m) => m[1]!))].sort();
  const tlsConf = readConf('tools/nats/cluster/cluster-node.tls.conf');
  /** The files tools/nats/make-cluster-certs.sh writes. */
  const written = [...read('tools/nats/make-cluster-certs.sh').matchAll(/^sign (\S+) /gm)].flatMap(
    (m) => [`${m[1]}.pem`, `${m[1]}.key`],
  );

  it('runs each node on its TLS config (TLS on routes and clients, both verified), routed as without TLS', () => {
    expect(tlsConf).toMatch(/^include \.\.\/tls\.conf$/m);
    expect(read('tools/nats/tls.conf')).toMatch(/^tls \{[^}]*verify: true/m);
    expect(tlsConf).toMatch(
      /^cluster \{[^]*name: otesse[^]*\n\s+tls \{[^}]*verify: true[^}]*\}\s*\n\}/m,
    );
    for (const i of [1, 2, 3]) {
      const node = `cluster-nats-${i}`;
      expect(read(`tools/nats/cluster/nats-${i}.tls.conf`)).toMatch(
        new RegExp(`^server_name: nats-${i}\\ninclude \\./cluster-node\\.tls\\.conf$`, 'm'),
      );
      const base = compose.services[node]?.command ?? [];
      expect(override.services[node]?.command).toEqual(
        base.map((a) => a.replace(`nats-${i}.conf`, `nats-${i}.tls.conf`)),
      );
      expect(override.services[node]?.volumes).toEqual([CERTS]);
    }
  });

  it('gives every node the certificates its TLS config reads, from what make-cluster-certs.sh writes', () => {
    const read_ = varsOf(read('tools/nats/tls.conf') + read('tools/nats/cluster/route-tls.conf'));
    expect(read_).toEqual([
      'NATS_ROUTE_TLS_CA_FILE',
      'NATS_ROUTE_TLS_CERT_FILE',
      'NATS_ROUTE_TLS_KEY_FILE',
      'NATS_TLS_CA_FILE',
      'NATS_TLS_SERVER_CERT_FILE',
      'NATS_TLS_SERVER_KEY_FILE',
    ]);
    for (const i of [1, 2, 3]) {
      const env = override.services[`cluster-nats-${i}`]?.environment ?? {};
      expect(Object.keys(env).sort()).toEqual(read_);
      for (const path of Object.values(env))
        expect([...written, 'ca.pem'].map((f) => `/certs/${f}`)).toContain(path);
    }
  });

  it('gives each cluster replica of every service the client certificate, and touches nothing else', () => {
    const replicas = services.flatMap((name) => [1, 2].map((r) => `cluster-${name}-${r}`));
    expect(Object.keys(override.services).sort()).toEqual(
      [...replicas, 'cluster-nats-1', 'cluster-nats-2', 'cluster-nats-3'].sort(),
    );
    for (const name of replicas) {
      expect(compose.services[name], name).toBeDefined();
      expect(override.services[name]?.environment).toEqual({
        NATS_TLS_CA_FILE: '/certs/ca.pem',
        NATS_TLS_CERT_FILE: '/certs/client.pem',
        NATS_TLS_KEY_FILE: '/certs/client.key',
      });
      expect(override.services[name]?.volumes).toEqual([CERTS]);
    }
    expect(written).toEqual(
      expect.arrayContaining([
        'nats-server.pem',
        'route.pem',
        'route.key',
        'client.pem',
        'client.key',
      ]),
    );
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

describe('tools/nats', () => {
  const authorization = read('tools/nats/authorization.conf');
  const testConf = read('tools/nats/test/nats-server.conf');
  const usersOf = (conf: string): string[] =>
    /^authorization \{\s*users = \[([^\]]*)\]/m
      .exec(conf)?.[1]
      ?.split(/,(?![^{]*\})/)
      .map((u) => u.trim().replace(/\s+/g, ' ')) ?? [];
  const referenced = (conf: string): string[] => [
    ...new Set([...conf.matchAll(/^[^#\n]*\$(NATS_[A-Z_]+_PASSWORD)/gm)].map((m) => m[1]!)),
  ];

  it('deploys no user without permissions and no password in the files', () => {
    expect(authorization).not.toMatch(/probe/);
    expect(authorization).not.toMatch(/^[^#\n]*password: ["a-z]/m);
    for (const file of ['cluster-node.conf', 'cluster-node.tls.conf'])
      expect(readConf(`tools/nats/cluster/${file}`)).not.toMatch(/^[^#\n]*route-dev-password/m);
    expect(usersOf(authorization)).toEqual([
      '$EDGE_USER',
      '$VAULT_USER',
      '$CONNECTION_USER',
      '$SCHEDULER_USER',
      '$AUDIT_USER',
      '$OPERATOR_USER',
    ]);
  });

  it('runs the tests with every deployed user, plus probe and the template, exactly as documented', () => {
    const users = usersOf(testConf);
    expect(users.slice(0, -2)).toEqual(usersOf(authorization));
    expect(users.slice(-2)).toEqual(['$BILLING_USER', '{ user: probe, password: probe }']);
    expect(testConf).toMatch(/^include \.\.\/nats-server\.conf$/m);
    // The commented template of authorization.conf is the test config's BILLING_USER, uncommented.
    const template = [...authorization.matchAll(/^# ( *.*)$/gm)]
      .map((m) => m[1]!)
      .filter((_, i, all) => i >= all.findIndex((l) => l.startsWith('BILLING_USER = {')))
      .join('\n');
    const active = /^BILLING_USER = \{[^]*?^\}$/m.exec(testConf)?.[0];
    expect(active).toBeDefined();
    expect(template.startsWith(active!)).toBe(true);
  });

  it('nats-server gets every password the configs read, and each service the same value as its user', () => {
    const conf = [
      authorization,
      readConf('tools/nats/cluster/cluster-node.tls.conf'),
      read('tools/nats/nats-server.conf'),
    ].join('\n');
    const vars = referenced(conf);
    expect(vars).toContain('NATS_ROUTE_PASSWORD');
    expect(Object.keys(NATS_DEV_PASSWORD_ENV)).toEqual(expect.arrayContaining(vars));
    for (const server of ['nats', 'cluster-nats-1', 'cluster-nats-2', 'cluster-nats-3']) {
      const env = compose.services[server]?.environment ?? {};
      for (const v of vars) {
        expect(env[v], `${server} ${v}`).toBe(`\${${v}:-${NATS_DEV_PASSWORD_ENV[v]}}`);
      }
    }
    const varOf: Record<string, string> = {
      edge: 'NATS_EDGE_PASSWORD',
      vault: 'NATS_VAULT_PASSWORD',
      connection: 'NATS_CONNECTION_PASSWORD',
      scheduler: 'NATS_SCHEDULER_PASSWORD',
      audit: 'NATS_AUDIT_PASSWORD',
    };
    for (const name of services) {
      const { user } = NATS_DEV_USERS[name];
      for (const svc of [name, `cluster-${name}-1`, `cluster-${name}-2`]) {
        const env = compose.services[svc]?.environment ?? {};
        expect(env['NATS_USER'], svc).toBe(user);
        expect(env['NATS_PASSWORD'], svc).toBe(
          compose.services['nats']?.environment?.[varOf[user]!],
        );
      }
    }
  });
});
