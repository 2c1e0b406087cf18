import { TRPCError } from '@trpc/server';
import type { TIdentity } from '@otesse/identity';
import type { TSagaView } from '@otesse/saga';
import { operationsScope } from '../operations-router/operations-scope';

export function requireSagaView(v: TSagaView | undefined, orgId?: string): TSagaView {
  // Another org's saga looks exactly like a missing one.
  if (!v || (orgId !== undefined && v.orgId !== orgId))
    throw new TRPCError({ code: 'NOT_FOUND', message: 'saga not found' });
  return v;
}

/**
 * A saga the caller may read, with the scope of `operations.list`: the org's with settings.view or settings.edit,
 * otherwise only one they started or that acted on their own connection. Anything else is NOT_FOUND, as another
 * org's: a saga id seen elsewhere (a link, a log) tells a member nothing of a colleague's connection.
 */
export function requireVisibleSaga(v: TSagaView | undefined, identity: TIdentity): TSagaView {
  const view = requireSagaView(v, identity.orgId);
  const { participantUserId: me } = operationsScope(identity);
  if (me === undefined || view.actorUserId === me) return view;
  const target = view.steps[0]?.result?.['target'];
  const targetOwner =
    target !== null && typeof target === 'object' && 'ownerUserId' in target
      ? target.ownerUserId
      : undefined;
  if (view.input['ownerUserId'] === me || targetOwner === me) return view;
  throw new TRPCError({ code: 'NOT_FOUND', message: 'saga not found' });
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
