import { TRPCError } from '@trpc/server';
import { AppError } from '@otesse/contracts';
import type { TIdentity } from '@otesse/identity';
import { isTerminal, type TSagaView } from '@otesse/saga';
import { compensatedCode, publicSagaView, requireSagaView } from './saga-view';
import { authedProcedure } from '../../trpc/trpc';
import type { TContext } from '../../trpc/context';
import {
  disconnectSaga,
  disconnectSubject,
  disconnectTarget,
  isAuthorizationRefusal,
} from '../../sagas/disconnect.saga';
import { loadDisconnectable } from './load-disconnectable';
import { resumeStopped } from '../operations-router/resume-stopped';
import { ZStartDisconnectInput } from './start-disconnect.schema';

/** Joins that met another caller's saga refused by its lock step, retried before giving up (a bound, not a wait). */
const MAX_REFUSED_JOINS = 3;

/**
 * Starts (or joins) the connection's disconnect saga. One saga per connection: concurrent or repeated requests
 * get the same saga (a finished one too: the connection is already disconnected). Nothing is looked up first: the
 * saga's lock step authorizes the caller (another org's connection NOT_FOUND, someone else's FORBIDDEN without
 * settings.edit) in the connection service. Answers with its final state when it finishes within `waitMs`. A
 * disconnect of the connection that stopped past its pivot (`failed`) is resumed instead of starting another.
 */
export const startDisconnect = authedProcedure
  .input(ZStartDisconnectInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const def = disconnectSaga(ctx.deps);
    for (let refusedJoins = 0; ; refusedJoins += 1) {
      const { sagaId, created } = await ctx.deps.sagas.start(def, {
        subjectKey: disconnectSubject(identity.orgId, input.connectionId),
        orgId: identity.orgId,
        actorUserId: identity.userId,
        input: {
          connectionId: input.connectionId,
          mayManageOthers: identity.permissions.includes('settings.edit'),
          ip: ctx.ip,
          traceId: ctx.traceId,
        },
        // A disconnect that stopped past its pivot is this connection's disconnect: asking again resumes it.
        reuseFailed: true,
      });
      let saga = requireSagaView(await ctx.deps.sagas.waitFor(sagaId, input.waitMs));
      if (!created && saga.actorUserId !== identity.userId) {
        saga = await lockSettled(ctx, saga);
        // Another user's saga of this connection: refused for them (their own lock check) says nothing about this
        // caller, who starts again once it ended; one that went ahead is shown only to whom it was theirs to start.
        if (saga.status === 'compensated' && isAuthorizationRefusal(saga.error)) {
          if (refusedJoins < MAX_REFUSED_JOINS) continue;
          throw new AppError('UNAVAILABLE', 'the connection is busy; try again', {
            reason: 'disconnect_contended',
          });
        }
        await requireMayJoin(ctx, saga);
      }
      if (saga.status === 'failed') saga = await resumeStopped(ctx, saga, input.waitMs, true);
      if (saga.status === 'compensated') throw compensatedError(saga);
      return { sagaId, joined: !created, saga: publicSagaView(saga, ctx.deps.catalogue) };
    }
  });

/** How long a joiner waits for another user's saga to pass (or fail) its lock step: that step's own bound. */
const LOCK_SETTLE_MS = 3_000;

/**
 * Another user's saga, once its lock step answered (or it ended): until then it is unknown whether it goes ahead
 * (a refused one is no answer to this caller, even one that asked not to wait).
 */
async function lockSettled(ctx: TContext, saga: TSagaView): Promise<TSagaView> {
  const deadline = Date.now() + LOCK_SETTLE_MS;
  let v = saga;
  while (
    !isTerminal(v.status) &&
    v.steps.find((s) => s.name === 'lock')?.status !== 'succeeded' &&
    Date.now() < deadline
  ) {
    v = requireSagaView(await ctx.deps.sagas.waitFor(v.id, 50));
  }
  return v;
}

/**
 * A caller joining someone else's saga must have been allowed to start it: settings.edit, or their own user-level
 * connection (the lock step's answer says whose it is; before it answered, the connection service is asked).
 */
async function requireMayJoin(
  ctx: TContext & { identity: TIdentity },
  saga: TSagaView,
): Promise<void> {
  const { identity } = ctx;
  if (identity.permissions.includes('settings.edit')) return;
  const lock = saga.steps.find((s) => s.name === 'lock');
  const target = disconnectTarget(saga.input, { lock: lock?.result ?? undefined });
  if (!target) {
    await loadDisconnectable(ctx, String(saga.input['connectionId']));
    return;
  }
  if (target.level !== 'user' || target.ownerUserId !== identity.userId) throw forbidden();
}

const forbidden = () =>
  new TRPCError({
    code: 'FORBIDDEN',
    message: "disconnecting another user's or the organization's connection needs settings.edit",
  });

/** Why a compensated saga changed nothing, in the edge's vocabulary. */
function compensatedError(saga: TSagaView): Error {
  const e = saga.error;
  if (isAuthorizationRefusal(e)) {
    return e?.code === 'FORBIDDEN'
      ? forbidden()
      : new TRPCError({ code: 'NOT_FOUND', message: 'connection not found' });
  }
  if (e?.step === 'lock' && e.code === 'CONFLICT' && e.reason === 'not_connected') {
    return new AppError('CONFLICT', 'this connection is not connected: nothing to disconnect', {
      reason: 'not_connected',
      details: { sagaId: saga.id },
    });
  }
  return new AppError(
    compensatedCode(e),
    `Disconnect failed at "${e?.step ?? 'unknown'}" (${e?.message ?? 'unknown error'}); nothing was changed. Saga ${saga.id}.`,
    {
      reason: 'disconnect_compensated',
      details: { sagaId: saga.id },
    },
  );
}
