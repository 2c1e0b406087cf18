import { AppError, ZSiteId, type TInstanceConfig } from '@otesse/contracts';
import {
  ProviderHttpError,
  providerFetch,
  readPath,
  resolveProviderUrl,
  type TProviderDef,
  type TProviderResponse,
} from '@otesse/providers';

export interface TExternalIdentity {
  externalAccountId: string;
  /** The tenant a new connection records: the provider's answer, or the first site the token reaches (Atlassian). */
  tenantId: string | null;
  /**
   * Every tenant the token reaches. One, except Atlassian's accessible-resources, which lists each site the user
   * may use in no set order: a reconnect or changeUser matches the connection's site among them.
   */
  tenantIds: string[];
  accountLabel: string | null;
  /** Atlassian: each site the token reaches, as accessible-resources lists it (empty for everyone else). */
  sites: TProviderSite[];
}

/** A site of a provider whose token reaches several (Atlassian's accessible-resources). */
export interface TProviderSite {
  id: string;
  name: string;
  url: string | null;
}

async function getJson(url: string, accessToken: string): Promise<unknown> {
  let res: TProviderResponse;
  try {
    // The host may be an admin-chosen subdomain: a redirect is refused, the body capped (providerFetch).
    res = await providerFetch(url, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(5_000),
    });
  } catch (e) {
    if (e instanceof ProviderHttpError) {
      throw new AppError(
        'PROVIDER_ERROR',
        `the provider's identity endpoint answered ${e.status}, a redirect, which is not followed`,
        { reason: 'identity_failed' },
      );
    }
    throw new AppError('PROVIDER_ERROR', `the provider's identity endpoint is unreachable`, {
      reason: 'identity_unreachable',
      cause: e,
    });
  }
  if (!res.ok) {
    await res.discard();
    throw new AppError(
      'PROVIDER_ERROR',
      `the provider's identity endpoint answered ${res.status}`,
      { reason: 'identity_failed' },
    );
  }
  try {
    return await res.json();
  } catch (e) {
    if (e instanceof ProviderHttpError) {
      throw new AppError(
        'PROVIDER_ERROR',
        `the provider's identity endpoint answered a body over the size limit`,
        { reason: 'identity_failed' },
      );
    }
    throw e;
  }
}

/**
 * Who authorized and in which tenant, read as the catalogue entry says. Reconnect and changeUser compare these,
 * so they must come from the provider, never from the request.
 */
export async function readIdentity(
  provider: TProviderDef,
  tokens: { accessToken: string; raw: Record<string, unknown> },
  instanceConfig: TInstanceConfig,
): Promise<TExternalIdentity> {
  const o = provider.oauth;
  if (!o) throw new AppError('BAD_REQUEST', `${provider.key} is not an OAuth provider`);
  const id = o.identity;
  let account: string | null = null;
  let tenant: string | null = null;
  let sites: TProviderSite[] | undefined;
  let label: string | null = null;
  if (id.kind === 'token-response') {
    account = readPath(tokens.raw, id.accountIdPath);
    tenant = readPath(tokens.raw, id.tenantIdPath);
    label = readPath(tokens.raw, id.labelPath);
  } else if (id.kind === 'userinfo') {
    const body = await getJson(
      resolveProviderUrl(id.url, instanceConfig.subdomain),
      tokens.accessToken,
    );
    account = readPath(body, id.accountIdPath);
    tenant = readPath(body, id.tenantIdPath);
    label = readPath(body, id.labelPath);
  } else {
    const [profile, resources] = await Promise.all([
      getJson(resolveProviderUrl(id.profileUrl, instanceConfig.subdomain), tokens.accessToken),
      getJson(resolveProviderUrl(id.resourcesUrl, instanceConfig.subdomain), tokens.accessToken),
    ]);
    account = readPath(profile, id.accountIdPath);
    label = readPath(profile, id.labelPath);
    sites = Array.isArray(resources)
      ? resources.flatMap((r: unknown): TProviderSite[] => {
          const siteId = readPath(r, 'id');
          // An id that could not be stored as the instance's site is no site to choose.
          if (!siteId || !ZSiteId.safeParse(siteId).success) return [];
          const url = readPath(r, 'url');
          return [{ id: siteId, name: (readPath(r, 'name') ?? url ?? siteId).slice(0, 200), url }];
        })
      : [];
    tenant = sites[0]?.id ?? null;
  }
  if (o.tenantSource === 'subdomain' && o.subdomain) {
    tenant = resolveProviderUrl(o.subdomain.hostTemplate, instanceConfig.subdomain);
  }
  if (!account) {
    throw new AppError('PROVIDER_ERROR', 'the provider did not say which account authorized', {
      reason: 'identity_missing',
    });
  }
  const tenantIds =
    o.tenantSource === 'subdomain' || !sites ? (tenant ? [tenant] : []) : sites.map((x) => x.id);
  return {
    externalAccountId: account,
    tenantId: tenant,
    tenantIds,
    // A label is for display: a provider's longer one is cut to what a connection records, not refused.
    accountLabel: label ? label.slice(0, 200) : null,
    sites: sites ?? [],
  };
}
