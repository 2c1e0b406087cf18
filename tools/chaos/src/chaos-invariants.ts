import { consumerOpts, type NatsConnection } from 'nats';
import { STREAMS } from '@otesse/contracts';
import type { TTestDatabase } from '@otesse/testing';

/** The event a saga publishes once it completes (a compensated saga publishes none). */
export const SAGA_EVENT: Record<string, string> = {
  disconnect: 'integrations.connection.disconnected',
  reconnect: 'integrations.connection.reconnected',
  'change-user': 'integrations.connection.user_changed',
  'unlink-tenant': 'integrations.instance.unlinked',
};

export interface TSagaCounts {
  sagas: number;
  completed: number;
  compensated: number;
  /** Neither completed nor compensated: still running, still compensating, or `failed`. */
  stuck: number;
  byType: Record<string, { sagas: number; completed: number; compensated: number }>;
}

export interface TInvariantReport {
  counts: TSagaCounts;
  /** Each kind of violation with how many sagas, connections or credentials break it. */
  violations: Record<string, number>;
  /** Worth knowing, not an invariant of the sagas (see docs/RELIABILITY.md). */
  observations: Record<string, number>;
  /** A few offending ids per violation, to start an investigation from. */
  examples: Record<string, string[]>;
  totalViolations: number;
}

const n = (v: unknown): number => Number(v ?? 0);

/** The chaos harness releases an ended saga's idempotency records 2 s after its end; this is the bound checked. */
export const RECORDS_RELEASED_WITHIN_S = 10;

/**
 * Every event on the INTEGRATIONS stream that carries a saga id, counted per (saga, subject). Read with one ordered
 * consumer per subject of the stream, from its first message to the last one stored when the read began.
 */
export async function eventsBySaga(nc: NatsConnection): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const jsm = await nc.jetstreamManager();
  // How many messages each subject holds: a filter that matches none is not read (it would wait for one).
  const info = await jsm.streams.info('INTEGRATIONS', { subjects_filter: '>' });
  const held = Object.entries(info.state.subjects ?? {});
  // The stream's own subjects, one ordered consumer each: an ordered consumer's filter must fall in one stream
  // (WEBHOOKS holds the rest), and nats-server 2.9 takes one filter per consumer.
  for (const filter of STREAMS.INTEGRATIONS.subjects) {
    const prefix = filter.slice(0, -1);
    if (!held.some(([subject, count]) => subject.startsWith(prefix) && count > 0)) continue;
    const opts = consumerOpts();
    opts.orderedConsumer();
    const sub = await nc.jetstream().subscribe(filter, opts);
    try {
      const timer = setTimeout(() => sub.unsubscribe(), 30_000);
      for await (const m of sub) {
        const body = m.json<{ sagaId?: unknown }>();
        if (typeof body.sagaId === 'string') {
          const perSaga = out.get(body.sagaId) ?? new Map<string, number>();
          perSaga.set(m.subject, (perSaga.get(m.subject) ?? 0) + 1);
          out.set(body.sagaId, perSaga);
        }
        // Everything stored when the read began has been read (the clients have stopped).
        if (m.info.pending === 0) break;
      }
      clearTimeout(timer);
    } finally {
      sub.unsubscribe();
    }
  }
  return out;
}

/** Saga statuses straight from the edge's saga log. */
export async function sagaCounts(db: TTestDatabase): Promise<TSagaCounts> {
  const rows = await db.query<{ type: string; status: string; n: string }>(
    `select type, status, count(*) as n from edge.saga group by type, status`,
  );
  const counts: TSagaCounts = { sagas: 0, completed: 0, compensated: 0, stuck: 0, byType: {} };
  for (const r of rows) {
    const t = (counts.byType[r.type] ??= { sagas: 0, completed: 0, compensated: 0 });
    const k = n(r.n);
    counts.sagas += k;
    t.sagas += k;
    if (r.status === 'completed') {
      counts.completed += k;
      t.completed += k;
    } else if (r.status === 'compensated') {
      counts.compensated += k;
      t.compensated += k;
    } else counts.stuck += k;
  }
  return counts;
}

/**
 * The promises of the disconnect and reconnect sagas, checked in the services' own databases (as the superuser)
 * and on the INTEGRATIONS stream:
 * - every saga completed or compensated;
 * - no active (or still decryptable) credential for a revoked connection;
 * - no connect left pending, nor a live credential for an abandoned one (the sweep, the vault's consumer);
 * - no credential a swap retired, or the vault took over to discard, left decryptable;
 * - no sync job left disabled by a compensated saga;
 * - exactly one audit entry per saga, and exactly one event per completed saga (none for a compensated one);
 * - no connection left `disconnecting`, nor locked by a reconnect / change-user saga, nor an instance held for
 *   the disconnect of its last connection, or for an unlink.
 */
export async function checkInvariants(
  db: TTestDatabase,
  nc: NatsConnection,
): Promise<TInvariantReport> {
  const counts = await sagaCounts(db);
  const violations: Record<string, number> = {};
  const examples: Record<string, string[]> = {};
  const record = (kind: string, ids: string[]): void => {
    violations[kind] = ids.length;
    if (ids.length) examples[kind] = ids.slice(0, 5);
  };

  const stuck = await db.query<{ id: string }>(
    `select id from edge.saga where status not in ('completed', 'compensated') order by created_at`,
  );
  record(
    'sagas not completed or compensated',
    stuck.map((r) => r.id),
  );

  /** Credentials still active or decryptable of connections in this status. */
  const aliveCredentials = async (status: 'revoked' | 'error'): Promise<string[]> =>
    (
      await db.query<{ id: string }>(
        `select c.id from vault.credential c
           join connection.integration_connection ic on ic.id = c.connection_id
          where ic.status = $1 and (c.is_active or c.ciphertext <> '' or c.wrapped_data_key <> '')`,
        [status],
      )
    ).map((r) => r.id);
  record('credentials alive for a revoked connection', await aliveCredentials('revoked'));

  // A connect that never finished: swept (its bound is 20 s in the chaos harness), and what the vault got for it
  // destroyed by the vault's consumer of the abandoned event.
  const pending = await db.query<{ id: string }>(
    `select id from connection.integration_connection where status = 'pending' order by created_at`,
  );
  record(
    'connects left pending',
    pending.map((r) => r.id),
  );
  record('credentials alive for an abandoned connect', await aliveCredentials('error'));

  // Retired by a swap (reconnect, change of user) or handed over to be discarded (a refused authorization, an
  // abandoned connect): each must end destroyed — by its saga's destroy step, or by the vault's discard sweep.
  const retired = await db.query<{ id: string }>(
    `select c.id from vault.credential c
      where c.retired_at is not null and (c.ciphertext <> '' or c.wrapped_data_key <> '')
        and c.staged_until is null
      order by c.created_at`,
  );
  record(
    'retired or discarded credentials never destroyed',
    retired.map((r) => r.id),
  );
  // Tokens a callback staged: claimed by its connect's store or its saga's swap, or discarded by a refusal, a failure
  // or a compensation. Those nothing claims any more (their callback's edge was killed, a discard failed) are the
  // vault's once their hold ends (30 s in the chaos harness): revoked and destroyed by its sweep. Only a stage an open
  // saga may still swap in is left alone. No client runs while this is checked.
  const stages = await db.query<{ id: string }>(
    `select distinct c.connection_id as id from vault.credential c
      where c.staged_until is not null and (c.ciphertext <> '' or c.wrapped_data_key <> '')
        and not exists (
              select 1 from edge.saga s
               where s.input->>'stageId' = c.connection_id::text and s.status in ('running', 'compensating'))
      order by 1`,
  );
  record(
    "callbacks' staged tokens nothing claims, never destroyed",
    stages.map((r) => r.id),
  );

  const disabledJobs = await db.query<{ id: string }>(
    `select j.id from sync.sync_job j join edge.saga s on s.id = j.disabled_by_saga_id
      where s.status = 'compensated' and not j.is_enabled`,
  );
  record(
    'sync jobs left disabled by a compensated saga',
    disabledJobs.map((r) => r.id),
  );

  const audit = await db.query<{ id: string; entries: string }>(
    `select s.id, (select count(*) from audit.audit_entry a where a.targets->>'sagaId' = s.id::text) as entries
       from edge.saga s`,
  );
  record(
    'sagas without exactly one audit entry',
    audit.filter((r) => n(r.entries) !== 1).map((r) => r.id),
  );

  const events = await eventsBySaga(nc);
  const sagas = await db.query<{ id: string; type: string; status: string }>(
    `select id, type, status from edge.saga`,
  );
  const badEvents: string[] = [];
  for (const s of sagas) {
    const subject = SAGA_EVENT[s.type];
    const seen = events.get(s.id);
    const total = [...(seen?.values() ?? [])].reduce((a, b) => a + b, 0);
    const expected = s.status === 'completed' ? 1 : 0;
    const right = subject ? (seen?.get(subject) ?? 0) : 0;
    // Only terminal sagas can be judged; open ones are already counted above.
    if (
      (s.status === 'completed' || s.status === 'compensated') &&
      (total !== expected || right !== expected)
    )
      badEvents.push(s.id);
  }
  record('sagas without exactly one event (none when compensated)', badEvents);

  const stuckConnections = await db.query<{ id: string }>(
    `select id from connection.integration_connection where status = 'disconnecting' or lock_saga_id is not null`,
  );
  record(
    'connections left disconnecting or locked',
    stuckConnections.map((r) => r.id),
  );

  const heldInstances = await db.query<{ id: string }>(
    `select id from connection.integration_instance where revoking_saga_id is not null`,
  );
  record(
    'instances left held for a disconnect',
    heldInstances.map((r) => r.id),
  );
  const unlinkHeld = await db.query<{ id: string }>(
    `select id from connection.integration_instance where unlink_saga_id is not null`,
  );
  record(
    'instances left held for an unlink',
    unlinkHeld.map((r) => r.id),
  );

  // Idempotency records (the harness releases them 2 s after a saga ended): only ended sagas' are released, each
  // within seconds once every service answers, and a released key never comes back (a late replay of an ended
  // saga's command would store it again).
  const releasedTooSoon = await db.query<{ id: string }>(
    `select id from edge.saga where records_released_at is not null
        and status not in ('completed', 'compensated')`,
  );
  record(
    "open or stopped sagas' idempotency records released",
    releasedTooSoon.map((r) => r.id),
  );
  const unreleased = await db.query<{ id: string }>(
    `select id from edge.saga where records_released_at is null and status in ('completed', 'compensated')
        and completed_at < now() - interval '${RECORDS_RELEASED_WITHIN_S} seconds'`,
  );
  record(
    `ended sagas' idempotency records not released within ${RECORDS_RELEASED_WITHIN_S} s`,
    unreleased.map((r) => r.id),
  );
  const revived = await db.query<{ key: string }>(
    `select p.key from edge.saga s
       join lateral (select key from connection.processed_command where starts_with(key, s.id::text || ':')
                     union all select key from sync.processed_command where starts_with(key, s.id::text || ':')
                     union all select key from vault.processed_command where starts_with(key, s.id::text || ':')) p
         on true
      where s.records_released_at is not null`,
  );
  record(
    "released sagas' idempotency records stored again",
    revived.map((r) => r.key),
  );

  // Not promises of the sagas, but what an operator would look at after a storm of faults.
  const [obs] = await db.query<{
    connected_without_credentials: string;
    failed_sagas: string;
  }>(
    `select
       (select count(*) from connection.integration_connection ic where ic.status = 'connected'
          and not exists (select 1 from vault.credential c where c.connection_id = ic.id and c.is_active)
       ) as connected_without_credentials,
       (select count(*) from edge.saga where status = 'failed') as failed_sagas`,
  );
  const observations = {
    'connected connections without an active credential': n(obs?.connected_without_credentials),
    'sagas failed after their pivot': n(obs?.failed_sagas),
  };
  const totalViolations = Object.values(violations).reduce((a, b) => a + b, 0);
  return { counts, violations, observations, examples, totalViolations };
}
