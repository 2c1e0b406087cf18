import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { AppError } from '@otesse/contracts';
import { queryPrepared } from '@otesse/persistence';

export const PERMISSIONS = ['settings.view', 'settings.edit'] as const;
export const ZPermission = z.enum(PERMISSIONS);
export type TPermission = z.infer<typeof ZPermission>;

export const ROLE_PERMISSIONS = {
  admin: ['settings.view', 'settings.edit'],
  member: [],
  viewer: ['settings.view'],
} as const satisfies Record<string, readonly TPermission[]>;
export type TRole = keyof typeof ROLE_PERMISSIONS;

export interface TIdentity {
  userId: string;
  orgId: string;
  email: string;
  name: string;
  permissions: TPermission[];
  tokenId: string;
}

const SCHEMA = 'edge';
const TOKEN_PREFIX = 'otk_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function createOrg(
  knex: Knex,
  input: { name: string },
): Promise<{ id: string; name: string }> {
  const id = randomUUID();
  await knex('org').withSchema(SCHEMA).insert({ id, name: input.name, created_at: new Date() });
  return { id, name: input.name };
}

export async function findOrgByName(
  knex: Knex,
  name: string,
): Promise<{ id: string; name: string } | undefined> {
  return (await knex('org').withSchema(SCHEMA).where({ name }).first('id', 'name')) as
    { id: string; name: string } | undefined;
}

/** The orgs of these ids, by id (one query; unknown ids are left out). */
export async function findOrgsByIds(
  knex: Knex,
  ids: readonly string[],
): Promise<Map<string, { id: string; name: string }>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = (await knex('org')
    .withSchema(SCHEMA)
    .whereIn('id', unique)
    .select('id', 'name')) as {
    id: string;
    name: string;
  }[];
  return new Map(rows.map((r) => [r.id, r]));
}

export async function createUser(
  knex: Knex,
  input: { orgId: string; email: string; name: string; permissions: readonly TPermission[] },
): Promise<{ id: string; email: string }> {
  const org = await knex('org').withSchema(SCHEMA).where({ id: input.orgId }).first('id');
  if (!org) throw new AppError('NOT_FOUND', `org ${input.orgId} not found`);
  const id = randomUUID();
  try {
    await knex('app_user')
      .withSchema(SCHEMA)
      .insert({
        id,
        org_id: input.orgId,
        email: input.email.toLowerCase(),
        name: input.name,
        permissions: JSON.stringify([...new Set(input.permissions)]),
        created_at: new Date(),
      });
  } catch (e) {
    if ((e as { code?: string }).code === '23505')
      throw new AppError('CONFLICT', `a user with email ${input.email} exists`);
    throw e;
  }
  return { id, email: input.email.toLowerCase() };
}

export async function findUserByEmail(
  knex: Knex,
  email: string,
): Promise<
  { id: string; orgId: string; email: string; name: string; permissions: TPermission[] } | undefined
> {
  const row = (await knex('app_user')
    .withSchema(SCHEMA)
    .where({ email: email.toLowerCase() })
    .first()) as
    | { id: string; org_id: string; email: string; name: string; permissions: TPermission[] }
    | undefined;
  return (
    row && {
      id: row.id,
      orgId: row.org_id,
      email: row.email,
      name: row.name,
      permissions: row.permissions,
    }
  );
}

/** How many users the org has (one indexed count: the REST aggregate's `total`, never the users themselves). */
export async function countOrgUsers(knex: Knex, orgId: string): Promise<number> {
  const row = (await knex('app_user')
    .withSchema(SCHEMA)
    .where({ org_id: orgId })
    .count({ n: '*' })
    .first()) as { n: string | number } | undefined;
  return Number(row?.n ?? 0);
}

export async function listOrgUsers(
  knex: Knex,
  orgId: string,
): Promise<{ id: string; email: string; name: string; permissions: TPermission[] }[]> {
  return (await knex('app_user')
    .withSchema(SCHEMA)
    .where({ org_id: orgId })
    .orderBy('email')
    .select('id', 'email', 'name', 'permissions')) as {
    id: string;
    email: string;
    name: string;
    permissions: TPermission[];
  }[];
}

/** Creates an API token; the plaintext is returned once and never stored. */
export async function createToken(
  knex: Knex,
  input: { userId: string; label?: string },
): Promise<{ id: string; token: string }> {
  const user = (await knex('app_user')
    .withSchema(SCHEMA)
    .where({ id: input.userId })
    .first('id', 'org_id')) as { id: string; org_id: string } | undefined;
  if (!user) throw new AppError('NOT_FOUND', `user ${input.userId} not found`);
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = randomUUID();
  await knex('api_token')
    .withSchema(SCHEMA)
    .insert({
      id,
      user_id: user.id,
      org_id: user.org_id,
      token_hash: hashToken(token),
      prefix: token.slice(0, 10),
      label: input.label ?? 'api token',
      created_at: new Date(),
      last_used_at: null,
      revoked_at: null,
    });
  return { id, token };
}

/** Resolves a bearer token to its user, or throws UNAUTHORIZED (same answer for unknown, malformed and revoked). */
export async function authenticate(knex: Knex, token: string | undefined): Promise<TIdentity> {
  if (!token || !token.startsWith(TOKEN_PREFIX) || token.length > 200) {
    throw new AppError('UNAUTHORIZED', 'missing or invalid bearer token');
  }
  const hash = hashToken(token);
  // Every authenticated call runs this: one prepared statement, not a query built anew each time.
  const { rows } = await queryPrepared<{
    token_id: string;
    token_hash: string;
    user_id: string;
    org_id: string;
    email: string;
    name: string;
    permissions: TPermission[];
  }>(
    knex,
    'identity.authenticate',
    `select t.id as token_id, t.token_hash, u.id as user_id, u.org_id, u.email, u.name, u.permissions
       from "${SCHEMA}".api_token t join "${SCHEMA}".app_user u on u.id = t.user_id
      where t.token_hash = $1 and t.revoked_at is null
      limit 1`,
    [hash],
  );
  const row = rows[0];
  // The lookup is by hash; the constant-time compare guards against any future non-unique lookup.
  if (!row || !timingSafeEqual(Buffer.from(row.token_hash), Buffer.from(hash))) {
    throw new AppError('UNAUTHORIZED', 'missing or invalid bearer token');
  }
  return {
    userId: row.user_id,
    orgId: row.org_id,
    email: row.email,
    name: row.name,
    permissions: row.permissions,
    tokenId: row.token_id,
  };
}

/** A user's API tokens as an operator lists them: never the token, only its first characters. */
export interface TApiTokenSummary {
  id: string;
  prefix: string;
  label: string;
  createdAt: string;
  /** When it last authenticated a call (recorded at most once a minute: `TOKEN_USE_INTERVAL_MS`); null: never. */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The user's API tokens, newest first, revoked ones included. */
export async function listApiTokens(knex: Knex, userId: string): Promise<TApiTokenSummary[]> {
  const rows = (await knex('api_token')
    .withSchema(SCHEMA)
    .where({ user_id: userId })
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'asc' },
    ])
    .select('id', 'prefix', 'label', 'created_at', 'last_used_at', 'revoked_at')) as {
    id: string;
    prefix: string;
    label: string;
    created_at: Date;
    last_used_at: Date | null;
    revoked_at: Date | null;
  }[];
  return rows.map((r) => ({
    id: r.id,
    prefix: r.prefix,
    label: r.label,
    createdAt: new Date(r.created_at).toISOString(),
    lastUsedAt: r.last_used_at ? new Date(r.last_used_at).toISOString() : null,
    revokedAt: r.revoked_at ? new Date(r.revoked_at).toISOString() : null,
  }));
}

/**
 * Revokes an API token: the next call with it is UNAUTHORIZED (every call looks the token up; nothing caches it).
 * Whether it was live; revoking it again changes nothing.
 */
export async function revokeApiToken(knex: Knex, tokenId: string): Promise<boolean> {
  const revoked = await knex('api_token')
    .withSchema(SCHEMA)
    .where({ id: tokenId })
    .whereNull('revoked_at')
    .update({ revoked_at: knex.fn.now() });
  return revoked > 0;
}
