import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ZDatabaseUrl, ZIdempotencyRecordEnv, ZOptionalFile, ZServiceEnv } from '@otesse/config';
import { parseMasterKeys, type TMasterKey } from './crypto/master-keys';

/** `keyId:base64(32 bytes)[,keyId2:base64...]`; the first is active. Errors never echo key material. */
export const ZMasterKeys = z.string().transform((spec, ctx): TMasterKey[] => {
  try {
    return parseMasterKeys(spec);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

export const ZVaultEnv = ZServiceEnv.extend(ZIdempotencyRecordEnv.shape)
  .extend({
    DATABASE_URL: ZDatabaseUrl.default('postgres://otesse_vault@127.0.0.1:5432/otesse'),
    NODE_ENV: z.string().optional(),
    /**
     * `true`: without VAULT_MASTER_KEY, seal with the published development key (a throwaway local run). Without it
     * the vault refuses to start with no key, whatever NODE_ENV says: a deployment that forgot both would otherwise
     * store every credential under a key anyone can read in this repository.
     */
    VAULT_ALLOW_DEV_KEY: z
      .enum(['true', 'false'])
      .optional()
      .transform((v) => v === 'true'),
    VAULT_MASTER_KEY: ZMasterKeys.optional(),
    /** Catalogue overrides (tells API-key providers from OAuth ones; token and revocation URLs, OAuth clients). */
    PROVIDERS_FILE: ZOptionalFile,
    /** Refresh an access token when less than this is left (default 60 s, at most half its lifetime). */
    TOKEN_REFRESH_MARGIN_MS: z.coerce.number().int().min(0).max(3_600_000).optional(),
    /** One call to a token endpoint (default 2.5 s). */
    TOKEN_REFRESH_ATTEMPT_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).optional(),
    /** Every call and back-off of one refresh together (default 4 s: callers wait 5 s on NATS). */
    TOKEN_REFRESH_BUDGET_MS: z.coerce.number().int().min(100).max(120_000).optional(),
    /**
     * A token refused again right after a forced refresh is renewed again only after this (default 60 s), doubling
     * with each forced refresh in a row, up to TOKEN_REFUSAL_BACKOFF_MAX_MS (default 1 h).
     */
    TOKEN_REFUSAL_BACKOFF_MS: z.coerce.number().int().min(0).max(86_400_000).optional(),
    TOKEN_REFUSAL_BACKOFF_MAX_MS: z.coerce.number().int().min(0).max(86_400_000).optional(),
    /** How often each replica sweeps discards nobody finished (default 60 s). */
    VAULT_DISCARD_SWEEP_MS: z.coerce.number().int().min(100).max(3_600_000).optional(),
    /** How old such a discard is before a sweep takes it (default 30 s: the replica that took it has it). */
    VAULT_DISCARD_STALE_MS: z.coerce.number().int().min(0).max(3_600_000).optional(),
  })
  .superRefine((env, ctx) => {
    if (!env.VAULT_MASTER_KEY && (env.NODE_ENV === 'production' || !env.VAULT_ALLOW_DEV_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: ['VAULT_MASTER_KEY'],
        message:
          env.NODE_ENV === 'production'
            ? 'is required in production (keyId:base64(32 bytes)[,keyId2:base64...])'
            : 'is required (keyId:base64(32 bytes)[,keyId2:base64...]); VAULT_ALLOW_DEV_KEY=true uses the published development key instead, for a throwaway local run',
      });
    }
  });
export type TVaultEnv = z.infer<typeof ZVaultEnv>;

/**
 * With VAULT_ALLOW_DEV_KEY=true outside production, without VAULT_MASTER_KEY: a fixed, publicly known key so local
 * data survives restarts. Its id says what it is; without that opt-in the vault refuses to start without a real key.
 */
export const DEV_MASTER_KEYS: TMasterKey[] = [
  {
    keyId: 'dev-insecure',
    key: createHash('sha256').update('otesse-vault-dev-master-key').digest(),
  },
];
