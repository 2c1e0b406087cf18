import type { Catalogue, TProviderDef } from '@otesse/providers';

export interface TGrantConfig {
  config: Record<string, unknown>;
  /** The name grant knows a catalogue provider by (its routes are `/connect/<name>`). */
  nameOf(vendor: string): string;
}

/**
 * grant's provider table from the catalogue: state + PKCE on, tokens handed back in-process (never in a URL). Each
 * provider is entered under its `grantKey` when it has one: grant turns on a provider's quirks by that name
 * (`intuit` copies the callback's `realmId` into the token response, where QuickBooks' identity is read). A
 * grantKey another provider already holds falls back to the catalogue key (one entry per client).
 */
export function buildGrantConfig(catalogue: Catalogue, publicUrl: string): TGrantConfig {
  const config: Record<string, unknown> = {
    defaults: {
      origin: publicUrl,
      prefix: '/connect',
      transport: 'state',
      state: true,
      pkce: true,
      // No profile fetch by grant: the edge reads identity itself, per catalogue entry.
      response: ['tokens', 'raw'],
    },
  };
  const names = new Map<string, string>();
  const oauthProviders = catalogue.list().filter((p) => p.oauth);
  const catalogueKeys = new Set(oauthProviders.map((p) => p.key));
  for (const p of oauthProviders) {
    const o = p.oauth!;
    const wanted = o.grantKey;
    const name =
      wanted && !(wanted in config) && (wanted === p.key || !catalogueKeys.has(wanted))
        ? wanted
        : p.key;
    names.set(p.key, name);
    config[name] = {
      oauth: 2,
      authorize_url: o.authorizeUrl,
      access_url: o.tokenUrl,
      key: o.clientId ?? '',
      secret: o.clientSecret ?? '',
      scope: o.scopes,
      scope_delimiter: o.scopeDelimiter,
      custom_params: o.customParams,
      pkce: o.pkce,
      state: true,
      // The callback stays under the catalogue key whatever grant calls the provider.
      redirect_uri: `${publicUrl}/connect/${p.key}/callback`,
      ...(o.tokenClientAuth === 'basic'
        ? { token_endpoint_auth_method: 'client_secret_basic' }
        : {}),
    };
  }
  return { config, nameOf: (vendor) => names.get(vendor) ?? vendor };
}

/**
 * grant's `custom_params` for a change of user, where the provider has parameters that make it ask which account to
 * use; undefined otherwise (the catalogue's own). A per-request `custom_params` replaces the configured object
 * (grant merges a request's overrides one level deep), so it is given whole: `customParams` with these over them.
 */
export function changeUserCustomParams(provider: TProviderDef): Record<string, string> | undefined {
  const o = provider.oauth;
  if (!o || Object.keys(o.changeUserParams).length === 0) return undefined;
  return { ...o.customParams, ...o.changeUserParams };
}
