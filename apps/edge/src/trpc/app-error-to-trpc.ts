import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { AppError, type TAppErrorCode } from '@otesse/contracts';
import { databaseErrorToAppError } from '@otesse/persistence';

/** The one translation from the internal error vocabulary to tRPC's. */
export const APP_TO_TRPC: Record<TAppErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  TIMEOUT: 'TIMEOUT',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  PROVIDER_ERROR: 'BAD_GATEWAY',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

/**
 * A failure in the error vocabulary when it has a name there: an AppError, or the edge's own database out of reach
 * (UNAVAILABLE `database_unavailable`, which a caller retries); anything else is undefined, i.e. internal.
 */
export function asAppError(e: unknown): AppError | undefined {
  return e instanceof AppError ? e : databaseErrorToAppError(e);
}

export function toTrpcError(e: unknown): TRPCError {
  if (e instanceof TRPCError) return e;
  const appError = asAppError(e);
  if (appError) {
    return new TRPCError({
      code: APP_TO_TRPC[appError.code],
      message: appError.message,
      cause: appError,
    });
  }
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'internal error', cause: e });
}
