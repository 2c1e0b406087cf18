import { EntitySchema } from '@mikro-orm/core';

export interface Org {
  id: string;
  name: string;
  createdAt: Date;
}

export interface User {
  id: string;
  orgId: string;
  email: string;
  name: string;
  /** e.g. `settings.view`, `settings.edit`. */
  permissions: string[];
  createdAt: Date;
}

/** Only the sha256 of the token is stored: the token itself is shown once, when created. */
export interface ApiToken {
  id: string;
  userId: string;
  orgId: string;
  tokenHash: string;
  /** First characters, to tell tokens apart in a list without revealing them. */
  prefix: string;
  label: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export const OrgSchema = new EntitySchema<Org>({
  name: 'Org',
  tableName: 'org',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 200 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const UserSchema = new EntitySchema<User>({
  name: 'User',
  tableName: 'app_user',
  uniques: [{ name: 'app_user_email_unique', properties: ['email'] }],
  indexes: [{ name: 'app_user_org_idx', properties: ['orgId'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    orgId: { type: 'uuid' },
    email: { type: 'string', length: 320 },
    name: { type: 'string', length: 200 },
    permissions: { type: 'json' },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const ApiTokenSchema = new EntitySchema<ApiToken>({
  name: 'ApiToken',
  tableName: 'api_token',
  uniques: [{ name: 'api_token_hash_unique', properties: ['tokenHash'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    userId: { type: 'uuid' },
    orgId: { type: 'uuid' },
    tokenHash: { type: 'string', length: 64 },
    prefix: { type: 'string', length: 16 },
    label: { type: 'string', length: 200 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    lastUsedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revokedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});

export const identityEntities = [OrgSchema, UserSchema, ApiTokenSchema];
