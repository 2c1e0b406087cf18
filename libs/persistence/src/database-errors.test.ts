import { describe, expect, it } from 'vitest';
import { AppError } from '@otesse/contracts';
import {
  databaseErrorToAppError,
  isDatabaseUnavailable,
  whileDatabaseAway,
} from './database-errors';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it('recognises what a restart, a failover or a cut network path produces', () => {
    for (const e of [
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('the database system is shutting down', '57P03'),
      withCode('sorry, too many clients already', '53300'),
      withCode('could not extend file: No space left on device', '53100'),
      withCode('connection failure', '08006'),
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('select 1 - read ECONNRESET', 'ECONNRESET'),
      new Error('Connection terminated unexpectedly'),
      new Error('select "vault".destroy_credentials($1) as r - Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), {
        name: 'KnexTimeoutError',
      }),
      new Error('wrapped', { cause: withCode('x', 'ECONNREFUSED') }),
    ]) {
      expect(isDatabaseUnavailable(e), (e as Error).message).toBe(true);
    }
  });

  it('leaves statements the server refused, and anything else, alone', () => {
    for (const e of [
      withCode('duplicate key value violates unique constraint "x"', '23505'),
      withCode('deadlock detected', '40P01'),
      // A function's own error whose text happens to read like a lost connection: its code decides.
      withCode('Connection terminated unexpectedly', 'OT001'),
      withCode('canceling statement due to statement timeout', '57014'),
      withCode('configuration limit exceeded', '53400'),
      new Error('something else'),
      new AppError('UNAVAILABLE', 'no service answers x', { reason: 'no_responders' }),
      'Connection terminated unexpectedly',
      undefined,
      null,
    ]) {
      expect(isDatabaseUnavailable(e)).toBe(false);
    }
  });

  it('becomes a retryable UNAVAILABLE that names nothing of the database', () => {
    const cause = withCode('connect ECONNREFUSED 10.0.0.5:5432', 'ECONNREFUSED');
    const err = databaseErrorToAppError(cause);
    expect(err).toBeInstanceOf(AppError);
    expect(err?.toReply()).toEqual({
      error: {
        code: 'UNAVAILABLE',
        reason: 'database_unavailable',
        message: 'the database is unavailable; try again shortly',
      },
    });
    expect(err?.retryable).toBe(true);
    expect(databaseErrorToAppError(withCode('x', '23505'))).toBeUndefined();
  });
});

describe('whileDatabaseAway', () => {
  const away = () => withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');

  it('runs the work again while the database is away, and answers once it is back', async () => {
    let calls = 0;
    const waits: number[] = [];
    const result = await whileDatabaseAway(
      () => {
        calls += 1;
        return calls < 3 ? Promise.reject(away()) : Promise.resolve('claimed');
      },
      { waitMs: 5_000, onWait: (attempt) => waits.push(attempt) },
    );
    expect(result).toBe('claimed');
    expect(calls).toBe(3);
    expect(waits).toEqual([1, 2]);
  });

  it('gives up with the same error once the wait is spent', async () => {
    let calls = 0;
    const started = Date.now();
    const err = await whileDatabaseAway(
      () => {
        calls += 1;
        return Promise.reject(away());
      },
      { waitMs: 400 },
    ).catch((e: unknown) => e);
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(calls).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('never runs again what the database refused (or anything else failing)', async () => {
    let calls = 0;
    const refused = withCode('duplicate key value violates unique constraint', '23505');
    await expect(
      whileDatabaseAway(
        () => {
          calls += 1;
          return Promise.reject(refused);
        },
        { waitMs: 5_000 },
      ),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);
  });
});
