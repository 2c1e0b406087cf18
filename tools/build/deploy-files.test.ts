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
