import { randomUUID } from 'node:crypto';
import type { TAuditEventInput } from '@otesse/contracts';
import type { TEdgeDeps } from '../trpc/context';

/** Publishes an audit event on the AUDIT stream (durable: written even if the audit service is down). */
export async function publishAudit(
  deps: Pick<TEdgeDeps, 'events'>,
  event: Omit<TAuditEventInput, 'eventId' | 'occurredAt'> & {
    eventId?: string;
    occurredAt?: string;
  },
): Promise<void> {
  const eventId = event.eventId ?? randomUUID();
  await deps.events.publish(
    'audit.entries.append',
    { ...event, eventId, occurredAt: event.occurredAt ?? new Date().toISOString() },
    {
      msgId: eventId,
      ctx: { ...(event.traceId ? { traceId: event.traceId } : {}), orgId: event.orgId },
    },
  );
}
