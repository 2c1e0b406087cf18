import { describe, expect, it } from 'vitest';
import { randomMasterKey, SERVICE_ENTRIES, spawnTs } from '@otesse/testing';

// What the deployables read outside their own zod env schema (OTEL_*, OAUTH_<PROVIDER>_CLIENT_*) is checked at
// start too: a bad value stops the process before it touches Postgres or NATS (both point at a closed port here,
// so a service that went on would hang retrying, not exit).
const ENTRIES = SERVICE_ENTRIES;

const base = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:1/otesse',
  NATS_URL: 'nats://127.0.0.1:1',
  VAULT_MASTER_KEY: randomMasterKey(),
  LOG_LEVEL: 'info',
};

async function exitOf(entry: string, env: Record<string, string>) {
  const child = spawnTs(entry, { ...base, ...env });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.proc.kill('SIGKILL');
      resolve(null);
    }, 20_000);
    child.proc.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, output: child.output() };
}

describe('an environment the schema refuses', () => {
  it.each(Object.entries(ENTRIES))(
    '%s: one JSON line naming every bad variable and its problem, no stack, no value',
    async (name, entry) => {
      const { code, output } = await exitOf(entry, {
        DATABASE_POOL_MAX: '1',
        LOG_LEVEL: 'loud',
        ...(name === 'credential-vault' ? { VAULT_MASTER_KEY: 'k1:short-secret-value' } : {}),
      });
      expect(code).toBe(1);
      const lines = output.trim().split('\n');
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]!) as {
        level: string;
        reason: string;
        variables: { variable: string; problem: string }[];
        msg: string;
      };
      expect(line).toMatchObject({ level: 'fatal', reason: 'invalid_environment', name });
      expect(line.variables.map((v) => v.variable).sort()).toEqual(
        [
          'DATABASE_POOL_MAX',
          'LOG_LEVEL',
          ...(name === 'credential-vault' ? ['VAULT_MASTER_KEY'] : []),
        ].sort(),
      );
      expect(line.msg).toMatch(/^invalid environment: .*DATABASE_POOL_MAX: /);
      expect(output).not.toContain('short-secret-value');
    },
    30_000,
  );
});

describe('start-up checks of the variables read outside the env schemas', () => {
  it.each(Object.entries(ENTRIES))(
    '%s: a bad OTEL_ variable stops it at once, naming the variable',
    async (_name, entry) => {
      const { code, output } = await exitOf(entry, {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector',
      });
      expect(code).toBe(1);
      expect(output).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
      expect(output).not.toMatch(/migrations applied|ECONNREFUSED/);
    },
    30_000,
  );

  it.each(['edge', 'credential-vault', 'connection', 'sync-scheduler'] as const)(
    '%s: an OAUTH_ variable naming no provider (a typo) stops it, without echoing the value',
    async (name) => {
      const { code, output } = await exitOf(ENTRIES[name], {
        OAUTH_SERVICENOWW_CLIENT_SECRET: 'typo-secret-value',
      });
      expect(code).toBe(1);
      expect(output).toContain('OAUTH_SERVICENOWW_CLIENT_SECRET names no OAuth provider');
      expect(output).not.toContain('typo-secret-value');
    },
    30_000,
  );
});
