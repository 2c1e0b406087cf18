import type { MikroORM } from '@mikro-orm/postgresql';
import { openOrm } from '@otesse/persistence';
import { createTestDatabase, type TTestDatabase } from '@otesse/testing';
import { sagaEntities } from '../saga.entity';

/**
 * The saga log's tables as the entities describe them, for the ORM's schema. The edge's migrations create them in
 * production; the role owns its schema but may not CREATE SCHEMA, so that line is left out.
 */
export async function sagaLogDdl(orm: MikroORM): Promise<string> {
  return (await orm.getSchemaGenerator().getCreateSchemaSQL({ wrap: false }))
    .split('\n')
    .filter((l) => !/^create schema/.test(l))
    .join('\n');
}

/** The saga log's ORM on `db` for `schema`, as the edge's role (its tables not created). */
export function openSagaLogOrm(db: TTestDatabase, schema = 'edge'): Promise<MikroORM> {
  return openOrm({ url: db.urlFor('edge'), schema, entities: sagaEntities, migrations: [] });
}

/** A fresh database with the saga log in schema `edge`, opened as the edge's role. */
export async function openSagaLogDatabase(): Promise<{ db: TTestDatabase; orm: MikroORM }> {
  const db = await createTestDatabase();
  const orm = await openSagaLogOrm(db);
  await orm.em.getConnection().execute(await sagaLogDdl(orm));
  return { db, orm };
}
