import type { NatsConnection } from 'nats';
import { SYNC_CANCEL_SIGNAL_SUBJECT, type TSyncCancelSignal } from '@otesse/contracts';
import { encodeJson } from '@otesse/messaging';

/**
 * Tells every replica (the one running it included) to stop these executions before their next page. Sent after the
 * commit that marked them `cancelled`; at-most-once is enough because each runner re-reads its execution row in every
 * batch transaction.
 */
export function publishCancelSignal(nc: NatsConnection, executionIds: readonly string[]): void {
  for (let i = 0; i < executionIds.length; i += 1_000) {
    const signal: TSyncCancelSignal = { executionIds: executionIds.slice(i, i + 1_000) };
    nc.publish(SYNC_CANCEL_SIGNAL_SUBJECT, encodeJson(signal));
  }
}
