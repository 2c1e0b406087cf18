import { deterministicUuid, type TSagaDefinition, type TSagaError } from '@otesse/saga';
import type { TEdgeDeps } from '../trpc/context';
import { publishAudit } from '../audit/publish-audit';
import { operationTarget, type TOperationTarget } from './operation-target';

type TDeps = Pick<TEdgeDeps, 'events'>;

interface TOperationAuditBase {
  sagaId: string;
  type: string;
  orgId: string;
  target: TOperationTarget;
  ip: string | null;
  traceId: string | undefined;
}

const targetsOf = (sagaId: string, t: TOperationTarget) => ({
  sagaId,
  ...(t.instanceId ? { instanceId: t.instanceId } : {}),
  ...(t.connectionId ? { connectionId: t.connectionId } : {}),
});

/** The connection's owner when someone else (or nobody: the system) acted on it. */
const onBehalfOf = (t: TOperationTarget, actorUserId: string | null): string | null =>
  t.ownerUserId && t.ownerUserId !== actorUserId ? t.ownerUserId : null;

/**
 * A saga stopped past its pivot (`failed`): what it had done, where it stopped and why, in the audit log — its
 * final entry (e.g. `connection.disconnected`) comes only once it is resumed and completes. One entry per stop.
 */
export async function auditOperationStopped(
  deps: TDeps,
  a: TOperationAuditBase & {
    actorUserId: string;
    error: TSagaError;
    resumedCount: number;
    done: Record<string, unknown>;
  },
): Promise<void> {
  await publishAudit(deps, {
    eventId: deterministicUuid(`${a.sagaId}:stopped:${a.resumedCount}`),
    orgId: a.orgId,
    actorUserId: a.actorUserId,
    onBehalfOfUserId: onBehalfOf(a.target, a.actorUserId),
    action: 'operation.stopped',
    provider: a.target.vendor,
    targets: targetsOf(a.sagaId, a.target),
    outcome: 'partial',
    details: {
      operation: a.type,
      stoppedAtStep: a.error.step,
      error: a.error.code,
      reason: a.error.reason ?? 'none',
      timesResumed: a.resumedCount,
      ...a.done,
    },
    ip: a.ip,
    ...(a.traceId ? { traceId: a.traceId } : {}),
  });
}

/**
 * The definitions' `onResumed`: audits `operation.resumed` (who — null when the engine resumed it on its own —,
 * from which step, which time) before the saga reopens, under an id racing resumers share.
 */
export function auditOperationResumed(
  deps: TDeps,
  type: string,
): NonNullable<TSagaDefinition<Record<string, unknown>>['onResumed']> {
  return async ({
    sagaId,
    input,
    orgId,
    resumedBy,
    resumedCount,
    stoppedAtStep,
    firstStepResult,
  }) => {
    const target = operationTarget({ type, input, firstStepResult });
    const by = resumedBy?.userId ?? null;
    await publishAudit(deps, {
      eventId: deterministicUuid(`${sagaId}:resumed:${resumedCount}`),
      orgId,
      actorUserId: by,
      onBehalfOfUserId: onBehalfOf(target, by),
      action: 'operation.resumed',
      provider: target.vendor,
      targets: targetsOf(sagaId, target),
      outcome: 'success',
      details: {
        operation: type,
        fromStep: stoppedAtStep,
        timesResumed: resumedCount,
        automatic: resumedBy === null,
      },
      ip: resumedBy?.ip ?? null,
      ...(resumedBy?.traceId ? { traceId: resumedBy.traceId } : {}),
    });
  };
}
