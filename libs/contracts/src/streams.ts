/**
 * JetStream streams: names, the subjects they hold and why. Created idempotently by every publisher and consumer at
 * start; only the owner (`owner`, the service whose NATS user may STREAM.UPDATE it) changes an existing stream's
 * configuration.
 */
export const STREAMS = {
  /** Domain events for other Otesse services. Kept 30 days. */
  INTEGRATIONS: {
    owner: 'connection',
    subjects: ['integrations.>'],
    maxAgeMs: 30 * 86_400_000,
    duplicateWindowMs: 120_000,
  },
  /**
   * Audit events, consumed by the audit service (durable consumer), which keeps each entry permanently in Postgres.
   * The stream keeps every event 30 days, acked or not: an audit service down longer than that would lose entries,
   * so its consumer's backlog is what to alert on (RELIABILITY.md), long before.
   */
  AUDIT: {
    owner: 'audit',
    subjects: ['audit.entries.append'],
    maxAgeMs: 30 * 86_400_000,
    duplicateWindowMs: 120_000,
  },
} as const;
export type TStreamName = keyof typeof STREAMS;
