import { createHash } from 'node:crypto';

/**
 * A UUID derived from a seed (`sagaId:audit`): a step that publishes an event gets the same event id on every
 * retry and after a crash, so consumers (audit dedupe, JetStream msgID) keep exactly one.
 */
export function deterministicUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5-style
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
