import { authedProcedure } from '../../trpc/trpc';
import { ZSagaIdInput } from './get-disconnect-status.schema';
import { publicSagaView, requireVisibleSaga } from './saga-view';

/** A saga with its step timeline: one the caller may see (`requireVisibleSaga`), else NOT_FOUND. */
export const getDisconnectStatus = authedProcedure
  .input(ZSagaIdInput)
  .query(async ({ ctx, input }) =>
    publicSagaView(
      requireVisibleSaga(await ctx.deps.sagas.view(input.sagaId), ctx.identity),
      ctx.deps.catalogue,
    ),
  );
