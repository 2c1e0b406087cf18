import type { TTestDatabase } from './test-database';

/**
 * A bad deploy, reproduced in the database: from now on, an UPDATE of `table` whose new row matches `when` fails
 * in Postgres (a trigger raising `message`), whatever service runs it. Returns the fix, idempotent: call it in a
 * `finally` too. Only for tests: the trigger and its function are created and dropped by the superuser.
 */
export async function failUpdatesWhere(
  db: TTestDatabase,
  opts: { name: string; table: string; when: string; message: string },
): Promise<() => Promise<void>> {
  const fn = `public.${opts.name}`;
  await db.query(`create function ${fn}() returns trigger language plpgsql as $$
      begin if ${opts.when} then raise exception '%', ${quote(opts.message)}; end if; return new; end $$`);
  await db.query(
    `create trigger ${opts.name} before update on ${opts.table} for each row execute function ${fn}()`,
  );
  let fixed = false;
  return async () => {
    if (fixed) return;
    fixed = true;
    await db.query(`drop trigger ${opts.name} on ${opts.table}`);
    await db.query(`drop function ${fn}()`);
  };
}

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;
