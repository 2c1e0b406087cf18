import { z } from 'zod';

/** The one error vocabulary: every service answers with these, every edge translates them. */
export const APP_ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PRECONDITION_FAILED',
  'TOO_MANY_REQUESTS',
  'PAYLOAD_TOO_LARGE',
  'TIMEOUT',
  'UNAVAILABLE',
  'PROVIDER_ERROR',
  'INTERNAL',
] as const;
export const ZAppErrorCode = z.enum(APP_ERROR_CODES);
export type TAppErrorCode = z.infer<typeof ZAppErrorCode>;

/** HTTP-like numbers carried in the `Nats-Service-Error-Code` header, so `$SRV` stats and plain nats tools read them. */
export const APP_ERROR_STATUS: Record<TAppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_REQUESTS: 429,
  INTERNAL: 500,
  PROVIDER_ERROR: 502,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
};

/** Failures a caller may retry as-is (the saga engine retries these; business errors it does not). */
export const RETRYABLE_CODES: ReadonlySet<TAppErrorCode> = new Set(['TIMEOUT', 'UNAVAILABLE']);

export const ZErrorReply = z.object({
  error: z.object({
    code: ZAppErrorCode,
    /** A machine-readable sub-reason, e.g. `already_connected`, `tenant_mismatch`. */
    reason: z.string().optional(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type TErrorReply = z.infer<typeof ZErrorReply>;

export class AppError extends Error {
  readonly code: TAppErrorCode;
  readonly reason: string | undefined;
  readonly details: unknown;

  constructor(
    code: TAppErrorCode,
    message: string,
    opts: { reason?: string; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.reason = opts.reason;
    this.details = opts.details;
  }

  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }

  toReply(): TErrorReply {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.reason === undefined ? {} : { reason: this.reason }),
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }

  static fromReply(reply: TErrorReply): AppError {
    return new AppError(reply.error.code, reply.error.message, {
      ...(reply.error.reason === undefined ? {} : { reason: reply.error.reason }),
      ...(reply.error.details === undefined ? {} : { details: reply.error.details }),
    });
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Zod issues as plain data for an error's details (paths and messages only, never the input). */
export function zodIssues(
  error: z.ZodError,
): { path: (string | number)[]; message: string; code: string }[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: i.message,
    code: i.code,
  }));
}
