/**
 * Largest inbound webhook body (bytes) the edge accepts. Providers' change notifications are a few KB; the bound
 * keeps the event, the body as JSON text (escaping at most 6 × the bytes), under NATS' 1 MB payload limit.
 */
export const WEBHOOK_MAX_BODY_BYTES = 131_072;
