import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AppError, ZSubdomain, zodIssues } from '@otesse/contracts';
import { BUILTIN_PROVIDERS } from './builtin-catalogue';
import { ZProviderDef, type TProviderDef, type TProviderDefInput } from './provider.schema';

/** PROVIDERS_FILE: `{ "providers": [ { "key": "...", ...partial or whole definition } ] }`. */
export const ZProvidersFile = z.object({ providers: z.array(z.record(z.string(), z.unknown())) });

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars replace (a file overriding `scopes` gives the whole list). */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override))
    return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = deepMerge(base[k], v);
  return out;
}

export class Catalogue {
  private readonly byKey: Map<string, TProviderDef>;

  constructor(defs: TProviderDef[]) {
    this.byKey = new Map(defs.map((d) => [d.key, d]));
  }

  list(): TProviderDef[] {
    return [...this.byKey.values()];
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  get(key: string): TProviderDef {
    const def = this.byKey.get(key);
    if (!def)
      throw new AppError('NOT_FOUND', `unknown provider ${key}`, { reason: 'unknown_provider' });
    return def;
  }

  /**
   * Whether revoking any token of a user at this provider ends the user's whole grant to our client (`oauth.
   * revocationScope: 'grant'`: Google), and so every live connection of that account with it (one OAuth client per
   * provider for the deployment). False for a provider the catalogue does not have.
   */
  revokesWholeGrant(key: string): boolean {
    return this.byKey.get(key)?.oauth?.revocationScope === 'grant';
  }
}

const envKeyOf = (key: string): string => key.toUpperCase().replaceAll('-', '_');
/** The edge's own OAUTH_ variable, not a provider's client. */
const OTHER_OAUTH_VARIABLES = new Set(['OAUTH_SESSION_SECRET']);

/**
 * `OAUTH_<KEY>_CLIENT_ID` / `_CLIENT_SECRET` are read outside any app's env schema (one pair per provider, the
 * catalogue decides which): checked here, at start, so a typo or a half-set pair fails loudly instead of leaving
 * the provider on the file's (or no) client. Every OAUTH_ variable set must name an OAuth provider of the catalogue
 * and come with its pair. Returns each provider's pair (by catalogue key), trimmed.
 */
function oauthClientsFromEnv(
  env: Record<string, string | undefined>,
  keys: string[],
): Map<string, { clientId: string; clientSecret: string }> {
  const byEnvKey = new Map(keys.map((k) => [envKeyOf(k), k]));
  const problems: string[] = [];
  const clients = new Map<string, { clientId: string; clientSecret: string }>();
  for (const [name, value] of Object.entries(env)) {
    // Empty counts as unset (a compose file passing an unset variable through, `export X=`).
    if (!name.startsWith('OAUTH_') || OTHER_OAUTH_VARIABLES.has(name) || !value?.trim()) continue;
    const m = /^OAUTH_(.+)_CLIENT_(ID|SECRET)$/.exec(name);
    if (!m || !byEnvKey.has(m[1]!)) {
      problems.push(
        `${name} names no OAuth provider (expected OAUTH_<PROVIDER>_CLIENT_ID or _CLIENT_SECRET, <PROVIDER> one of ${[...byEnvKey.keys()].join(', ')})`,
      );
      continue;
    }
    const pair = `OAUTH_${m[1]}_CLIENT_${m[2] === 'ID' ? 'SECRET' : 'ID'}`;
    if (!env[pair]?.trim()) {
      problems.push(`${name} is set without ${pair}`);
      continue;
    }
    clients.set(byEnvKey.get(m[1]!)!, {
      clientId: env[`OAUTH_${m[1]}_CLIENT_ID`]!.trim(),
      clientSecret: env[`OAUTH_${m[1]}_CLIENT_SECRET`]!.trim(),
    });
  }
  if (problems.length > 0) throw new Error(`invalid OAuth client settings: ${problems.join('; ')}`);
  return clients;
}

/**
 * The built-in catalogue, overridden and extended by PROVIDERS_FILE, with client credentials from the
 * environment (`OAUTH_<KEY>_CLIENT_ID` / `OAUTH_<KEY>_CLIENT_SECRET`) taking precedence over the file.
 */
export function loadCatalogue(
  opts: { providersFile?: string | undefined; env?: Record<string, string | undefined> } = {},
): Catalogue {
  const env = opts.env ?? process.env;
  const merged = new Map<string, unknown>(BUILTIN_PROVIDERS.map((p) => [p.key, p]));
  if (opts.providersFile) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(opts.providersFile, 'utf8'));
    } catch (e) {
      throw new Error(
        `PROVIDERS_FILE ${opts.providersFile} cannot be read: ${(e as Error).message}`,
      );
    }
    const file = ZProvidersFile.safeParse(raw);
    if (!file.success)
      throw new Error(
        `PROVIDERS_FILE ${opts.providersFile}: ${JSON.stringify(zodIssues(file.error))}`,
      );
    for (const p of file.data.providers) {
      const key = String(p['key'] ?? '');
      merged.set(key, deepMerge(merged.get(key), p));
    }
  }
  const clients = oauthClientsFromEnv(
    env,
    [...merged]
      .filter(([, v]) => (v as { authKind?: unknown }).authKind === 'oauth2')
      .map(([k]) => k),
  );
  const defs: TProviderDef[] = [];
  for (const [key, value] of merged) {
    const parsed = ZProviderDef.safeParse(value as TProviderDefInput);
    if (!parsed.success)
      throw new Error(`provider ${key} is invalid: ${JSON.stringify(zodIssues(parsed.error))}`);
    const def = parsed.data;
    const client = clients.get(key);
    if (def.oauth && client) Object.assign(def.oauth, client);
    defs.push(def);
  }
  return new Catalogue(defs);
}

/**
 * Substitutes `[subdomain]` in a provider URL. The subdomain comes from stored instance configuration and is
 * validated again here (letters, digits, hyphen), so a crafted value can never send a code or a secret elsewhere.
 */
export function resolveProviderUrl(template: string, subdomain: string | undefined): string {
  if (!template.includes('[subdomain]')) return template;
  if (subdomain === undefined || !ZSubdomain.safeParse(subdomain).success) {
    throw new AppError(
      'PRECONDITION_FAILED',
      'this provider needs a valid instance subdomain configured first',
      {
        reason: 'subdomain_required',
      },
    );
  }
  return template.replaceAll('[subdomain]', subdomain);
}

/** The catalogue as the dashboard may see it: no client ids, no secrets, no internal URLs. */
export function publicProviderView(def: TProviderDef) {
  return {
    key: def.key,
    displayName: def.displayName,
    category: def.category,
    authKind: def.authKind,
    description: def.description,
    flows: def.flows,
    needsSubdomain: Boolean(def.oauth?.subdomain),
    subdomainLabel: def.oauth?.subdomain?.label ?? null,
    revocation: def.oauth ? def.oauth.revocation.kind : 'none',
    supportsReconnect: def.oauth?.supportsReconnect ?? false,
    /** A change of user makes the provider ask which account to use (its `changeUserParams`). */
    changeUserAsksAccount:
      def.oauth?.supportsReconnect === true && Object.keys(def.oauth.changeUserParams).length > 0,
    apiKeyFields: def.apiKey?.fields ?? [],
    apiKeyLabel: def.apiKey?.keyLabel ?? null,
    syncResources: def.dataApi?.resources ?? [],
    /** Signed webhook deliveries can be received (the instance's inbound endpoint checks them). */
    webhooks: def.webhooks !== undefined,
  };
}
export type TPublicProvider = ReturnType<typeof publicProviderView>;

/** Reads a dotted path (`result.0.sys_id`) from a JSON value. */
export function readPath(value: unknown, path: string | undefined): string | null {
  if (!path) return null;
  let cur: unknown = value;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined) return null;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === null || cur === undefined) return null;
  return typeof cur === 'string' || typeof cur === 'number' ? String(cur) : null;
}
