import { z } from 'zod';
import { looksLikeSecretValue, SECRET_KEY_PATTERN } from './secret-value';

export { looksLikeSecretValue, SECRET_KEY_PATTERN } from './secret-value';

export const ZUuid = z.uuid();
export const ZOrgId = z.uuid();
export const ZUserId = z.uuid();
/** Catalogue keys: lower-case slug (`servicenow`, `confluence`, `postmark`). */
export const ZVendor = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,39}$/, 'vendor must be a lower-case slug');
export const ZIsoDate = z.iso.datetime({ offset: true });

export const PROVIDER_CATEGORIES = [
  'supportAndTicketing',
  'knowledgeBase',
  'email',
  'accounting',
  'crm',
  'productivity',
  'communication',
] as const;
export const ZProviderCategory = z.enum(PROVIDER_CATEGORIES);
export type TProviderCategory = z.infer<typeof ZProviderCategory>;

export const ZAuthKind = z.enum(['oauth2', 'apiKey']);
export type TAuthKind = z.infer<typeof ZAuthKind>;

export const ZConnectionFlow = z.enum(['app', 'user']);
export type TConnectionFlow = z.infer<typeof ZConnectionFlow>;

export const ZOAuthAction = z.enum(['reconnect', 'changeUser']);
export type TOAuthAction = z.infer<typeof ZOAuthAction>;

export const ZInstanceStatus = z.enum(['pending', 'connected', 'revoked', 'error']);
export type TInstanceStatus = z.infer<typeof ZInstanceStatus>;

export const ZConnectionStatus = z.enum([
  'pending',
  'connected',
  'disconnecting',
  'revoked',
  'error',
]);
export type TConnectionStatus = z.infer<typeof ZConnectionStatus>;

export const ZHealthStatus = z.enum(['healthy', 'degraded', 'unhealthy', 'unknown']);
export type THealthStatus = z.infer<typeof ZHealthStatus>;

export const ZCredentialKind = z.enum([
  'access_token',
  'refresh_token',
  'api_key',
  'client_secret',
  'id_token',
]);
export type TCredentialKind = z.infer<typeof ZCredentialKind>;

/** A subdomain from stored instance configuration: letters, digits and hyphens only (never a host or a path). */
export const ZSubdomain = z
  .string()
  .regex(
    /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/,
    'subdomain may hold letters, digits and hyphens only',
  );

/** A provider's id of one of its sites (Atlassian's cloud id): chosen from the provider's own list, never typed. */
export const ZSiteId = z
  .string()
  .min(1)
  .max(100)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'site id may hold letters, digits, dots, underscores and hyphens',
  );

/** Deeper free-form details than this are refused: nothing legitimate nests so far, and walking them is work. */
export const MAX_DETAILS_DEPTH = 32;

/**
 * Walks a JSON value and reports the first path that looks like a secret (by key or by value), or that nests
 * deeper than MAX_DETAILS_DEPTH (refused as well: hostile input must not exhaust the stack of whoever validates).
 */
export function findSecretLike(
  value: unknown,
  path: (string | number)[] = [],
): (string | number)[] | undefined {
  if (typeof value === 'string') {
    return looksLikeSecretValue(value) ? path : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (path.length >= MAX_DETAILS_DEPTH) return path;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const hit = findSecretLike(v, [...path, i]);
      if (hit) return hit;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    // A secret used as a key is as much out as one used as a value.
    if (looksLikeSecretValue(k) || secretUnderKey(k, v)) return [...path, k];
    const hit = findSecretLike(v, [...path, k]);
    if (hit) return hit;
  }
  return undefined;
}

/** A count or a flag under a secret-sounding key (credentialsDeleted: 2) reveals nothing; anything else may. */
function secretUnderKey(key: string, value: unknown): boolean {
  return (
    SECRET_KEY_PATTERN.test(key) &&
    typeof value !== 'number' &&
    typeof value !== 'boolean' &&
    value !== null
  );
}

/** What replaces a secret-looking string in redacted details. */
export const REDACTED = '[redacted]';

/**
 * Details with everything `findSecretLike` would refuse taken out — a secret-looking string becomes `[redacted]`,
 * a non-flag under a secret-named key and a subtree nested too deep become null, a secret-looking key is dropped —
 * and `redactedDetails` listing where (dotted paths, a dropped key as `*`). For a producer recording a change
 * already made: its entry is written with the offending parts out rather than refused. Clean details come back as
 * they are.
 */
export function redactSecretLike(details: Record<string, unknown>): {
  details: Record<string, unknown>;
  redacted: string[];
} {
  if (!findSecretLike(details)) return { details, redacted: [] };
  const redacted: string[] = [];
  const label = (path: (string | number)[]) => path.join('.');
  const walk = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value === 'string') {
      if (!looksLikeSecretValue(value)) return value;
      redacted.push(label(path));
      return REDACTED;
    }
    if (value === null || typeof value !== 'object') return value;
    if (path.length >= MAX_DETAILS_DEPTH) {
      redacted.push(label(path));
      return null;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i]));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (looksLikeSecretValue(k)) {
        redacted.push(label([...path, '*']));
      } else if (secretUnderKey(k, v)) {
        redacted.push(label([...path, k]));
        out[k] = null;
      } else {
        out[k] = walk(v, [...path, k]);
      }
    }
    return out;
  };
  const cleaned = walk(details, []) as Record<string, unknown>;
  // A path joined from harmless keys could still read like a token: such a label is starred, never kept.
  const labels = redacted.map((l) => (looksLikeSecretValue(l) ? '*' : l));
  return { details: { ...cleaned, redactedDetails: labels }, redacted: labels };
}

/** Free-form JSON details that are guaranteed to hold no secret-looking key or value. */
export const ZSafeDetails = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const hit = findSecretLike(value);
  if (hit) {
    ctx.addIssue({
      code: 'custom',
      path: hit,
      message:
        hit.length >= MAX_DETAILS_DEPTH
          ? `nests deeper than ${MAX_DETAILS_DEPTH} levels`
          : 'looks like a secret; secrets never go into details',
    });
  }
});

/** `sagaId:step`: what a receiving service dedupes a command on, in the same transaction as its effect. */
export const ZIdempotencyKey = z.string().min(1).max(200);

/**
 * The keys a saga sends its commands under: `<sagaId>:<step>` and `<sagaId>:<step>:compensate`. Their records are
 * kept until the edge releases them (`<service>.idempotency-records.forget`), once the saga can never send again;
 * a service keeps any other key for its own retention (IDEMPOTENCY_RECORD_RETENTION_MS). The prefix is in the regex
 * syntax Postgres and JavaScript share: a service's purge skips keys that match it.
 */
export const SAGA_IDEMPOTENCY_KEY_SQL_PREFIX =
  '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:';
export const SAGA_IDEMPOTENCY_KEY_PATTERN = new RegExp(
  `${SAGA_IDEMPOTENCY_KEY_SQL_PREFIX}[a-z0-9][a-z0-9_-]{0,63}(:compensate)?$`,
);
export const ZSagaIdempotencyKey = z
  .string()
  .max(200)
  .regex(SAGA_IDEMPOTENCY_KEY_PATTERN, 'is not a saga command key (<sagaId>:<step>[:compensate])');

/** Most keys one `…idempotency-records.forget` carries (about 7 per saga: a batch of sagas fits well under it). */
export const FORGET_IDEMPOTENCY_RECORDS_MAX = 2_000;

/**
 * `<service>.idempotency-records.forget`: the edge releases the records of sagas that ended (completed or
 * compensated) longer ago than its retention; they can never send a command again. Only saga keys are accepted.
 */
export const ZForgetIdempotencyRecords = z
  .object({ keys: z.array(ZSagaIdempotencyKey).min(1).max(FORGET_IDEMPOTENCY_RECORDS_MAX) })
  .strict();
export const ZForgetIdempotencyRecordsReply = z.object({ forgotten: z.number().int().min(0) });

/** The shape of a saga command on one connection (lock, compensation, disable jobs…). */
export const ZSagaCommand = z
  .object({ orgId: ZOrgId, connectionId: ZUuid, sagaId: ZUuid, idempotencyKey: ZIdempotencyKey })
  .strict();
