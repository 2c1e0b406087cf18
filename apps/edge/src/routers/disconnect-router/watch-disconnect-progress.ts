import { TRPCError } from '@trpc/server';
import { AppError } from '@otesse/contracts';
import { authenticate, type TIdentity } from '@otesse/identity';
import { isDatabaseUnavailable } from '@otesse/persistence';
import { isTerminal } from '@otesse/saga';
import { authedProcedure } from '../../trpc/trpc';
import { ZSagaIdInput } from './get-disconnect-status.schema';
import { publicSagaView, requireVisibleSaga } from './saga-view';

/**
 * How often an open stream checks its token again: a saga past its pivot can run for as long as an outage lasts,
 * and a token revoked (or a user who lost the right to see the saga) must stop hearing about it.
 */
export const STREAM_REAUTH_MS = 5_000;

/**
 * Live step progress over SSE: yields the saga whenever it changes, until it is terminal. Reads the durable log,
 * so it follows a saga that another edge replica (or a recovered one) drives. Once streaming, a log out of reach
 * for a while (the database restarting, a failover) pauses the stream rather than ending it: the saga waits for the
 * database too, and the stream goes on with it. Every STREAM_REAUTH_MS the token is checked again and the saga's
 * visibility with what it says now: a revoked token ends the stream UNAUTHORIZED, a lost right as a new call would.
 */
export const watchDisconnectProgress = authedProcedure
  .input(ZSagaIdInput)
  .subscription(async function* ({ ctx, input, signal }) {
    const slots = ctx.deps.limits.streams;
    const key = ctx.identity.tokenId;
    if (!slots.take(key)) {
      throw new TRPCError({
        code: 'TOO_MANY_REQUESTS',
        message: `at most ${slots.limit} progress streams may be open at once per API token: close one first`,
      });
    }
    try {
      yield* follow();
    } finally {
      slots.release(key);
    }

    async function* follow() {
      /** Resolves on the saga's next progress event, after `ms`, or when the client goes away. */
      const nextChange = (ms: number) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(finish, ms);
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
      let last = '';
      let identity: TIdentity = ctx.identity;
      let checkedAt = Date.now();
      for (;;) {
        if (Date.now() - checkedAt >= STREAM_REAUTH_MS) {
          try {
            identity = await authenticate(ctx.deps.orm.em.getConnection().getKnex(), ctx.bearer);
            checkedAt = Date.now();
          } catch (e) {
            if (e instanceof AppError && e.code === 'UNAUTHORIZED') {
              throw new TRPCError({ code: 'UNAUTHORIZED', message: e.message });
            }
            // The database away for a moment: the check waits for it, as the stream does.
            if (!isDatabaseUnavailable(e) || signal?.aborted) throw e;
          }
        }
        let saga;
        try {
          saga = await ctx.deps.sagas.view(input.sagaId);
        } catch (e) {
          // Before the first view the caller is not known to be allowed to see it: that read's error is the answer.
          if (!last || !isDatabaseUnavailable(e) || signal?.aborted) throw e;
          await nextChange(500);
          continue;
        }
        const view = publicSagaView(requireVisibleSaga(saga, identity), ctx.deps.catalogue);
        const fingerprint = JSON.stringify(view);
        if (fingerprint !== last) {
          last = fingerprint;
          yield view;
        }
        if (isTerminal(view.status) || signal?.aborted) return;
        await nextChange(250);
      }
    }
  });
