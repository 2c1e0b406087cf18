/**
 * JetStream streams: names, the subjects they hold and why. Created idempotently by every publisher and consumer at
 * start; only the owner (`owner`, the service whose NATS user may STREAM.UPDATE it) changes an existing stream's
 * configuration.
 */
export const STREAMS = {
  /**
   * Domain events for other Otesse services. Kept 30 days. Until session 24 it held `integrations.>`, webhook
   * deliveries included: its owner narrows an existing stream and purges the deliveries it still holds (`movedOut`).
   */
  INTEGRATIONS: {
    owner: 'connection',
    carries: 'domain events for other Otesse services',
    subjects: ['integrations.connection.>', 'integrations.instance.>'],
    maxAgeMs: 30 * 86_400_000,
    duplicateWindowMs: 120_000,
    movedOut: ['integrations.webhook.>'],
  },
  /**
   * Inbound webhook deliveries (`integrations.webhook.received`), each with the provider's body: up to 128 KiB of
   * someone's data, perhaps secrets. Its consumers act on a delivery within seconds, so the stream keeps a day (a
   * subscriber's outage), not the domain events' 30 days: a busy org's deliveries can no longer fill the JetStream
   * store, which would refuse every publish, AUDIT's included. Created by its owner after INTEGRATIONS gave up its
   * subjects (a stream's subjects may not overlap another's).
   */
  WEBHOOKS: {
    owner: 'connection',
    carries:
      "inbound webhook deliveries for other Otesse services, each with the provider's body (kept a day, not 30)",
    subjects: ['integrations.webhook.>'],
    maxAgeMs: 86_400_000,
    duplicateWindowMs: 120_000,
  },
  /**
   * Audit events, consumed by the audit service (durable consumer), which keeps each entry permanently in Postgres.
   * The stream keeps every event 30 days, acked or not: an audit service down longer than that would lose entries,
   * so its consumer's backlog is what to alert on (RELIABILITY.md), long before.
   */
  AUDIT: {
    owner: 'audit',
    carries: 'audit events, appended to each org’s hash chain by the audit service',
    subjects: ['audit.entries.append'],
    maxAgeMs: 30 * 86_400_000,
    duplicateWindowMs: 120_000,
  },
} as const satisfies Record<
  string,
  {
    owner: string;
    /** What it holds, in a sentence's words (docs/asyncapi.yaml). */
    carries: string;
    subjects: readonly string[];
    maxAgeMs: number;
    duplicateWindowMs: number;
    /** Subjects the stream held in an earlier release, now another stream's: its owner purges them once. */
    movedOut?: readonly string[];
  }
>;
export type TStreamName = keyof typeof STREAMS;
