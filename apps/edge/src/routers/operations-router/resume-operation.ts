import { authedProcedure } from '../../trpc/trpc';
import { publicSagaView, requireVisibleSaga } from '../disconnect-router/saga-view';
import { ZResumeOperationInput } from './resume-operation.schema';
import { resumeStopped } from './resume-stopped';

/**
 * Resumes an operation that stopped past its pivot (a step kept failing with an error retrying could not fix):
 * from the step that stopped it, once the cause is fixed. Answers its state after `waitMs` at most.
 */
export const resumeOperation = authedProcedure
  .input(ZResumeOperationInput)
  .mutation(async ({ ctx, input }) => {
    // One the caller may not even see is NOT_FOUND (as `disconnect.status` answers), not FORBIDDEN: the answer must
    // not confirm that a colleague's operation exists.
    const saga = requireVisibleSaga(await ctx.deps.sagas.view(input.sagaId), ctx.identity);
    return {
      saga: publicSagaView(await resumeStopped(ctx, saga, input.waitMs), ctx.deps.catalogue),
    };
  });
