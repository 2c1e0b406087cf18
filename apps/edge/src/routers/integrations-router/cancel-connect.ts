import { AppError } from '@otesse/contracts';
import { authedProcedure } from '../../trpc/trpc';
import { loadManageableConnection } from '../manageable-connection';
import { connectionView } from './connection-view';
import { ZCancelConnectInput } from './cancel-connect.schema';
import { busOptions } from '../../trpc/bus-options';

/**
 * Cancels a connect that has not finished: its connection is still `pending` (an edge killed between the
 * provider's callback and the activation leaves one, and it holds its slot until the connection service's bound,
 * two minutes). The connection ends `error` (reason `connect_cancelled`) and the slot is free at once; the vault, on
 * the abandoned event, revokes and destroys whatever it stored for it; the audit entry (`connection.connect_failed`)
 * names who cancelled, owed in the same transaction. The abandon decides atomically against the activation: a
 * connect that was still finishing and activates first is kept (CONFLICT `not_pending`, status connected), one
 * that activates after fails cleanly and its browser is told. The same rule as a disconnect: one's own personal
 * connect, or with settings.edit anyone's (and the organization's); another org's connection is NOT_FOUND.
 */
export const cancelConnect = authedProcedure
  .input(ZCancelConnectInput)
  .mutation(async ({ ctx, input }) => {
    const { identity } = ctx;
    const { connection } = await loadManageableConnection(
      ctx,
      input.connectionId,
      'cancelling the connect of',
    );
    if (connection.status !== 'pending') throw notPending(connection.status);
    const { connection: ended } = await ctx.deps.bus
      .request(
        'connection.connections.abandon',
        {
          orgId: identity.orgId,
          connectionId: connection.id,
          reason: 'connect_cancelled',
          cancelledBy: { userId: identity.userId, ip: ctx.ip },
        },
        busOptions(ctx),
      )
      .catch((e: unknown) => {
        // It activated (or was disconnected) between the read and the abandon: nothing was cancelled.
        if (e instanceof AppError && e.reason === 'not_pending') {
          throw notPending((e.details as { status?: string } | undefined)?.status ?? 'unknown');
        }
        throw e;
      });
    return { connection: connectionView(ended) };
  });

const notPending = (status: string): AppError =>
  new AppError(
    'CONFLICT',
    status === 'connected'
      ? 'the connect finished: it is connected, and nothing was cancelled'
      : `no connect of it is unfinished (the connection is ${status}); nothing was cancelled`,
    { reason: 'not_pending', details: { status } },
  );
