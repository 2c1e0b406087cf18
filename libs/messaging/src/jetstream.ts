import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  nanos,
  type Consumer,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import {
  AppError,
  eventContracts,
  STREAMS,
  zodIssues,
  type TEventInput,
  type TEventOf,
  type TEventSubject,
  type TStreamName,
} from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import {
  endSpan,
  ensureTracing,
  runInSpan,
  SpanKind,
  tracingEnabled,
  type Span,
} from '@otesse/telemetry';
import { decodeJson, encodeJson } from './codec';
import { contextFromHeaders, contextToHeaders, type TMessageContext } from './context';
import {
  clientNameOf,
  natsHandlerDuration,
  natsRequestDuration,
  startHandlerSpan,
  startSendSpan,
} from './messaging-telemetry';

/**
 * Makes sure the streams exist, and answers those it created; safe to call from every process at start. A stream is created with its one
 * configuration by whichever process comes first (a create of an existing stream with the same configuration is a
 * no-op). Only the stream's owner (`STREAMS[name].owner`, matched against `service`; a caller naming no service —
 * a benchmark, a test on an open server — counts as every stream's) updates an existing stream's configuration:
 * the others may not change its limits (their NATS users have no STREAM.UPDATE), so a compromised publisher cannot
 * shrink the audit trail.
 */
export async function ensureStreams(
  nc: NatsConnection,
  names: TStreamName[] = Object.keys(STREAMS) as TStreamName[],
  opts: {
    replicas?: number;
    service?: string;
    /** Only create a missing stream, as a process that owns none would (a publisher finding its stream gone). */
    createOnly?: boolean;
    logger?: Pick<Logger, 'warn' | 'info'>;
  } = {},
): Promise<TStreamName[]> {
  const created: TStreamName[] = [];
  const owns = (name: TStreamName): boolean =>
    !opts.createOnly && (opts.service === undefined || STREAMS[name].owner === opts.service);
  const jsm = await nc.jetstreamManager();
  for (const name of names) {
    const def: (typeof STREAMS)[TStreamName] & { movedOut?: readonly string[] } = STREAMS[name];
    const config = {
      name,
      subjects: [...def.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(def.maxAgeMs),
      duplicate_window: nanos(def.duplicateWindowMs),
      num_replicas: opts.replicas ?? 1,
    };
    try {
      const before = (await jsm.streams.info(name)).config;
      if (owns(name)) {
        await jsm.streams.update(name, config);
        // Subjects an earlier release kept here and another stream holds now (INTEGRATIONS' webhook deliveries):
        // what it still holds of them is purged once, when a subject goes, rather than kept to its max_age. A stream
        // that only gains subjects (INTEGRATIONS' `integrations.instance.>`) purges nothing.
        const now: readonly string[] = config.subjects;
        const narrowed = (before.subjects ?? []).some((sub) => !now.includes(sub));
        for (const filter of narrowed ? (def.movedOut ?? []) : []) {
          const { purged } = await jsm.streams.purge(name, { filter });
          opts.logger?.info({ stream: name, filter, purged }, 'moved-out subjects purged');
        }
      }
    } catch (e) {
      if (
        (e as { code?: string }).code === '404' ||
        /stream not found/i.test((e as Error).message)
      ) {
        const added = await jsm.streams.add(config).then(
          () => true,
          async (err: unknown) => {
            if (owns(name)) throw err;
            // An older owner still has these subjects in another stream (a rolling upgrade: INTEGRATIONS held the
            // webhook deliveries): publishes land there until the owner's new release moves them and creates this one.
            if (/subjects overlap/i.test((err as Error).message)) {
              opts.logger?.warn(
                { stream: name },
                "stream not created yet: another stream still holds its subjects until its owner's upgrade",
              );
              return false;
            }
            // Another process created it between the two calls (perhaps its owner, with a newer configuration,
            // during a rolling upgrade): it exists, which is all a process that does not own it needs.
            if (!/already in use/i.test((err as Error).message)) throw err;
            await jsm.streams.info(name);
            return false;
          },
        );
        if (added) created.push(name);
      } else {
        throw e;
      }
    }
  }
  return created;
}

/** How often a publisher tries to create one missing stream again (every publish fails meanwhile). */
const STREAM_RECREATE_INTERVAL_MS = 5_000;

/** nats.js's answer to a publish no stream captures: nobody answered the subject (`503`). */
function noStreamCaptures(e: unknown): boolean {
  return (e as { code?: unknown }).code === '503';
}

/**
 * Validates and publishes events; the msgID (the event id) lets JetStream drop a duplicate publish. A publish no
 * stream captures (its stream deleted while the services run: by an operator, or a JetStream that lost its store)
 * creates the event's stream again with its one configuration, at most every 5 s per stream, and is sent once
 * more: until a process restarted, every event used to stay owed. A stream that exists but no longer captures the
 * subject (its configuration changed by hand) is left as it is: only its owner configures it, at its start.
 */
export class EventPublisher {
  private readonly service: string;
  private readonly recreatedAt = new Map<TStreamName, number>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: { streamReplicas?: number; logger?: Pick<Logger, 'warn' | 'info'> } = {},
  ) {
    ensureTracing();
    this.service = clientNameOf(nc);
  }

  /** Creates `stream` if it is missing; false when it exists, was tried too recently, or could not be created. */
  private async recreateStream(stream: TStreamName): Promise<boolean> {
    const last = this.recreatedAt.get(stream);
    if (last !== undefined && performance.now() - last < STREAM_RECREATE_INTERVAL_MS) return false;
    this.recreatedAt.set(stream, performance.now());
    try {
      const created = await ensureStreams(this.nc, [stream], {
        replicas: this.opts.streamReplicas ?? 1,
        createOnly: true,
        ...(this.opts.logger ? { logger: this.opts.logger } : {}),
      });
      if (!created.includes(stream)) return false;
      this.opts.logger?.warn({ stream }, 'stream was missing: created again');
      return true;
    } catch (err) {
      this.opts.logger?.warn({ err, stream }, 'stream missing, and creating it again failed');
      return false;
    }
  }

  async publish<S extends TEventSubject>(
    subject: S,
    payload: TEventInput<S>,
    opts: { msgId: string; ctx?: Partial<TMessageContext>; timeoutMs?: number },
  ): Promise<{ seq: number; duplicate: boolean }> {
    const parsed = eventContracts[subject].payload.safeParse(payload);
    if (!parsed.success) {
      throw new AppError('BAD_REQUEST', `invalid ${subject} event`, {
        details: zodIssues(parsed.error),
      });
    }
    const js = this.nc.jetstream();
    const started = performance.now();
    let span: Span | undefined;
    let headers;
    if (tracingEnabled()) {
      const sent = startSendSpan(this.service, subject, SpanKind.PRODUCER, opts.ctx);
      span = sent.span;
      headers = contextToHeaders(sent.ctx, span.spanContext().spanId);
    } else {
      headers = contextToHeaders(opts.ctx);
    }
    let outcome = 'ok';
    const send = () =>
      js.publish(subject, encodeJson(parsed.data), {
        msgID: opts.msgId,
        headers,
        timeout: opts.timeoutMs ?? 5_000,
      });
    try {
      let ack;
      try {
        ack = await send();
      } catch (e) {
        if (!noStreamCaptures(e) || !(await this.recreateStream(eventContracts[subject].stream)))
          throw e;
        ack = await send();
      }
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      outcome = 'UNAVAILABLE';
      throw new AppError('UNAVAILABLE', `publishing ${subject} failed: ${(e as Error).message}`, {
        cause: e,
      });
    } finally {
      natsRequestDuration
        .labels(this.service, subject, outcome)
        .observe((performance.now() - started) / 1_000);
      if (span) endSpan(span, outcome);
    }
  }
}

/** A durable consumer's configuration, as `jsm.consumers.add` takes it, with its name. */
export type TDurableConfig = Parameters<JetStreamManager['consumers']['add']>[1] & {
  durable_name: string;
};

/**
 * Sets a durable consumer up: created, or brought to `config` when it exists (a new release's ack wait, say), and
 * answered as the handle to consume from. Also what a consumer does again when its durable was deleted under it.
 * Throws what JetStream answers (the stream not found, permissions).
 */
export async function ensureDurable(
  nc: NatsConnection,
  stream: TStreamName,
  config: TDurableConfig,
): Promise<Consumer> {
  const jsm = await nc.jetstreamManager();
  const exists = await jsm.consumers.info(stream, config.durable_name).then(
    () => true,
    () => false,
  );
  if (exists) await jsm.consumers.update(stream, config.durable_name, config);
  else await jsm.consumers.add(stream, config);
  return nc.jetstream().consumers.get(stream, config.durable_name);
}

export interface TConsumerHandle {
  stop(): Promise<void>;
}

/**
 * A durable consumer with explicit acks. The handler must be idempotent by event id: a message is redelivered
 * when the handler throws (nak with delay) or is slower than `ackWaitMs`. A payload that breaks its contract
 * is terminated (never redelivered) and logged.
 */
export async function consumeDurable<S extends TEventSubject>(
  nc: NatsConnection,
  opts: {
    stream: TStreamName;
    durable: string;
    subjects: S[];
    logger: Logger;
    handler: (
      event: TEventOf<S>,
      meta: { subject: S; ctx: TMessageContext; msg: JsMsg },
    ) => Promise<void>;
    ackWaitMs?: number;
    maxDeliver?: number;
    /** The first retry's delay; each later one doubles it, up to `maxRetryDelayMs`. */
    retryDelayMs?: number;
    /** The longest pause between two tries of a message that keeps failing (default a minute). */
    maxRetryDelayMs?: number;
    /** Messages to pull at once. */
    batch?: number;
  },
): Promise<TConsumerHandle> {
  ensureTracing();
  const service = clientNameOf(nc);
  const config = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(opts.ackWaitMs ?? 30_000),
    max_deliver: opts.maxDeliver ?? -1,
    // nats-server 2.9 (Debian's) knows only a single filter subject; several subjects → the whole stream,
    // and the contract check below ignores subjects the consumer did not ask for.
    ...(opts.subjects.length === 1 ? { filter_subject: opts.subjects[0] } : {}),
  };
  const setUp = () => ensureDurable(nc, opts.stream, config);
  let consumer: Awaited<ReturnType<typeof setUp>> | undefined;
  try {
    consumer = await setUp();
  } catch (e) {
    // A subscriber whose NATS user may not create streams, started before any publisher created this one (a fresh
    // environment): it waits for the stream in the background instead of failing its start. Anything else
    // (permissions, a bad configuration) still fails the start.
    if (!isStreamNotFound(e)) throw e;
    opts.logger.warn(
      { stream: opts.stream, durable: opts.durable },
      'stream does not exist yet; the consumer starts once a publisher creates it',
    );
  }
  let messages: ConsumerMessages | undefined;
  let stopped = false;
  let stopWaiting: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      stopWaiting = () => {
        clearTimeout(t);
        r();
      };
    });
  const loop = (async () => {
    while (!stopped) {
      for (let waitMs = 250; !consumer && !stopped; waitMs = Math.min(waitMs * 2, 5_000)) {
        await pause(waitMs);
        if (stopped) return;
        try {
          consumer = await setUp();
          opts.logger.info(
            { stream: opts.stream, durable: opts.durable },
            'stream and consumer exist: consuming',
          );
        } catch (e) {
          if (!isStreamNotFound(e))
            opts.logger.warn({ err: e, stream: opts.stream }, 'consumer set-up failed; retrying');
        }
      }
      if (!consumer) return;
      try {
        // Abort when the consumer or its stream is gone (an operator recreated the stream, a node lost a replica-1
        // consumer): nats.js would otherwise wait for someone else to recreate them, deaf until a restart. This
        // process recreates its own durable below (a new one reads the stream from its start; handlers are
        // idempotent by event id) and waits for a deleted stream as it does at start.
        messages = await consumer.consume({
          max_messages: opts.batch ?? 256,
          abort_on_missing_resource: true,
        });
        for await (const msg of messages) {
          // Stopping: nats.js still hands out what it had pulled. Those are handed back unhandled, so a stop (a
          // deploy's SIGTERM, with its time limit) is not held by a backlog's handlers: another replica takes them
          // at once, or after ack_wait if the server offers one back to this replica's last pull.
          if (stopped) {
            msg.nak();
            continue;
          }
          const subject = msg.subject as S;
          if (!opts.subjects.includes(subject)) {
            msg.ack();
            continue;
          }
          const contract = eventContracts[subject];
          const body = decodeJson(msg.data);
          const parsed = (() => {
            try {
              return contract && body.ok ? contract.payload.safeParse(body.value) : undefined;
            } catch {
              return undefined; // a validator that throws on a hostile shape: a broken contract, not a crash
            }
          })();
          if (!parsed?.success) {
            opts.logger.error(
              {
                subject,
                seq: msg.seq,
                issues: parsed && !parsed.success ? zodIssues(parsed.error) : 'not JSON',
              },
              'event breaks its contract; terminated',
            );
            msg.term();
            continue;
          }
          const started = performance.now();
          const ctx = contextFromHeaders(msg.headers);
          const span = tracingEnabled()
            ? startHandlerSpan(service, subject, SpanKind.CONSUMER, ctx)
            : undefined;
          if (span) ctx.spanId = span.spanContext().spanId;
          let outcome = 'ok';
          try {
            const meta = { subject, ctx, msg };
            const event = parsed.data as TEventOf<S>;
            await (span
              ? runInSpan(span, () => opts.handler(event, meta))
              : opts.handler(event, meta));
            msg.ack();
          } catch (e) {
            outcome = e instanceof AppError ? e.code : 'INTERNAL';
            opts.logger.warn(
              {
                err: e,
                subject,
                seq: msg.seq,
                redelivery: msg.info.redeliveryCount,
                traceId: ctx.traceId,
                spanId: ctx.spanId,
              },
              'event handling failed; will retry',
            );
            // Backing off per message: one that keeps failing (a bug, a row it can never write) is tried once a
            // minute, not every second for as long as it lives, with a warning each time.
            msg.nak(retryDelayFor(msg.info.redeliveryCount, opts));
          } finally {
            natsHandlerDuration
              .labels(service, subject, outcome)
              .observe((performance.now() - started) / 1_000);
            if (span) endSpan(span, outcome);
          }
        }
        if (stopped) break;
        opts.logger.warn(
          { stream: opts.stream, durable: opts.durable },
          'consumer ended; setting it up again',
        );
      } catch (e) {
        if (stopped) break;
        opts.logger.warn(
          { err: e, stream: opts.stream, durable: opts.durable },
          'consumer interrupted; setting it up again',
        );
      }
      consumer = undefined;
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      stopWaiting?.();
      await messages?.close();
      await loop;
    },
  };
}

/** The nak delay of a delivery that failed: `retryDelayMs` doubled per earlier delivery, capped. */
export function retryDelayFor(
  redeliveryCount: number,
  opts: { retryDelayMs?: number; maxRetryDelayMs?: number },
): number {
  const first = opts.retryDelayMs ?? 1_000;
  const max = Math.max(first, opts.maxRetryDelayMs ?? 60_000);
  // redeliveryCount is 1 on the first delivery.
  return Math.min(max, first * 2 ** Math.min(30, Math.max(0, redeliveryCount - 1)));
}

/** JetStream's "stream not found" (API error 10059), as nats.js reports it. */
function isStreamNotFound(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: unknown } | undefined;
  return err?.api_error?.err_code === 10059 || err?.message === 'stream not found';
}
