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
import { decodeJson } from '@otesse/messaging';
import { appendEntries } from './append-entries';

export const AUDIT_STREAM = 'AUDIT';
export const AUDIT_SUBJECT = 'audit.entries.append';
export const AUDIT_DURABLE = 'audit-writer';

export interface TAuditWriterOptions {
  /** Most messages taken at once (then split by org across `parallelism` transactions). */
  batchSize?: number;
  /** A batch not acked within this is redelivered (dedupe makes that harmless). */
  ackWaitMs?: number;
  /** Unacked messages the server hands out at once: bounds what waits in memory. */
  maxAckPending?: number;
  /** Delay before a failed message is redelivered. */
  retryDelayMs?: number;
  /** Transactions a batch is split into (by org), written at once. */
  parallelism?: number;
}

export interface TAuditWriter {
  stop(): Promise<void>;
}

interface TParsed {
  msg: JsMsg;
  event: TAuditEvent;
}

/**
 * The AUDIT stream's durable consumer, batched: takes every message that is waiting (up to `batchSize`), writes
 * them in a few transactions (`appendEntries`, one per group of orgs) and acks each message after its commit. A
 * part that fails is retried one message at a time, so one bad event never holds the others back: Postgres refusing its data (class 22) ends it
 * (logged, never redelivered), anything else (database down, lock timeout) naks it for a later redelivery.
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
  const jsm = await nc.jetstreamManager();
  const config = {
    durable_name: AUDIT_DURABLE,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: AUDIT_SUBJECT,
    ack_wait: nanos(opts.ackWaitMs ?? 30_000),
    max_deliver: -1,
    max_ack_pending: opts.maxAckPending ?? 10_000,
  };
  const exists = await jsm.consumers.info(AUDIT_STREAM, AUDIT_DURABLE).then(
    () => true,
    () => false,
  );
  if (exists) await jsm.consumers.update(AUDIT_STREAM, AUDIT_DURABLE, config);
  else await jsm.consumers.add(AUDIT_STREAM, config);
  const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, AUDIT_DURABLE);

  // Parsed as they arrive: the contract check of the next batch overlaps the current batch's transaction.
  const queue: TParsed[] = [];
  let wake: (() => void) | undefined;
  const signal = (): void => {
    wake?.();
    wake = undefined;
  };
  let stopped = false;
  let messages: ConsumerMessages | undefined;

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

  // Pump: the server never sends more than max_ack_pending unacked messages, which bounds the queue.
  const pump = (async () => {
    while (!stopped) {
      try {
        messages = await consumer.consume({ max_messages: Math.min(batchSize * 2, 5_000) });
        for await (const msg of messages) {
          const parsed = parse(msg);
          if (!parsed) continue;
          queue.push(parsed);
          signal();
        }
      } catch (e) {
        if (stopped) break;
        logger.warn({ err: e }, 'audit consumer interrupted; resuming');
        // Close the interrupted consumption before opening another one.
        messages?.stop();
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 500));
    }
  })();

  const writeOneByOne = async (batch: TParsed[]): Promise<void> => {
    for (const { msg, event } of batch) {
      try {
        await appendEntries(orm, [event]);
        msg.ack();
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (typeof code === 'string' && code.startsWith('22')) {
          logger.error(
            { err: e, eventId: event.eventId, orgId: event.orgId, streamSeq: msg.seq },
            'audit event refused by the database; terminated',
          );
          msg.term();
        } else {
          logger.warn(
            { err: e, eventId: event.eventId, redelivery: msg.info.redeliveryCount },
            'audit event not written; will retry',
          );
          msg.nak(retryDelayMs);
        }
      }
    }
  };

  /** One transaction for part of a batch; acks after its commit, or falls back to one message at a time. */
  const write = async (part: TParsed[]): Promise<void> => {
    try {
      await appendEntries(
        orm,
        part.map((b) => b.event),
      );
      for (const b of part) b.msg.ack();
    } catch (e) {
      if (stopped) {
        for (const b of part) b.msg.nak();
        return;
      }
      logger.warn({ err: e, size: part.length }, 'audit batch failed; retrying one by one');
      await writeOneByOne(part);
    }
  };

  const work = (async () => {
    while (!stopped) {
      if (queue.length === 0) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const batch = queue.splice(0, batchSize);
      // Chains are per org: a batch split by org into `parallelism` transactions on their own connections
      // keeps each org's order (all its events are in one part, parts of the next batch wait for these) while
      // Postgres works on the parts at once.
      const parts = Array.from({ length: parallelism }, () => [] as TParsed[]);
      for (const b of batch) parts[orgSlot(b.event.orgId, parallelism)]!.push(b);
      await Promise.all(parts.filter((p) => p.length > 0).map(write));
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      signal();
      await messages?.close();
      await Promise.all([pump, work]);
      // Whatever was taken but not written is redelivered after ack_wait: nothing is lost.
      for (const p of queue.splice(0)) p.msg.nak();
    },
  };
}

/** Which part of a batch an org's events go to: stable for the org (FNV-1a of its id). */
export function orgSlot(orgId: string, slots: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < orgId.length; i++) h = Math.imul(h ^ orgId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % slots;
}
