import type { MikroORM } from '@mikro-orm/postgresql';
import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  type ConsumerMessages,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { eventContracts, zodIssues, type TAuditEvent } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { decodeJson, ensureDurable } from '@otesse/messaging';
import { databaseUnavailableTotal, isDatabaseUnavailable } from '@otesse/persistence';
import { appendEntries } from './append-entries';

export const AUDIT_STREAM = 'AUDIT';
export const AUDIT_SUBJECT = 'audit.entries.append';
export const AUDIT_DURABLE = 'audit-writer';

export interface TAuditWriterOptions {
  /** Most messages taken at once (then split by org across `parallelism` transactions). */
  batchSize?: number;
  /** A batch not acked within this is redelivered (dedupe makes that harmless). */
  ackWaitMs?: number;
  /**
   * Unacked messages the server hands out at once. Redeliveries of a message the writer already holds replace
   * its handle rather than adding one, so this bounds what waits in memory.
   */
  maxAckPending?: number;
  /** Delay before a failed message is redelivered. */
  retryDelayMs?: number;
  /** Transactions a batch is split into (by org), written at once. */
  parallelism?: number;
  /**
   * How long (from its first delivery here) a message waiting behind a slow write is kept from redelivery, by a
   * `working()` each half ack_wait. Past it, the server redelivers it each ack_wait (perhaps to another replica,
   * whose database path may work). 0: never. Default 2 min.
   */
  keepAliveMs?: number;
  /** While the database is unavailable: the first pause before writing again, doubled each failed try. */
  outageRetryMs?: number;
  /** … and the longest. */
  outageRetryMaxMs?: number;
}

export interface TAuditWriter {
  /** Distinct messages held in memory (waiting or being written): never more than max_ack_pending. */
  readonly queued: number;
  /** Transactions the writer has begun (successful or not), since start. */
  readonly writeAttempts: number;
  stop(): Promise<void>;
}

interface TParsed {
  msg: JsMsg;
  event: TAuditEvent;
}

/** A message the writer holds: its latest delivery's handle, replaced when the server redelivers it. */
interface THeld extends TParsed {
  /** Stream sequence: what identifies the message across its deliveries. */
  seq: number;
  /** When it was first delivered here. */
  since: number;
  /** Its latest delivery or `working()`: the server redelivers it ack_wait after. */
  refreshedAt: number;
}

/** How a write went: `unavailable` when the database could not be reached (the messages are still held). */
type TWriteOutcome = 'done' | 'unavailable';

/**
 * The AUDIT stream's durable consumer, batched: takes every message that is waiting (up to `batchSize`), writes
 * them in a few transactions (`appendEntries`, one per group of orgs) and acks each message after its commit. A
 * part that fails is retried one message at a time, so one bad event never holds the others back: Postgres refusing its data (class 22) ends it
 * (logged, never redelivered), anything else (a lock timeout) naks it for a later redelivery. A database out of reach
 * (`isDatabaseUnavailable`: refused, reset, pool acquire timeout) pauses the writer as a whole instead: it keeps what
 * it holds, in order, and tries one transaction at a time with a growing pause until one goes through.
 * Redeliveries and duplicate publishes are harmless: `appendEntries` dedupes by event id.
 */
export async function startAuditWriter(
  nc: NatsConnection,
  orm: MikroORM,
  logger: Logger,
  opts: TAuditWriterOptions = {},
): Promise<TAuditWriter> {
  const batchSize = opts.batchSize ?? 1_000;
  const retryDelayMs = opts.retryDelayMs ?? 1_000;
  const parallelism = Math.max(1, opts.parallelism ?? 2);
  const ackWaitMs = opts.ackWaitMs ?? 30_000;
  const keepAliveMs = opts.keepAliveMs ?? 120_000;
  const outageRetryMs = Math.max(1, opts.outageRetryMs ?? 500);
  const outageRetryMaxMs = Math.max(outageRetryMs, opts.outageRetryMaxMs ?? 15_000);
  const config = {
    durable_name: AUDIT_DURABLE,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: AUDIT_SUBJECT,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
    max_ack_pending: opts.maxAckPending ?? 10_000,
  };
  const setUp = () => ensureDurable(nc, AUDIT_STREAM, config);
  let consumer: Awaited<ReturnType<typeof setUp>> | undefined = await setUp();

  // Every message taken and not yet acked, nak'd or terminated, by stream sequence, in the order of its first
  // delivery: what waits and what is being written. Parsed as they arrive (the contract check of the next batch
  // overlaps the current batch's transaction); a redelivery only replaces the handle, so the ack goes to the newest
  // delivery and a stalled writer holds each message once, however often the server redelivers it.
  const held = new Map<number, THeld>();
  let wake: (() => void) | undefined;
  const signal = (): void => {
    wake?.();
    wake = undefined;
  };
  let interrupt: (() => void) | undefined;
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let writing = 0;
  let writeAttempts = 0;
  /** The database is out of reach: since when, tries so far, and the pause before the next one. */
  let outage: { since: number; attempts: number; pauseMs: number } | undefined;
  /** The last error that said so (logged once per outage). */
  let unavailableError: unknown;

  const parse = (msg: JsMsg): TParsed | undefined => {
    if (msg.subject !== AUDIT_SUBJECT) {
      msg.ack();
      return undefined;
    }
    const body = decodeJson(msg.data);
    const parsed = (() => {
      try {
        return body.ok ? eventContracts[AUDIT_SUBJECT].payload.safeParse(body.value) : undefined;
      } catch {
        // A validator that throws (hostile shapes) is a broken contract like any other, not a consumer crash.
        return undefined;
      }
    })();
    if (!parsed?.success) {
      // Never written, never retried: the payload can only break its contract again (e.g. a secret in details).
      logger.error(
        {
          subject: msg.subject,
          streamSeq: msg.seq,
          issues: parsed && !parsed.success ? zodIssues(parsed.error) : 'not JSON',
        },
        'audit event breaks its contract; terminated',
      );
      msg.term();
      return undefined;
    }
    return { msg, event: parsed.data };
  };

  /** Done with a message: it leaves `held` (a later redelivery is taken as new and deduped by event id). */
  const release = (h: THeld): JsMsg => {
    if (held.get(h.seq) === h) held.delete(h.seq);
    return h.msg;
  };

  // Pump: max_ack_pending bounds the distinct messages the server hands out, not its deliveries (each unacked one
  // is sent again every ack_wait): `held` is keyed by stream sequence so that a redelivery takes no more room.
  const pump = (async () => {
    while (!stopped) {
      try {
        // Its durable deleted (or the stream recreated): set up again, as consumeDurable does, rather than wait
        // deaf for someone else to recreate it (nats.js's default).
        consumer ??= await setUp();
        messages = await consumer.consume({
          max_messages: Math.min(batchSize * 2, 5_000),
          abort_on_missing_resource: true,
        });
        for await (const msg of messages) {
          const now = Date.now();
          const known = held.get(msg.seq);
          if (known) {
            // Waiting or being written: the newest delivery is the one to ack.
            known.msg = msg;
            known.refreshedAt = now;
            continue;
          }
          const parsed = parse(msg);
          if (!parsed) continue;
          held.set(msg.seq, { ...parsed, seq: msg.seq, since: now, refreshedAt: now });
          signal();
        }
      } catch (e) {
        if (stopped) break;
        logger.warn({ err: e }, 'audit consumer interrupted; setting it up again');
        // Close the interrupted consumption before opening another one.
        messages?.stop();
      }
      consumer = undefined;
      if (!stopped) await new Promise((r) => setTimeout(r, 500));
    }
  })();

  // While a write takes long (a lock, a hung connection), what is held is kept from redelivery for `keepAliveMs`:
  // one `working()` per message per half ack_wait, and only for messages held that long (none while writes flow).
  const keepAlive =
    keepAliveMs > 0
      ? setInterval(
          () => {
            if (writing === 0) return;
            const now = Date.now();
            for (const h of held.values()) {
              if (now - h.refreshedAt < ackWaitMs / 2 || now - h.since >= keepAliveMs) continue;
              try {
                h.msg.working();
                h.refreshedAt = now;
              } catch {
                // The connection is closing: the server redelivers it after ack_wait.
              }
            }
          },
          Math.max(50, Math.floor(ackWaitMs / 4)),
        )
      : undefined;
  keepAlive?.unref();

  const attempt = async (events: TAuditEvent[]): Promise<void> => {
    writeAttempts += 1;
    writing += 1;
    try {
      await appendEntries(orm, events);
    } finally {
      writing -= 1;
    }
  };

  /** One message at a time; stops at the first sign of the database being out of reach (the rest stay held). */
  const writeOneByOne = async (part: THeld[]): Promise<TWriteOutcome> => {
    for (const h of part) {
      if (stopped) return 'done';
      try {
        await attempt([h.event]);
        release(h).ack();
      } catch (e) {
        if (stopped) return 'done';
        if (isDatabaseUnavailable(e)) {
          unavailableError = e;
          return 'unavailable';
        }
        const code = (e as { code?: unknown }).code;
        if (typeof code === 'string' && code.startsWith('22')) {
          logger.error(
            { err: e, eventId: h.event.eventId, orgId: h.event.orgId, streamSeq: h.seq },
            'audit event refused by the database; terminated',
          );
          release(h).term();
        } else {
          const msg = release(h);
          logger.warn(
            { err: e, eventId: h.event.eventId, redelivery: msg.info.redeliveryCount },
            'audit event not written; will retry',
          );
          msg.nak(retryDelayMs);
        }
      }
    }
    return 'done';
  };

  /** One transaction for part of a batch; acks after its commit, or falls back to one message at a time. */
  const write = async (part: THeld[]): Promise<TWriteOutcome> => {
    if (part.length === 1) return writeOneByOne(part);
    try {
      await attempt(part.map((h) => h.event));
      for (const h of part) release(h).ack();
      return 'done';
    } catch (e) {
      // Stopping: what is held is nak'd by stop().
      if (stopped) return 'done';
      if (isDatabaseUnavailable(e)) {
        unavailableError = e;
        return 'unavailable';
      }
      logger.warn({ err: e, size: part.length }, 'audit batch failed; retrying one by one');
      return writeOneByOne(part);
    }
  };

  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        interrupt = undefined;
        resolve();
      }
      interrupt = done;
    });

  const work = (async () => {
    while (!stopped) {
      const batch: THeld[] = [];
      for (const h of held.values()) {
        if (batch.length >= batchSize) break;
        batch.push(h);
      }
      if (batch.length === 0) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      // Chains are per org: a batch split by org into `parallelism` transactions on their own connections
      // keeps each org's order (all its events are in one part, parts of the next batch wait for these) while
      // Postgres works on the parts at once.
      const parts = Array.from({ length: parallelism }, () => [] as THeld[]);
      for (const h of batch) parts[orgSlot(h.event.orgId, parallelism)]!.push(h);
      const nonEmpty = parts.filter((p) => p.length > 0);
      // While the database is out of reach, one transaction at a time: the first part tells whether it is back.
      const outcomes = await Promise.all((outage ? nonEmpty.slice(0, 1) : nonEmpty).map(write));
      if (stopped) break;
      if (outcomes.includes('unavailable')) {
        // Nothing is lost: what failed is still held, in order, and is the next batch.
        databaseUnavailableTotal.inc();
        if (outage) {
          outage.attempts += 1;
          outage.pauseMs = Math.min(outageRetryMaxMs, outage.pauseMs * 2);
        } else {
          outage = { since: Date.now(), attempts: 1, pauseMs: outageRetryMs };
          // One line per outage, not one per message.
          logger.warn(
            {
              err: unavailableError,
              reason: 'database_unavailable',
              held: held.size,
              retryInMs: outage.pauseMs,
            },
            'audit database unavailable; writes paused, trying again with back-off',
          );
        }
        await pause(outage.pauseMs);
      } else if (outage) {
        logger.info(
          { outageMs: Date.now() - outage.since, failedAttempts: outage.attempts, held: held.size },
          'audit database reachable again; writes resumed',
        );
        outage = undefined;
      }
    }
  })();

  return {
    get queued() {
      return held.size;
    },
    get writeAttempts() {
      return writeAttempts;
    },
    stop: async () => {
      stopped = true;
      signal();
      interrupt?.();
      if (keepAlive) clearInterval(keepAlive);
      await messages?.close();
      await Promise.all([pump, work]);
      // Whatever was taken but not written is redelivered: nothing is lost.
      for (const h of [...held.values()]) release(h).nak();
    },
  };
}

/** Which part of a batch an org's events go to: stable for the org (FNV-1a of its id). */
export function orgSlot(orgId: string, slots: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < orgId.length; i++) h = Math.imul(h ^ orgId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % slots;
}
