import { authedProcedure } from '../../trpc/trpc';
import { ZSagaIdInput } from './get-disconnect-status.schema';
import { publicSagaView, requireSagaView } from './saga-view';

/** A saga with its step timeline (the caller's org only). */
export const getDisconnectStatus = authedProcedure
  .input(ZSagaIdInput)
  .query(async ({ ctx, input }) =>
    publicSagaView(requireSagaView(await ctx.deps.sagas.view(input.sagaId), ctx.identity.orgId)),
  );
