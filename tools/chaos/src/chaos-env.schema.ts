import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `npm run chaos` sizing: the defaults are the full run recorded in docs/RELIABILITY.md. */
export const ZChaosEnv = z.object({
  /** Disconnects to complete, and as many reconnects (a new OAuth connect of a disconnected slot). */
  CHAOS_OPERATIONS: int(1, 100_000).default(300),
  /** Concurrent clients (each its own Otesse user with 4 user-level slots). */
  CHAOS_CLIENTS: int(1, 64).default(8),
  /** A random service is SIGKILLed every this many ms (± 25 %), once the previous victim is back. */
  CHAOS_KILL_EVERY_MS: int(100, 600_000).default(3_000),
  /** How long a killed service stays down before it is started again (± 50 %). */
  CHAOS_DOWN_MS: int(0, 600_000).default(1_000),
  /** NATS is killed and restarted once, after this many service kills. */
  CHAOS_NATS_RESTART_AFTER_KILLS: int(0, 100_000).default(10),
  /**
   * Every n-th fault cuts a random service's path to Postgres for CHAOS_DOWN_MS (± 50 %) instead of killing it
   * (sessions reset, new ones refused, as a restart or failover does); 0: never.
   */
  CHAOS_DATABASE_CUT_EVERY: int(0, 1_000).default(4),
  /**
   * Once, after this many kills, every service's path to Postgres (the edge's too) is cut at the same moment for
   * CHAOS_DOWN_MS (± 50 %), as a Postgres restart or failover looks to the stack; 0: never.
   */
  CHAOS_DATABASE_OUTAGE_AFTER_KILLS: int(0, 100_000).default(5),
  /** Processes per service (edge replicas on distinct ports). */
  CHAOS_REPLICAS: int(1, 4).default(1),
  /** Every n-th cycle of a slot changes its connected user first (a change-user saga); 0: never. */
  CHAOS_CHANGE_USER_EVERY: int(0, 1_000).default(3),
  /** After the faults stop, the time sagas and invariants have to settle (the issue says 60 s). */
  CHAOS_SETTLE_MS: int(1_000, 600_000).default(60_000),
  /** The run stops (and reports what it has) after this long. */
  CHAOS_MAX_RUN_MS: int(10_000, 86_400_000).default(30 * 60_000),
  /** Saga lease of the edges: how soon a killed edge's sagas are resumed. */
  CHAOS_SAGA_LEASE_MS: int(500, 600_000).default(3_000),
  /** 1: log every kill as it happens. */
  CHAOS_VERBOSE: z.enum(['0', '1']).default('0'),
  /** Seeds the choice of victims (replay a run). */
  CHAOS_SEED: int(0, 2 ** 31).default(() => Math.floor(Math.random() * 2 ** 31)),
});
export type TChaosEnv = z.infer<typeof ZChaosEnv>;
