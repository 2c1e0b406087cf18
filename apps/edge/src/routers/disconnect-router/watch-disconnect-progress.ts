import { isTerminal } from '@otesse/saga';
import { authedProcedure } from '../../trpc/trpc';
import { ZSagaIdInput } from './get-disconnect-status.schema';
import { publicSagaView, requireSagaView } from './saga-view';

/**
 * Live step progress over SSE: yields the saga whenever it changes, until it is terminal. Reads the durable log,
 * so it follows a saga that another edge replica (or a recovered one) drives.
 */
export const watchDisconnectProgress = authedProcedure
  .input(ZSagaIdInput)
  .subscription(async function* ({ ctx, input, signal }) {
    let last = '';
    for (;;) {
      const view = publicSagaView(
        requireSagaView(await ctx.deps.sagas.view(input.sagaId), ctx.identity.orgId),
      );
      const fingerprint = JSON.stringify(view);
      if (fingerprint !== last) {
        last = fingerprint;
        yield view;
      }
      if (isTerminal(view.status) || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, 250);
        const onProgress = (): void => finish();
        ctx.deps.sagas.once(`progress:${input.sagaId}`, onProgress);
        signal?.addEventListener('abort', finish, { once: true });
        function finish(): void {
          clearTimeout(timer);
          ctx.deps.sagas.off(`progress:${input.sagaId}`, onProgress);
          signal?.removeEventListener('abort', finish);
          resolve();
        }
      });
    }
  });
