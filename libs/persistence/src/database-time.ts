import type { Knex } from '@mikro-orm/postgresql';

/**
 * The database's time `ms` from now (before now when negative), as a value for knex: what one process dates and
 * another judges is dated and judged by the database's clock, never a process' own (hosts' clocks may differ).
 */
export function databaseTimeIn(k: Knex | Knex.Transaction, ms: number): Knex.Raw {
  return k.raw(`now() + ? * interval '1 millisecond'`, [ms]);
}
