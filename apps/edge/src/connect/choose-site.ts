import type { TExternalIdentity, TProviderSite } from '../oauth/read-identity';

/** Why a new connection could not be placed on a site: the dashboard explains either and offers the choice. */
export type TSiteRefusal = 'site_choice_required' | 'site_not_reachable';

export type TSiteChoice =
  | { ok: true; tenantId: string | null; siteName: string | null }
  | { ok: false; reason: TSiteRefusal; sites: TProviderSite[] };

/**
 * The site a new connection records. Every connection of an instance is on one site: the one an admin chose
 * (`instance.config.site`), else the one its connections are on (the newest, revoked ones too: the references
 * and jobs they left belong to that site). A token that does not reach it is refused (`site_not_reachable`), not
 * put on another site. An instance with no site yet takes the user's only site; a user who reaches several is
 * asked which, through an admin's choice (`site_choice_required`), never given whichever the provider lists first;
 * one who reaches none has nothing to connect. Providers without sites (`hasSites` false) keep the identity's
 * tenant.
 */
export function chooseSite(
  identity: Pick<TExternalIdentity, 'tenantId' | 'sites'>,
  instance: { hasSites: boolean; chosen: string | undefined },
  connections: readonly { tenantId: string | null }[],
): TSiteChoice {
  if (!instance.hasSites) return { ok: true, tenantId: identity.tenantId, siteName: null };
  const { chosen } = instance;
  const required = chosen ?? connections.filter((c) => c.tenantId !== null).at(-1)?.tenantId;
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
