/** Message headers every request and event carries. */
export const HEADERS = {
  traceId: 'Otesse-Trace-Id',
  actorUserId: 'Otesse-Actor',
  orgId: 'Otesse-Org',
  idempotencyKey: 'Otesse-Idempotency-Key',
  /** Set by nats' Services API on error replies. */
  serviceError: 'Nats-Service-Error',
  serviceErrorCode: 'Nats-Service-Error-Code',
} as const;
