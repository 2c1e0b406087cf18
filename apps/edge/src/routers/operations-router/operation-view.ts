import type { TSagaSummary } from '@otesse/saga';
import { operationTarget } from '../../sagas/operation-target';

/**
 * An operation (a disconnect, reconnect or change-user saga) in a list: what, on which connection, by whom, how
 * far, and why it stopped. Never its raw input (the client IP) nor its steps' results.
 */
export function operationView(s: TSagaSummary) {
  const target = operationTarget(s);
  return {
    id: s.id,
    type: s.type,
    status: s.status,
    /** A saga that stopped past its pivot waits for a resume (operations.resume or another disconnect). */
    needsResume: s.status === 'failed',
    currentStep: s.currentStep,
    connectionId: target.connectionId,
    vendor: target.vendor,
    ownerUserId: target.ownerUserId,
    actorUserId: s.actorUserId,
    error: s.error
      ? { step: s.error.step, code: s.error.code, reason: s.error.reason, message: s.error.message }
      : null,
    timesResumed: s.resumedCount,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    completedAt: s.completedAt,
  };
}
export type TOperationView = ReturnType<typeof operationView>;
