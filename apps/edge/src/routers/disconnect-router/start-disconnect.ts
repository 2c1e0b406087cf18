import { AppError } from '@otesse/contracts';
import { publicSagaView, requireSagaView } from './saga-view';
import { authedProcedure } from '../../trpc/trpc';
import { DISCONNECT_SAGA, disconnectSaga } from '../../sagas/disconnect.saga';
import { loadDisconnectable } from './load-disconnectable';
import { ZStartDisconnectInput } from './start-disconnect.schema';

/**
 * Starts (or joins) the connection's disconnect saga. One saga per connection: concurrent or repeated requests
 * get the same saga. Answers with its final state when it finishes within `waitMs`.
 */
export const startDisconnect = authedProcedure
  .input(ZStartDisconnectInput)
  .mutation(async ({ ctx, input }) => {
    const { connection, instance } = await loadDisconnectable(ctx, input.connectionId);
    const def = disconnectSaga(ctx.deps);
    let sagaId: string;
    let created: boolean;
    if (connection.status === 'revoked') {
      // Already disconnected: answer with the saga that did it, if there is one.
      const previous = await ctx.deps.sagas.latestFor(DISCONNECT_SAGA, connection.id);
      if (!previous)
        throw new AppError('CONFLICT', 'this connection is already disconnected', {
          reason: 'already_disconnected',
        });
      sagaId = previous;
      created = false;
    } else {
      ({ sagaId, created } = await ctx.deps.sagas.start(def, {
        subjectKey: connection.id,
        orgId: ctx.identity.orgId,
        actorUserId: ctx.identity.userId,
        input: {
          connectionId: connection.id,
          instanceId: instance.id,
          vendor: connection.vendor,
          ownerUserId: connection.userId,
          level: connection.level,
          subdomain: instance.config.subdomain ?? null,
          ip: ctx.ip,
          traceId: ctx.traceId,
        },
      }));
    }
    const saga = requireSagaView(await ctx.deps.sagas.waitFor(sagaId, input.waitMs));
    if (saga.status === 'compensated') {
      const e = saga.error;
      throw new AppError(
        e?.code === 'CONFLICT'
          ? 'CONFLICT'
          : e?.code === 'UNAVAILABLE' || e?.code === 'TIMEOUT'
            ? 'UNAVAILABLE'
            : 'PRECONDITION_FAILED',
        `Disconnect failed at "${e?.step ?? 'unknown'}" (${e?.message ?? 'unknown error'}); nothing was changed. Saga ${saga.id}.`,
        {
          reason: 'disconnect_compensated',
          details: { sagaId: saga.id },
        },
      );
    }
    return { sagaId, joined: !created, saga: publicSagaView(saga) };
  });
