import { TRPCError } from '@trpc/server';
import type { TSagaView } from '@otesse/saga';

export function requireSagaView(v: TSagaView | undefined, orgId?: string): TSagaView {
  // Another org's saga looks exactly like a missing one.
  if (!v || (orgId !== undefined && v.orgId !== orgId))
    throw new TRPCError({ code: 'NOT_FOUND', message: 'saga not found' });
  return v;
}

/** What the dashboard shows of a saga: its timeline, never its raw input (which holds the client IP). */
export function publicSagaView(v: TSagaView) {
  return {
    id: v.id,
    type: v.type,
    status: v.status,
    currentStep: v.currentStep,
    connectionId: typeof v.input['connectionId'] === 'string' ? v.input['connectionId'] : null,
    actorUserId: v.actorUserId,
    result: v.result,
    error: v.error,
    createdAt: v.createdAt,
    completedAt: v.completedAt,
    /** Stopped past its pivot: waits for operations.resume (or another disconnect of its connection). */
    needsResume: v.status === 'failed',
    timesResumed: v.resumedCount,
    steps: v.steps.map((s) => ({
      name: s.name,
      kind: s.kind,
      status: s.status,
      attempts: s.attempts,
      error: s.error,
      startedAt: s.startedAt,
      completedAt: s.completedAt,
      compensatedAt: s.compensatedAt,
    })),
  };
}
export type TPublicSagaView = ReturnType<typeof publicSagaView>;
