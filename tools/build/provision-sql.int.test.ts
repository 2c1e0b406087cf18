import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase, urlForDatabase } from '@otesse/persistence';
import { createTestDatabase, REPO_ROOT, TEST_ADMIN_URL, type TTestDatabase } from '@otesse/testing';

const run = promisify(execFile);

/** What provisioning decides: who may connect, who owns which schema, each role's search_path. */
async function snapshot(adminUrl: string, db: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const rows = await client.query<{ line: string }>(
      `select 'acl ' || replace(datacl::text, $1, 'DB') as line from pg_database where datname = $1
       union all
       select 'schema ' || nspname || ' ' || nspowner::regrole || ' ' || coalesce(nspacl::text, '')
       from pg_namespace where nspname in ('public', 'edge', 'vault', 'connection', 'sync', 'audit')
       union all
       select 'setting ' || r.rolname || ' ' || array_to_string(s.setconfig, ',')
       from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
       join pg_database d on d.oid = s.setdatabase where d.datname = $1
       order by 1`,
      [db],
    );
    return rows.rows.map((r) => r.line);
  } finally {
    await client.end();
  }
}

// docker-compose's `provision` runs tools/postgres/provision.sql with psql; it must leave a database exactly
// like provisionDatabase() (libs/persistence) does. Passwords are left empty: roles are cluster-wide.
describe('tools/postgres/provision.sql', () => {
  const name = `otesse_sql_${randomBytes(4).toString('hex')}`;
  const sqlUrl = urlForDatabase(TEST_ADMIN_URL, name);
  let reference: TTestDatabase | undefined;

  afterAll(async () => {
    await reference?.drop();
    await dropDatabase(sqlUrl);
  });

  it('provisions what provisionDatabase() does, and can run again', async () => {
    reference = await createTestDatabase();
    const psql = (): Promise<{ stdout: string }> =>
      run(
        'psql',
        [
          '-X',
          '-d',
          urlForDatabase(TEST_ADMIN_URL, 'postgres'),
          '-f',
          'tools/postgres/provision.sql',
        ],
        {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            OTESSE_DB: name,
            ...Object.fromEntries(
              ['EDGE', 'VAULT', 'CONNECTION', 'SYNC', 'AUDIT', 'AUDIT_OWNER'].map((s) => [
                `OTESSE_${s}_DB_PASSWORD`,
                '',
              ]),
            ),
          },
        },
      );
    expect((await psql()).stdout).toContain(`provisioned database ${name}`);
    await psql();
    const expected = await snapshot(reference.adminUrl, reference.name);
    expect(expected.length).toBeGreaterThan(10);
    expect(await snapshot(sqlUrl, name)).toEqual(expected);
  });
});
