import type { TExternalIdentity, TProviderSite } from '../oauth/read-identity';

/**
 * Why a new connection could not be placed: the dashboard explains each. The site reasons offer an admin's choice;
 * `tenant_mismatch` is an account of another provider organization than the one the instance is pinned to.
 */
export type TSiteRefusal = 'site_choice_required' | 'site_not_reachable' | 'tenant_mismatch';

export type TSiteChoice =
  | { ok: true; tenantId: string | null; siteName: string | null }
  | { ok: false; reason: TSiteRefusal; sites: TProviderSite[] };

/**
 * The tenant (site) a new connection records. An instance pinned to a tenant (`instance.tenantId`: the provider
 * organization its synced data comes from) takes only that one: for a provider with sites, a token must reach it
 * (`site_not_reachable`); for any other, the identity's tenant must be it (`tenant_mismatch`, an account with no
 * tenant too, since it cannot be shown to be of it). An instance not pinned yet: the site an admin chose
 * (`instance.config.site`), else the one its connections are on (the newest, revoked ones too: the references and
 * jobs they left belong to that site). An instance with no site yet takes the user's only site; a user who reaches
 * several is asked which, through an admin's choice (`site_choice_required`), never given whichever the provider
 * lists first; one who reaches none has nothing to connect. Providers without sites keep the identity's tenant.
 */
export function chooseSite(
  identity: Pick<TExternalIdentity, 'tenantId' | 'sites'>,
  instance: { hasSites: boolean; chosen: string | undefined; tenantId?: string | null | undefined },
  connections: readonly { tenantId: string | null }[],
): TSiteChoice {
  const pinned = instance.tenantId ?? undefined;
  if (!instance.hasSites) {
    if (pinned !== undefined && identity.tenantId !== pinned) {
      return { ok: false, reason: 'tenant_mismatch', sites: [] };
    }
    return { ok: true, tenantId: identity.tenantId, siteName: null };
  }
  const required =
    pinned ?? instance.chosen ?? connections.filter((c) => c.tenantId !== null).at(-1)?.tenantId;
  if (required) {
    const site = identity.sites.find((s) => s.id === required);
    return site
      ? { ok: true, tenantId: site.id, siteName: site.name }
      : { ok: false, reason: 'site_not_reachable', sites: identity.sites };
  }
  const [only, ...more] = identity.sites;
  if (!only) return { ok: false, reason: 'site_not_reachable', sites: [] };
  if (more.length === 0) return { ok: true, tenantId: only.id, siteName: only.name };
  return { ok: false, reason: 'site_choice_required', sites: identity.sites };
}
