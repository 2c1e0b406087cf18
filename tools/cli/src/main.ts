// Admin CLI: npm run cli -- <command> [--flags]. Talks to the edge's schema as the edge's role (DATABASE_URL).
import { parseArgs } from 'node:util';
import type { Knex } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { openOrm, provisionDatabase, SERVICE_SCHEMAS } from '@otesse/persistence';
import { listStoppedSagas } from '@otesse/saga';
import {
  createOrg,
  createToken,
  createUser,
  findOrgByName,
  findOrgsByIds,
  findUserByEmail,
  identityEntities,
  listApiTokens,
  revokeApiToken,
  ROLE_PERMISSIONS,
  type TRole,
} from '@otesse/identity';

const USAGE = `usage: npm run cli -- <command> [options]

  db:provision                         create the database, one schema and role per service (DATABASE_ADMIN_URL)
  org:create   --name <name>           prints the new org id
  user:create  --org <id|name> --email <email> [--name <name>] [--role admin|member|viewer]
                                       prints the new user id
  token:create --email <email> [--label <label>]
                                       prints only the new API token
  token:list   --email <email>         the user's tokens as JSON lines (id, first characters, label, created,
                                       last used (written at most once a minute; null: never), revoked),
                                       newest first; never the token itself
  token:revoke --id <token id>         the next call with that token is refused (UNAUTHORIZED)
  operations:stopped [--limit <n>]     every org's operations stopped past their point of no return (one JSON
                                       object per line, longest stopped first): what the otesse_sagas alert is about

env: DATABASE_URL (the edge role's URL, default postgres://otesse_edge@127.0.0.1:5432/otesse),
     DATABASE_ADMIN_URL (for db:provision, default postgres://postgres@127.0.0.1:5432/otesse)`;

const EDGE_URL = process.env['DATABASE_URL'] ?? 'postgres://otesse_edge@127.0.0.1:5432/otesse';
const ADMIN_URL = process.env['DATABASE_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/otesse';

class UsageError extends Error {}

async function withKnex<T>(fn: (knex: Knex) => Promise<T>): Promise<T> {
  const orm = await openOrm({
    url: EDGE_URL,
    schema: SERVICE_SCHEMAS.edge.schema,
    entities: identityEntities,
    migrations: [],
  });
  try {
    return await fn(orm.em.getConnection().getKnex());
  } finally {
    await orm.close(true);
  }
}

const ZOrgCreate = z.object({ name: z.string().min(1).max(200) });
const ZUserCreate = z.object({
  org: z.string().min(1),
  email: z.email(),
  name: z.string().min(1).max(200).optional(),
  role: z.enum(['admin', 'member', 'viewer']).default('member'),
});
const ZTokenCreate = z.object({ email: z.email(), label: z.string().max(200).optional() });
const ZTokenList = z.object({ email: z.email() });
const ZTokenRevoke = z.object({ id: z.uuid() });
const ZStopped = z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(100) });

function parse<T extends z.ZodType>(schema: T, values: Record<string, unknown>): z.infer<T> {
  const r = schema.safeParse(values);
  if (!r.success)
    throw new UsageError(
      r.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'),
    );
  return r.data;
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      org: { type: 'string' },
      email: { type: 'string' },
      role: { type: 'string' },
      label: { type: 'string' },
      limit: { type: 'string' },
      id: { type: 'string' },
    },
    strict: true,
  });
  switch (command) {
    case 'db:provision': {
      await provisionDatabase(ADMIN_URL, Object.values(SERVICE_SCHEMAS));
      console.log('provisioned');
      return;
    }
    case 'org:create': {
      const input = parse(ZOrgCreate, values);
      const org = await withKnex((k) => createOrg(k, input));
      console.log(org.id);
      return;
    }
    case 'user:create': {
      const input = parse(ZUserCreate, values);
      const id = await withKnex(async (k) => {
        const orgId = z.uuid().safeParse(input.org).success
          ? input.org
          : (await findOrgByName(k, input.org))?.id;
        if (!orgId) throw new UsageError(`no org ${input.org}`);
        const user = await createUser(k, {
          orgId,
          email: input.email,
          name: input.name ?? input.email.split('@')[0] ?? input.email,
          permissions: ROLE_PERMISSIONS[input.role as TRole],
        });
        return user.id;
      });
      console.log(id);
      return;
    }
    case 'token:create': {
      const input = parse(ZTokenCreate, values);
      const token = await withKnex(async (k) => {
        const user = await findUserByEmail(k, input.email);
        if (!user) throw new UsageError(`no user with email ${input.email}`);
        return (
          await createToken(k, { userId: user.id, ...(input.label ? { label: input.label } : {}) })
        ).token;
      });
      // Only the token on stdout, so `TOKEN=$(npm run -s cli -- token:create --email …)` works.
      process.stdout.write(`${token}\n`);
      return;
    }
    case 'token:list': {
      const input = parse(ZTokenList, values);
      const tokens = await withKnex(async (k) => {
        const user = await findUserByEmail(k, input.email);
        if (!user) throw new UsageError(`no user with email ${input.email}`);
        return listApiTokens(k, user.id);
      });
      for (const t of tokens) process.stdout.write(`${JSON.stringify(t)}\n`);
      return;
    }
    case 'token:revoke': {
      const input = parse(ZTokenRevoke, values);
      if (!(await withKnex((k) => revokeApiToken(k, input.id))))
        throw new Error(`no live token ${input.id} (unknown, or already revoked)`);
      console.log('revoked');
      return;
    }
    case 'operations:stopped': {
      const input = parse(ZStopped, values);
      const rows = await withKnex(async (k) => {
        const stopped = await listStoppedSagas(k, SERVICE_SCHEMAS.edge.schema, input.limit);
        const orgs = await findOrgsByIds(
          k,
          stopped.map((s) => s.orgId),
        );
        return stopped.map((s) => ({ ...s, org: orgs.get(s.orgId)?.name ?? null }));
      });
      for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'no command');
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  if (
    e instanceof UsageError ||
    (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
  ) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error((e as Error).message);
  process.exit(1);
});
