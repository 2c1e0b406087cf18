import type { Knex } from '@mikro-orm/postgresql';
import { FORGET_IDEMPOTENCY_RECORDS_MAX } from '@otesse/contracts';

/** How long after a saga ended the services keep its commands' idempotency records, by default. */
export const SAGA_RECORD_RETENTION_MS = 7 * 86_400_000;
/** How often each edge releases them, by default. */
export const SAGA_RECORD_RELEASE_INTERVAL_MS = 60_000;
/** Sagas per round: at most 14 keys each (7 steps, each with a compensation), so one request per service. */
const SAGAS_PER_ROUND = 100;

/**
 * Tells the services to delete the records of `keys` (every service that received saga commands); rejects when one
 * did not confirm, and the same sagas are released again next time.
 */
export type TForgetRecords = (keys: string[]) => Promise<void>;

/** The saga's end hooks that may send a command of their own (a reconnect's discard of unused tokens). */
export type TSagaHook = 'onCompensated' | 'onFailed';
const HOOK_KEY: Record<TSagaHook, string> = {
  onCompensated: 'on-compensated',
  onFailed: 'on-failed',
};

/**
 * The key a saga's end hook sends its command under: a saga key (`<sagaId>:<name>`), kept until the saga's
 * records are released like its steps' — a key of its own name would be kept for ever (a service's purge skips
 * saga keys) and never released.
 */
export function sagaHookKey(sagaId: string, hook: TSagaHook): string {
  return `${sagaId}:${HOOK_KEY[hook]}`;
}

/**
 * Releases the idempotency records of sagas that ended — `completed` or `compensated`, which never send a command
 * again (a stopped saga, `failed`, may be resumed and keeps them) — more than `retentionMs` ago, in the database's
 * time. A round claims up to 100 such sagas (`SKIP LOCKED`: edges share the work), has `forget` delete every key
 * their steps could have been sent under (`<sagaId>:<step>`, and `…:compensate` for a compensated saga), then marks
 * them released in the same transaction: a failed `forget` leaves them to the next run. Keys a service never saw
 * are harmless. Returns how many sagas and keys were released.
 */
export async function releaseIdempotencyRecords(
  knex: Knex,
  opts: {
    schema: string;
    retentionMs: number;
    forget: TForgetRecords;
    /** Checked between rounds: a stopping edge ends after the round in progress. */
    stopped?: () => boolean;
  },
): Promise<{ sagas: number; keys: number }> {
  const s = `"${opts.schema.replace(/"/g, '""')}"`;
  let sagas = 0;
  let keys = 0;
  for (;;) {
    const round = await knex.transaction(async (trx) => {
      const ended = (
        await trx.raw<{ rows: { id: string; status: string }[] }>(
          `select id, status from ${s}.saga
            where records_released_at is null and status in ('completed', 'compensated')
              and completed_at < now() - ? * interval '1 millisecond'
            order by completed_at limit ${SAGAS_PER_ROUND}
            for update skip locked`,
          [opts.retentionMs],
        )
      ).rows;
      if (ended.length === 0) return { sagas: 0, keys: 0 };
      const compensated = new Set(ended.filter((r) => r.status === 'compensated').map((r) => r.id));
      const steps = (
        await trx.raw<{ rows: { saga_id: string; name: string }[] }>(
          `select saga_id, name from ${s}.saga_step where saga_id = any(?::uuid[])`,
          [ended.map((r) => r.id)],
        )
      ).rows;
      const released = [
        ...steps.flatMap((st) => {
          const key = `${st.saga_id}:${st.name}`;
          return compensated.has(st.saga_id) ? [key, `${key}:compensate`] : [key];
        }),
        // Whatever the end hooks sent (most send nothing: forgetting an absent key costs nothing).
        ...ended.flatMap((r) => [
          sagaHookKey(r.id, 'onCompensated'),
          sagaHookKey(r.id, 'onFailed'),
        ]),
      ];
      for (let i = 0; i < released.length; i += FORGET_IDEMPOTENCY_RECORDS_MAX)
        await opts.forget(released.slice(i, i + FORGET_IDEMPOTENCY_RECORDS_MAX));
      await trx.raw(`update ${s}.saga set records_released_at = now() where id = any(?::uuid[])`, [
        ended.map((r) => r.id),
      ]);
      return { sagas: ended.length, keys: released.length };
    });
    sagas += round.sagas;
    keys += round.keys;
    if (round.sagas < SAGAS_PER_ROUND || opts.stopped?.()) return { sagas, keys };
  }
}
