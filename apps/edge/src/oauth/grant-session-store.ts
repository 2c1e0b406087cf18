import type { MikroORM } from '@mikro-orm/postgresql';
import { databaseTimeIn } from '@otesse/persistence';

const TTL_MS = 15 * 60_000;

/**
 * grant's `store` interface backed by the edge's Postgres schema, so any replica can finish a flow. `run` wraps each
 * statement (the OAuth routes wait for a database out of reach); every one of them is safe to run again.
 */
export function grantSessionStore(
  orm: MikroORM,
  run: <T>(statement: () => Promise<T>) => Promise<T>,
) {
  const knex = () => orm.em.getConnection().getKnex();
  return {
    get: async (sid: string): Promise<unknown> => {
      const row = (await run(() =>
        knex()('oauth_session')
          .withSchema('edge')
          .where({ sid })
          .andWhere('expires_at', '>', knex().fn.now())
          .first('data'),
      )) as { data: unknown } | undefined;
      return row?.data;
    },
    set: async (sid: string, json: unknown): Promise<void> => {
      await run(() =>
        knex()('oauth_session')
          .withSchema('edge')
          .insert({
            sid,
            data: JSON.stringify(json),
            // The database's clock: another replica reads it back.
            expires_at: databaseTimeIn(knex(), TTL_MS),
          })
          .onConflict('sid')
          .merge(),
      );
    },
    remove: async (sid: string): Promise<void> => {
      await run(() => knex()('oauth_session').withSchema('edge').where({ sid }).delete());
    },
  };
}
