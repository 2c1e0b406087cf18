import type { Knex } from '@mikro-orm/postgresql';
import { openOrm, SERVICE_SCHEMAS, type TOrmConfig } from '@otesse/persistence';
import type { TTestDatabase } from './test-database';

/**
 * What `seedOrg` uses of `@otesse/identity`. This lib is scope:shared and may not import the edge's identity lib,
 * so the caller hands it in: `import * as identity from '@otesse/identity'; seedOrg(identity, db, …)`.
 */
export interface TSeedIdentity<TRole extends string, TPermission> {
  identityEntities: TOrmConfig['entities'];
  ROLE_PERMISSIONS: Readonly<Record<TRole, readonly TPermission[]>>;
  createOrg(knex: Knex, input: { name: string }): Promise<{ id: string }>;
  createUser(
    knex: Knex,
    input: { orgId: string; email: string; name: string; permissions: readonly TPermission[] },
  ): Promise<{ id: string }>;
  createToken(knex: Knex, input: { userId: string }): Promise<{ token: string }>;
}

export interface TSeedUserInput<TRole extends string = string> {
  email: string;
  /** Default: the part of the email before the `@`. */
  name?: string;
  role: TRole;
}

export interface TSeededOrgUser<TRole extends string = string> {
  id: string;
  email: string;
  name: string;
  role: TRole;
  /** A fresh API token of the user (`Authorization: Bearer …`). */
  token: string;
}

/**
 * Seeds one org straight into the edge's database (the test harnesses' demo org): the org, then each user with
 * its role's permissions and an API token, in the order given (a tuple in gives a tuple out).
 */
export async function seedOrg<
  TRole extends string,
  TPermission,
  const TUsers extends readonly TSeedUserInput<TRole>[],
>(
  identity: TSeedIdentity<TRole, TPermission>,
  db: Pick<TTestDatabase, 'urlFor'>,
  input: { name: string; users: TUsers },
): Promise<{ orgId: string; users: { [I in keyof TUsers]: TSeededOrgUser<TUsers[I]['role']> } }> {
  const orm = await openOrm({
    url: db.urlFor('edge'),
    schema: SERVICE_SCHEMAS.edge.schema,
    entities: identity.identityEntities,
    migrations: [],
  });
  try {
    const knex = orm.em.getConnection().getKnex();
    const { id: orgId } = await identity.createOrg(knex, { name: input.name });
    const users: TSeededOrgUser<TRole>[] = [];
    for (const { email, role, name = email.split('@')[0] ?? email } of input.users) {
      const { id } = await identity.createUser(knex, {
        orgId,
        email,
        name,
        permissions: identity.ROLE_PERMISSIONS[role],
      });
      const { token } = await identity.createToken(knex, { userId: id });
      users.push({ id, email, name, role, token });
    }
    return { orgId, users: users as { [I in keyof TUsers]: TSeededOrgUser<TUsers[I]['role']> } };
  } finally {
    await orm.close(true);
  }
}
