import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, errorOf, type TTestDatabase } from '@otesse/testing';
import { sealCredentialRows, VAULT_DB_SCHEMA } from '../credential-records';
import { VAULT_SCHEMA, vaultOrmConfig } from '../db/orm.config';
import { sealWebhookSecretRow, upsertWebhookSecret } from '../webhook-secret-rows';
import { checkMasterKeysOpenStoredData } from './master-key-check';
import { MasterKeyRing, type TMasterKey } from './master-keys';

const masterKey = (keyId: string): TMasterKey => ({ keyId, key: randomBytes(32) });

/**
 * The check a vault runs before serving (is every key id the stored data uses in VAULT_MASTER_KEY, and the key it was
 * sealed with?), on a table with a long history: it tries a few of the newest rows of each key id, and reads about
 * that many, not every credential stored.
 */
describe('master-key check at start (real Postgres)', () => {
  const HISTORY = 20_000;
  let db: TTestDatabase;
  let orm: MikroORM;
  let knex: Knex;
  const k1 = masterKey('k1');
  const k2 = masterKey('k2');

  /** Rows of vault.credential read so far (table and index tuples), this session's counters flushed first. */
  const credentialRowsRead = async (): Promise<number> => {
    // One pooled connection: the check's statements ran on it, and this flush makes its counters visible now.
    await knex.raw('select pg_stat_force_next_flush()');
    const { rows } = (await knex.raw(
      `select coalesce(t.seq_tup_read, 0)
              + (select coalesce(sum(i.idx_tup_read), 0) from pg_stat_user_indexes i where i.relid = t.relid)
              as n
         from pg_stat_user_tables t where t.relid = 'vault.credential'::regclass`,
    )) as { rows: { n: string }[] };
    return Number(rows[0]?.n);
  };
  const seal = async (ring: TMasterKey[], count: number): Promise<string[]> => {
    const rows = sealCredentialRows(
      new MasterKeyRing(ring),
      {
        orgId: randomUUID(),
        connectionId: randomUUID(),
        vendor: 'servicenow',
        credentials: Array.from({ length: count }, () => ({
          kind: 'access_token' as const,
          value: `tok_${randomBytes(16).toString('base64url')}`,
        })),
      },
      knex,
    );
    await knex('credential').withSchema(VAULT_DB_SCHEMA).insert(rows);
    return rows.map((r) => r.id);
  };
  const check = (ring: TMasterKey[]) =>
    checkMasterKeysOpenStoredData(knex, new MasterKeyRing(ring));

  beforeAll(async () => {
    db = await createTestDatabase();
    const migrator = await openOrm(vaultOrmConfig(db.urlFor('credential-vault')));
    await migrateUp(migrator, VAULT_SCHEMA.schema).finally(() => migrator.close(true));
    orm = await openOrm({ ...vaultOrmConfig(db.urlFor('credential-vault')), poolMax: 1 });
    knex = orm.em.getConnection().getKnex();
    // A long history under k1 that no key opens any more (each copy is bound to another credential id): older
    // than anything below, so never among the rows tried.
    const template = (await seal([k1], 1))[0]!;
    await knex.raw(
      `insert into vault.credential (id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag,
              wrapped_data_key, key_id, is_active, is_deleted, created_at, updated_at)
       select gen_random_uuid(), t.org_id, gen_random_uuid(), t.vendor, t.kind, t.ciphertext, t.iv, t.auth_tag,
              t.wrapped_data_key, t.key_id, true, false, now() - interval '30 days',
              now() - interval '1 day' - g * interval '1 second'
         from generate_series(1, ?::int) g, vault.credential t where t.id = ?`,
      [HISTORY, template],
    );
    await knex.raw(
      `update vault.credential set updated_at = now() - interval '2 days' where id = ?`,
      [template],
    );
    // Destroyed rows of a key long retired: not data any key must open.
    await knex.raw(
      `insert into vault.credential (id, org_id, connection_id, vendor, kind, ciphertext, iv, auth_tag,
              wrapped_data_key, key_id, is_active, is_deleted, created_at, updated_at, deleted_at)
       select gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'servicenow', 'refresh_token', '', '', '',
              '', 'k0', false, true, now(), now(), now()
         from generate_series(1, 500)`,
    );
    // The newest: three under k1, two under k2, and a webhook secret under k2.
    await seal([k1], 3);
    await seal([k2], 2);
    await upsertWebhookSecret(
      knex,
      sealWebhookSecretRow(
        new MasterKeyRing([k2]),
        {
          orgId: randomUUID(),
          instanceId: randomUUID(),
          vendor: 'quickbooks',
          secret: randomBytes(24).toString('base64url'),
        },
        new Date(),
      ),
    );
    await knex.raw('analyze vault.credential');
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('tries the newest live rows of each key id in use, reading a handful of rows whatever the history', async () => {
    const before = await credentialRowsRead();
    const { keyIdsChecked } = await check([k2, k1]);
    expect([...keyIdsChecked].sort()).toEqual(['k1', 'k2']);
    // Not the 20,000 older rows (it used to sort every live credential on each start).
    expect((await credentialRowsRead()) - before).toBeLessThan(100);
  });

  it('refuses a ring without a key id the live rows use, and one with a key regenerated under an id', async () => {
    // k0 is used by destroyed rows only: not named.
    await expect(errorOf(check([k2]))).resolves.toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'master_key_mismatch',
      details: { missingKeyIds: ['k1'], wrongKeyIds: [] },
    });
    await expect(errorOf(check([k2, masterKey('k1')]))).resolves.toMatchObject({
      reason: 'master_key_mismatch',
      details: { missingKeyIds: [], wrongKeyIds: ['k1'] },
    });
  });

  it('one damaged row among those tried does not stop the start', async () => {
    const [newest] = (
      (await knex.raw(
        `select id from vault.credential where key_id = 'k1' and not is_deleted
          order by updated_at desc limit 1`,
      )) as { rows: { id: string }[] }
    ).rows;
    await knex.raw(`update vault.credential set ciphertext = ? where id = ?`, [
      randomBytes(32).toString('base64'),
      newest!.id,
    ]);
    await expect(check([k2, k1])).resolves.toEqual({
      keyIdsChecked: expect.arrayContaining(['k1', 'k2']) as unknown,
    });
  });
});
