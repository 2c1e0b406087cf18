import type { Catalogue } from '@otesse/providers';

/** grant's provider table from the catalogue: state + PKCE on, tokens handed back in-process (never in a URL). */
export function buildGrantConfig(catalogue: Catalogue, publicUrl: string): Record<string, unknown> {
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
  for (const p of catalogue.list()) {
    const o = p.oauth;
    if (!o) continue;
    config[p.key] = {
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
      redirect_uri: `${publicUrl}/connect/${p.key}/callback`,
      ...(o.tokenClientAuth === 'basic'
        ? { token_endpoint_auth_method: 'client_secret_basic' }
        : {}),
    };
  }
  return config;
}
