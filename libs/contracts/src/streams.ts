/** JetStream streams: names, the subjects they hold and why. Created idempotently by every publisher and consumer at start. */
export const STREAMS = {
  /** Domain events for other Otesse services. Kept 30 days. */
  INTEGRATIONS: {
    subjects: ['integrations.>'],
    maxAgeMs: 30 * 86_400_000,
    duplicateWindowMs: 120_000,
  },
  /** Audit events, consumed by the audit service (durable consumer). Kept until acked by it and for other readers 30 days. */
  AUDIT: {
    subjects: ['audit.entries.append'],
    maxAgeMs: 30 * 86_400_000,
    duplicateWindowMs: 120_000,
  },
} as const;
export type TStreamName = keyof typeof STREAMS;
