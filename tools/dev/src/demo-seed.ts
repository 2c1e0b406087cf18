import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Knex } from '@mikro-orm/postgresql';
import { z } from 'zod';
import {
  authenticate,
  createOrg,
  createToken,
  createUser,
  findOrgByName,
  findUserByEmail,
  listApiTokens,
  revokeApiToken,
  ROLE_PERMISSIONS,
} from '@otesse/identity';

/** The label of the tokens npm start prints: `token:list` shows them as such. */
export const DEMO_TOKEN_LABEL = 'npm start';

export const DEMO_PEOPLE = [
  { email: 'admin@demo.otesse.test', name: 'Ada Admin', role: 'admin' as const },
  { email: 'member@demo.otesse.test', name: 'Max Member', role: 'member' as const },
  { email: 'viewer@demo.otesse.test', name: 'Vera Viewer', role: 'viewer' as const },
];

const ZTokensFile = z.record(z.string(), z.string());

/**
 * "Demo Org" and its three people, each with one live demo token. The tokens are kept in `tokensFile` (mode 0600,
 * beside the dev master key, one file per database): a restart prints the same ones, so a signed-in dashboard
 * stays signed in. A kept token that no longer authenticates (revoked, another database) is replaced, and every
 * other live token labelled `npm start` of the demo people is revoked, so restarts do not pile up live tokens.
 */
export async function seedDemo(
  knex: Knex,
  tokensFile: string,
): Promise<{ email: string; role: string; token: string }[]> {
  const org =
    (await findOrgByName(knex, 'Demo Org')) ?? (await createOrg(knex, { name: 'Demo Org' }));
  const kept = readTokens(tokensFile);
  const out = [];
  for (const p of DEMO_PEOPLE) {
    const user =
      (await findUserByEmail(knex, p.email)) ??
      (await createUser(knex, {
        orgId: org.id,
        email: p.email,
        name: p.name,
        permissions: ROLE_PERMISSIONS[p.role],
      }));
    let token = kept[p.email];
    let tokenId = token ? await liveTokenOf(knex, token, user.id) : undefined;
    if (!token || !tokenId) {
      ({ token, id: tokenId } = await createToken(knex, {
        userId: user.id,
        label: DEMO_TOKEN_LABEL,
      }));
    }
    for (const t of await listApiTokens(knex, user.id)) {
      if (t.label === DEMO_TOKEN_LABEL && t.revokedAt === null && t.id !== tokenId)
        await revokeApiToken(knex, t.id);
    }
    kept[p.email] = token;
    out.push({ email: p.email, role: p.role, token });
  }
  writeFileSync(tokensFile, `${JSON.stringify(kept, null, 2)}\n`, { mode: 0o600 });
  return out;
}

function readTokens(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  try {
    const parsed = ZTokensFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** The token's id when it still authenticates as this user. */
async function liveTokenOf(knex: Knex, token: string, userId: string): Promise<string | undefined> {
  try {
    const who = await authenticate(knex, token);
    return who.userId === userId ? who.tokenId : undefined;
  } catch (e) {
    if ((e as { code?: string }).code === 'UNAUTHORIZED') return undefined;
    throw e;
  }
}
