import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase } from '@otesse/testing';
import { CONNECTION_SCHEMA, connectionOrmConfig } from '../apps/connection/src/db/orm.config';

const db = await createTestDatabase('otesse_scratch');
const orm = await openOrm(connectionOrmConfig(db.urlFor('connection')));
await migrateUp(orm, CONNECTION_SCHEMA.schema);
await orm.close(true);
const org = randomUUID(), inst = randomUUID(), conn = randomUUID();
await db.query(`insert into connection.integration_instance (id, org_id, vendor, status, config, created_at, updated_at) values ($1,$2,'servicenow','connected','{"subdomain":"acme"}',now(),now())`, [inst, org]);
await db.query(`insert into connection.integration_health (id, instance_id, status, checked_at, checks_enabled, detail, updated_at) values ($1,$2,'healthy',now(),true,'x',now())`, [randomUUID(), inst]);
await db.query(`insert into connection.integration_connection (id, org_id, instance_id, vendor, level, user_id, status, refresh_token_expired, details, instance_reused, created_at, updated_at, connected_at) values ($1,$2,$3,'servicenow','user',$4,'connected',false,'{}',false,now(),now(),now())`, [conn, org, inst, randomUUID()]);
const c = new pg.Client({ connectionString: db.urlFor('connection') });
await c.connect();
const time = async (name: string, text: string) => {
  const q = { name, text, values: [org, conn] };
  for (let i = 0; i < 300; i++) await c.query(q);
  const t = process.hrtime.bigint();
  const n = 3000;
  for (let i = 0; i < n; i++) await c.query(q);
  console.log(name, (Number(process.hrtime.bigint() - t) / 1e6 / n).toFixed(3), 'ms');
};
await time('get', `select "connection".connection_json(c) as connection, "connection".instance_json(c.instance_id) as instance from "connection".integration_connection c where c.org_id = $1 and c.id = $2`);
await time('conn_only', `select "connection".connection_json(c) as connection from "connection".integration_connection c where c.org_id = $1 and c.id = $2`);
await time('row_only', `select c.id from "connection".integration_connection c where c.org_id = $1 and c.id = $2`);
await c.query(`create or replace function "connection".instance_json2(p_id uuid) returns jsonb language plpgsql stable as $$
declare r jsonb; begin
  select jsonb_build_object(
    'id', i.id, 'orgId', i.org_id, 'vendor', i.vendor, 'status', i.status, 'config', i.config,
    'health', coalesce(h.status, 'unknown'), 'healthCheckedAt', "connection".iso_ms(h.checked_at),
    'healthChecksEnabled', coalesce(h.checks_enabled, false),
    'createdAt', "connection".iso_ms(i.created_at), 'updatedAt', "connection".iso_ms(i.updated_at)) into r
  from "connection".integration_instance i
  left join "connection".integration_health h on h.instance_id = i.id
  where i.id = p_id limit 1; return r; end $$`);
await time('get_plpgsql_inst', `select "connection".connection_json(c) as connection, "connection".instance_json2(c.instance_id) as instance from "connection".integration_connection c where c.org_id = $1 and c.id = $2`);
await c.query(`create or replace function "connection".iso_ms2(t timestamptz) returns text language sql immutable as $$ select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$`);
await time('iso6', `select "connection".iso_ms(now()), "connection".iso_ms(now()),"connection".iso_ms(now()),"connection".iso_ms(now()),"connection".iso_ms(now()),"connection".iso_ms(now()) where $1::uuid is not null and $2::uuid is not null`);
await c.end();
await db.drop();
