import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { redactSecretLike, ZSafeDetails, type TAuditEventInput } from '@otesse/contracts';
import type { TEdgeDeps } from '../trpc/context';

type TAuditInput = Omit<TAuditEventInput, 'eventId' | 'occurredAt'> & {
  eventId?: string;
  occurredAt?: string;
};

/**
 * Publishes an audit event on the AUDIT stream (durable: written even if the audit service is down). Callers record
 * a change already made (a saga past its pivot, a live connection), so details the contract would refuse as
 * secret-looking never fail the entry: those parts are redacted, listed in `redactedDetails`, and logged (paths
 * only). A caller whose details come from its input checks them first with `assertAuditDetailsSafe`.
 */
export async function publishAudit(
  deps: Pick<TEdgeDeps, 'events'> & Partial<Pick<TEdgeDeps, 'logger'>>,
  event: TAuditInput,
): Promise<void> {
  const eventId = event.eventId ?? randomUUID();
  const { details, redacted } = redactSecretLike(event.details ?? {});
  if (redacted.length > 0) {
    deps.logger?.warn(
      { action: event.action, eventId, redacted, traceId: event.traceId },
      'audit details looked like a secret: redacted',
    );
  }
  await deps.events.publish(
    'audit.entries.append',
    { ...event, details, eventId, occurredAt: event.occurredAt ?? new Date().toISOString() },
    {
      msgId: eventId,
      ctx: { ...(event.traceId ? { traceId: event.traceId } : {}), orgId: event.orgId },
    },
  );
}

/**
 * For details taken from the caller's input: BAD_REQUEST with the zod issues (paths relative to `details`) when the
 * audit contract would refuse them, to be called before the change is made, so a refusal changes nothing.
 */
export function assertAuditDetailsSafe(details: Record<string, unknown>, what: string): void {
  const parsed = ZSafeDetails.safeParse(details);
  if (!parsed.success) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `${what} looks like a secret; it would go into the audit log`,
      cause: parsed.error,
    });
  }
}
