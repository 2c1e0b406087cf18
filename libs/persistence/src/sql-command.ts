import type { Knex } from '@mikro-orm/postgresql';
import type { ClientBase, DatabaseError, QueryResultRow } from 'pg';
import { AppError, type TAppErrorCode } from '@otesse/contracts';

/**
 * SQLSTATE a command function raises for an expected failure. Its DETAIL is JSON `{ code, reason, details? }`
 * (an AppError code); its MESSAGE the error's message. Everything it did is rolled back with the statement.
 */
export const COMMAND_ERROR_SQLSTATE = 'OT001';

/** What a command function returns: the subject the key was first used for and the stored result. */
interface TCommandRow {
  subject: string;
  result: unknown;
  replayed: boolean;
}

/**
 * Runs a saga command that lives in a Postgres function of the service's schema, in one round trip: the function
 * checks the idempotency key, takes its row locks, applies the effect and stores the key with the reply, all in
 * the statement's own transaction (the hot path of a saga step: 6–9 statements of the same transaction done in
 * TypeScript cost as many round trips). The statement is prepared once per connection (`name`).
 *
 * The function returns `jsonb` `{ subject, result, replayed }`. A replay answers the stored result; a concurrent
 * duplicate fails on the key's primary key after the first committed and is answered by running again (a
 * replay). A key first used for another subject is CONFLICT `idempotency_key_reused`. A deadlock victim (or a
 * serialization failure) is run again, twice at most.
 */
export async function runSqlCommandOnce<T>(
  knex: Knex,
  opts: { name: string; text: string; values: unknown[]; subject: string },
): Promise<{ result: T; replayed: boolean }> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { rows } = await queryPrepared<{ r: TCommandRow }>(
        knex,
        opts.name,
        opts.text,
        opts.values,
      );
      const r = rows[0]?.r;
      if (!r) throw new Error(`${opts.name} returned nothing`);
      if (r.subject !== opts.subject) {
        throw new AppError('CONFLICT', `this idempotency key was used for ${r.subject}`, {
          reason: 'idempotency_key_reused',
        });
      }
      return { result: r.result as T, replayed: r.replayed };
    } catch (e) {
      const err = e as Partial<DatabaseError>;
      if (err.code === COMMAND_ERROR_SQLSTATE) throw commandError(err);
      // A concurrent duplicate committed first: run again, which answers its stored result.
      if (err.code === '23505' && err.constraint === 'processed_command_pkey' && attempt < 3)
        continue;
      // Chosen as a deadlock's victim (or a serialization failure): the statement's transaction was rolled back
      // whole, so running it again is safe. Its locks are known to be ordered; this is the net under that.
      if ((err.code === '40P01' || err.code === '40001') && attempt < 3) {
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
        continue;
      }
      throw e;
    }
  }
}

function commandError(err: Partial<DatabaseError>): AppError {
  let d: { code?: TAppErrorCode; reason?: string; details?: Record<string, unknown> } = {};
  try {
    d = JSON.parse(err.detail ?? '{}') as typeof d;
  } catch {
    // A malformed detail is a bug in the function: the code below makes it an INTERNAL error.
  }
  return new AppError(d.code ?? 'INTERNAL', err.message ?? 'command failed', {
    ...(d.reason ? { reason: d.reason } : {}),
    ...(d.details ? { details: d.details } : {}),
  });
}

/**
 * One named (prepared once per connection) statement on a connection of knex's pool: knex itself cannot name
 * statements, and a hot path's statement parsed and planned on every call costs the database more than running it.
 * `name` must always go with the same `text`.
 */
export async function queryPrepared<R extends QueryResultRow>(
  knex: Knex,
  name: string,
  text: string,
  values: unknown[],
): Promise<{ rows: R[]; rowCount: number }> {
  const client = knex.client as {
    acquireConnection(): Promise<ClientBase>;
    releaseConnection(c: ClientBase): Promise<void>;
  };
  const conn = await client.acquireConnection();
  try {
    const res = await conn.query<R>({ name, text, values });
    return { rows: res.rows, rowCount: res.rowCount ?? 0 };
  } finally {
    await client.releaseConnection(conn);
  }
}
