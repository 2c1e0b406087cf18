import { z } from 'zod';

// Strict objects so a typo in a test's config call fails loudly instead of being ignored.
const nonNegInt = z.number().int().nonnegative();
const delayMs = nonNegInt.max(600_000);
const ttlSec = nonNegInt.max(10 * 365 * 24 * 3600);

export const configPatchSchema = z
  .strictObject({
    accessTokenTtlSec: ttlSec,
    refreshTokenTtlSec: ttlSec,
    codeTtlSec: ttlSec,
    rotate: z.boolean(),
    refreshExpiredStyle: z.enum(['rfc', 'servicenow']),
    tokenMode: z.enum(['ok', '503', 'hang', 'invalid_client', 'drip', 'oversized', 'gzip']),
    tokenDelayMs: delayMs,
    revokeMode: z.enum(['ok', '400', '500', 'hang', 'down', 'expired', '404']),
    revokeDelayMs: delayMs,
    revokeScope: z.enum(['token', 'grant']),
    authorizeMode: z.enum(['consent', 'deny']),
    pageDelayMs: delayMs,
    dataApiMode: z.enum(['ok', 'unauthorized']),
    userinfoMode: z.enum(['ok', '500']),
    dataApiRedirectTo: z.url().nullable(),
    dataCounts: z
      .strictObject({
        contacts: nonNegInt.max(1_000_000),
        invoices: nonNegInt.max(1_000_000),
        tickets: nonNegInt.max(1_000_000),
      })
      .partial(),
    clients: z.array(
      z.strictObject({ clientId: z.string().min(1), clientSecret: z.string().min(1) }),
    ),
  })
  .partial();

export type TFakeProviderConfigPatch = z.input<typeof configPatchSchema>;

export const userSchema = z.strictObject({
  id: z.string().min(1),
  email: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address'),
  name: z.string().min(1),
  tenantId: z.string().min(1),
  sites: z.array(z.string().min(1)).max(20).optional(),
  tenantHidden: z.boolean().optional(),
});

export const usersBodySchema = z.strictObject({
  users: z.array(userSchema).min(1),
  /** true: the directory becomes exactly `users`; false (default): upsert by id. */
  replace: z.boolean().optional(),
});

export type TSetUsersBody = z.input<typeof usersBodySchema>;

export const consentAsBodySchema = z.strictObject({ userId: z.string().min(1) });

export const tokenFilterSchema = z
  .strictObject({
    userId: z.string().min(1),
    tenantId: z.string().min(1),
    instance: z.string().min(1),
    clientId: z.string().min(1),
    token: z.string().min(1),
  })
  .partial();
