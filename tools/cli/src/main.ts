// Admin CLI: npm run cli -- <command> [--flags]. Talks to the edge's schema as the edge's role (DATABASE_URL).
import { parseArgs } from 'node:util';
import type { Knex } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { parseEnv, ZDatabaseUrl } from '@otesse/config';
import { openOrm, provisionDatabase, SERVICE_SCHEMAS } from '@otesse/persistence';
import { listStoppedSagas } from '@otesse/saga';
import {
  createOrg,
  createToken,
  createUser,
  findOrgsByIds,
  findUserByEmail,
  identityEntities,
  listApiTokens,
  revokeApiToken,
  ROLE_PERMISSIONS,
  type TRole,
} from '@otesse/identity';

/** Each command's usage lines (`<command> --help` prints its own; `--help` all of them). */
const COMMANDS = {
  'db:provision': `  db:provision                         create the database, one schema and role per service (DATABASE_ADMIN_URL)`,
  'org:create': `  org:create   --name <name> [--allow-duplicate]
                                       prints the new org id; refuses a name an org already has (any case)
                                       unless --allow-duplicate (--org then takes the id)`,
  'user:create': `  user:create  --org <id|name> --email <email> [--name <name>] [--role admin|member|viewer]
                                       prints the new user id; an --org name that several orgs have is
                                       refused (it lists their ids)`,
  'token:create': `  token:create --email <email> [--label <label>]
                                       prints only the new API token`,
  'token:list': `  token:list   --email <email>         the user's tokens as JSON lines (id, first characters, label, created,
                                       last used (written at most once a minute; null: never), revoked),
                                       newest first; never the token itself`,
  'token:revoke': `  token:revoke --id <token id>         the next call with that token is refused (UNAUTHORIZED)`,
  'operations:stopped': `  operations:stopped [--limit <n>]     every org's operations stopped past their point of no return (one JSON
                                       object per line, longest stopped first): what the otesse_sagas alert is about`,
} as const;
type TCommand = keyof typeof COMMANDS;
const isCommand = (c: string | undefined): c is TCommand => c !== undefined && c in COMMANDS;

const ENV_HELP = `env: DATABASE_URL (the edge role's URL, default postgres://otesse_edge@127.0.0.1:5432/otesse),
     DATABASE_ADMIN_URL (for db:provision, default postgres://postgres@127.0.0.1:5432/otesse)`;

const USAGE = `usage: npm run cli -- <command> [options]    (npm run cli -- <command> --help: that command)

${Object.values(COMMANDS).join('\n')}

${ENV_HELP}`;

const usageOf = (command: TCommand): string =>
  `usage: npm run cli -- ${COMMANDS[command].trimStart()}\n\n${ENV_HELP}`;

const HELP_FLAGS = new Set(['--help', '-h', 'help']);

const ZCliEnv = z.object({
  DATABASE_URL: ZDatabaseUrl.default('postgres://otesse_edge@127.0.0.1:5432/otesse'),
  DATABASE_ADMIN_URL: ZDatabaseUrl.default('postgres://postgres@127.0.0.1:5432/otesse'),
});
/** Read when a command needs the database (help works whatever the environment); a bad value names its variable. */
const cliEnv = () => parseEnv('cli', ZCliEnv);

class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose usage is printed with it (all of them when unknown). */
    readonly command?: TCommand,
  ) {
    super(message);
  }
}

async function withKnex<T>(fn: (knex: Knex) => Promise<T>): Promise<T> {
  const orm = await openOrm({
    url: cliEnv().DATABASE_URL,
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

const ZOrgCreate = z.object({
  name: z.string().trim().min(1).max(200),
  'allow-duplicate': z.boolean().default(false),
});
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

function parse<T extends z.ZodType>(
  command: TCommand,
  schema: T,
  values: Record<string, unknown>,
): z.infer<T> {
  const r = schema.safeParse(values);
  if (!r.success)
    throw new UsageError(
      r.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'),
      command,
    );
  return r.data;
}

interface TOrgRow {
  id: string;
  name: string;
  created_at: Date;
}

/** Orgs by name: exactly (`--org`), or ignoring case (a duplicate at org:create). */
async function orgsNamed(knex: Knex, name: string, ignoreCase: boolean): Promise<TOrgRow[]> {
  const q = knex('org').withSchema(SERVICE_SCHEMAS.edge.schema);
  return (await (ignoreCase ? q.whereRaw('lower(name) = lower(?)', [name]) : q.where({ name }))
    .orderBy('created_at')
    .select('id', 'name', 'created_at')) as TOrgRow[];
}

const listOrgs = (orgs: TOrgRow[]): string =>
  orgs
    .map(
      (o) =>
        `  ${o.id}  ${JSON.stringify(o.name)}  created ${new Date(o.created_at).toISOString()}`,
    )
    .join('\n');

/** The org an `--org` names: its id, or a name exactly one org has. */
async function resolveOrg(knex: Knex, org: string): Promise<string> {
  if (z.uuid().safeParse(org).success) return org;
  const named = await orgsNamed(knex, org, false);
  if (named.length === 0) throw new UsageError(`no org ${org}`, 'user:create');
  if (named.length > 1)
    throw new Error(
      `${named.length} orgs are named ${org}: pass --org <id>, one of\n${listOrgs(named)}`,
    );
  return named[0]!.id;
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || HELP_FLAGS.has(command)) {
    const about = rest[0];
    if (command !== undefined && isCommand(about)) console.log(usageOf(about));
    else if (command === undefined) throw new UsageError('no command');
    else console.log(USAGE);
    return;
  }
  if (!isCommand(command)) throw new UsageError(`unknown command ${command}`);
  if (rest.some((a) => a === '--help' || a === '-h')) {
    console.log(usageOf(command));
    return;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        name: { type: 'string' },
        org: { type: 'string' },
        email: { type: 'string' },
        role: { type: 'string' },
        label: { type: 'string' },
        limit: { type: 'string' },
        id: { type: 'string' },
        'allow-duplicate': { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message, command);
  }
  switch (command) {
    case 'db:provision': {
      await provisionDatabase(cliEnv().DATABASE_ADMIN_URL, Object.values(SERVICE_SCHEMAS));
      console.log('provisioned');
      return;
    }
    case 'org:create': {
      const input = parse(command, ZOrgCreate, values);
      const org = await withKnex(async (k) => {
        const same = await orgsNamed(k, input.name, true);
        // Two orgs of one name make `--org <name>` ambiguous: a second one only when asked for.
        if (same.length > 0 && !input['allow-duplicate'])
          throw new Error(
            `an org named ${input.name} exists already (--allow-duplicate creates another; --org then needs the id):\n${listOrgs(same)}`,
          );
        return createOrg(k, { name: input.name });
      });
      console.log(org.id);
      return;
    }
    case 'user:create': {
      const input = parse(command, ZUserCreate, values);
      const id = await withKnex(async (k) => {
        const orgId = await resolveOrg(k, input.org);
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
      const input = parse(command, ZTokenCreate, values);
      const token = await withKnex(async (k) => {
        const user = await findUserByEmail(k, input.email);
        if (!user) throw new UsageError(`no user with email ${input.email}`, command);
        return (
          await createToken(k, { userId: user.id, ...(input.label ? { label: input.label } : {}) })
        ).token;
      });
      // Only the token on stdout, so `TOKEN=$(npm run -s cli -- token:create --email …)` works.
      process.stdout.write(`${token}\n`);
      return;
    }
    case 'token:list': {
      const input = parse(command, ZTokenList, values);
      const tokens = await withKnex(async (k) => {
        const user = await findUserByEmail(k, input.email);
        if (!user) throw new UsageError(`no user with email ${input.email}`, command);
        return listApiTokens(k, user.id);
      });
      for (const t of tokens) process.stdout.write(`${JSON.stringify(t)}\n`);
      return;
    }
    case 'token:revoke': {
      const input = parse(command, ZTokenRevoke, values);
      if (!(await withKnex((k) => revokeApiToken(k, input.id))))
        throw new Error(`no live token ${input.id} (unknown, or already revoked)`);
      console.log('revoked');
      return;
    }
    case 'operations:stopped': {
      const input = parse(command, ZStopped, values);
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
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`${e.message}\n\n${e.command ? usageOf(e.command) : USAGE}`);
    process.exit(2);
  }
  console.error((e as Error).message);
  process.exit(1);
});
