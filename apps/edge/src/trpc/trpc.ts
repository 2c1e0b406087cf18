import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { AppError, zodIssues } from '@otesse/contracts';
import type { TPermission } from '@otesse/identity';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { resolveIdentity, type TContext } from './context';
import { asAppError, toTrpcError } from './app-error-to-trpc';
import { retryAfterOf } from '../http/rate-limiter';

const t = initTRPC
  .context<TContext>()
  .meta<OpenApiMeta>()
  .create({
    errorFormatter({ shape, error }) {
      const cause = error.cause;
      return {
        ...shape,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          // Zod issues (paths and messages only) for bad input; the internal code and reason for typed failures.
          zodIssues: cause instanceof ZodError ? zodIssues(cause) : null,
          appCode: cause instanceof AppError ? cause.code : null,
          reason: cause instanceof AppError ? (cause.reason ?? null) : null,
          /** TOO_MANY_REQUESTS: seconds until the limit lets the caller in again (also the Retry-After header). */
          retryAfterSec: retryAfterOf(cause) ?? null,
        },
        // Internal errors never leak their message.
        message: shape.data.code === 'INTERNAL_SERVER_ERROR' ? 'internal error' : shape.message,
      };
    },
  });

export const router = t.router;
/** The formatted error shape of any TRPCError, for answers given before a procedure is reached (413). */
export const trpcConfig = t._config;
export const createCallerFactory = t.createCallerFactory;

/** Every failure leaves as a TRPCError built from the AppError vocabulary; unexpected ones are logged once. */
const errorTranslation = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const err = result.error;
    const appError = asAppError(err.cause);
    const code = appError ? toTrpcError(appError).code : err.code;
    if (code === 'INTERNAL_SERVER_ERROR') {
      ctx.deps.logger.error(
        { err: err.cause ?? err, path, traceId: ctx.traceId },
        'procedure failed',
      );
    } else if (appError && !(err.cause instanceof AppError)) {
      // The edge's own database out of reach: worth a line per call, without the driver's stack each time.
      ctx.deps.logger.warn(
        { code, reason: appError.reason, path, traceId: ctx.traceId },
        'procedure failed; answered retryable',
      );
    } else {
      // The code only: a message may quote the input.
      ctx.deps.logger.debug({ code, path, traceId: ctx.traceId }, 'procedure refused');
    }
    // tRPC wraps anything thrown as INTERNAL_SERVER_ERROR: give typed failures their own code (and HTTP status).
    if (appError) throw toTrpcError(appError);
  }
  return result;
});

export const publicProcedure = t.procedure.use(errorTranslation);

export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  let identity;
  try {
    identity = await resolveIdentity(ctx);
  } catch (e) {
    throw toTrpcError(e);
  }
  return next({ ctx: { ...ctx, identity } });
});

/** Missing permission → FORBIDDEN (after authentication, so a bad token is still UNAUTHORIZED). */
export function requirePermission(...anyOf: TPermission[]) {
  return authedProcedure.use(async ({ ctx, next }) => {
    if (!anyOf.some((p) => ctx.identity.permissions.includes(p))) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `needs ${anyOf.join(' or ')}` });
    }
    return next();
  });
}
