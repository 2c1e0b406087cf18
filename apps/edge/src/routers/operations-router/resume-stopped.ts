import { TRPCError } from '@trpc/server';
import { AppError } from '@otesse/contracts';
import type { TIdentity } from '@otesse/identity';
import type { TSagaView } from '@otesse/saga';
import type { TContext } from '../../trpc/context';
import { operationTargetOfView } from '../../sagas/operation-target';
import { requireSagaView } from '../disconnect-router/saga-view';

/**
 * Resumes a saga of the caller's org that stopped past its pivot, and waits up to `waitMs` for it. Allowed to
 * whoever started it, to settings.edit (who may act on anyone's connection), to the owner of the user-level
 * connection it acts on, and to whoever may start it anew. The resume is audited before it happens (the
 * definition's onResumed), under an id racing resumers compute alike (one entry). A saga that is not stopped is
 * CONFLICT `not_stopped`; one another request resumed between the read and here is simply waited for.
 */
export async function resumeStopped(
  ctx: TContext & { identity: TIdentity },
  saga: TSagaView,
  waitMs: number,
  /** The caller was already found allowed to start this saga (a disconnect request for its connection). */
  authorized = false,
): Promise<TSagaView> {
  const { identity } = ctx;
  const target = operationTargetOfView(saga);
  const ownPersonal = target.level === 'user' && target.ownerUserId === identity.userId;
  if (
    !authorized &&
    !ownPersonal &&
    saga.actorUserId !== identity.userId &&
    !identity.permissions.includes('settings.edit')
  )
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: 'resuming an operation someone else started needs settings.edit',
    });
  if (saga.status !== 'failed')
    throw new AppError('CONFLICT', `this operation is ${saga.status}: only a stopped one resumes`, {
      reason: 'not_stopped',
      details: { sagaId: saga.id, status: saga.status },
    });
  // Audited by the definition's onResumed before the saga reopens. false: another request resumed it between the
  // read and here; either way it runs now.
  await ctx.deps.sagas.resume(saga.id, {
    userId: identity.userId,
    ip: ctx.ip,
    traceId: ctx.traceId,
  });
  return requireSagaView(await ctx.deps.sagas.waitFor(saga.id, waitMs), identity.orgId);
}
