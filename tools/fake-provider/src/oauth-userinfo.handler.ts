import { sendJson } from './http.util.js';
import {
  authenticateBearer,
  instanceBaseUrl,
  instanceField,
  type TRequestContext,
} from './request-context.js';

/** GET /oauth/userinfo: OIDC-ish profile of the token's user. */
export function handleUserinfo(ctx: TRequestContext): void {
  const token = authenticateBearer(ctx);
  if (ctx.state.config.userinfoMode === '500') {
    sendJson(ctx.res, 500, { error: 'server_error' });
    return;
  }
  const user = ctx.state.findUser(token.userId);
  sendJson(ctx.res, 200, {
    sub: token.userId,
    email: user?.email ?? null,
    name: user?.name ?? null,
    ...(user?.tenantHidden ? {} : { tenant_id: token.tenantId }),
    ...instanceField(ctx.instance),
  });
}

/** GET /oauth/accessible-resources: Atlassian-style list of sites the token can reach. */
export function handleAccessibleResources(ctx: TRequestContext): void {
  const token = authenticateBearer(ctx);
  const user = ctx.state.findUser(token.userId);
  // Atlassian lists the sites in no set order: the user's other sites come first, so a client that takes the first
  // entry as "the" tenant is caught out.
  const sites = [...new Set([...(user?.sites ?? []), token.tenantId])];
  sendJson(
    ctx.res,
    200,
    sites.map((id) => ({
      id,
      // Named like a real site (`acme` → "Acme"): a client shows the name, never the cloud id.
      name: id.charAt(0).toUpperCase() + id.slice(1),
      url: instanceBaseUrl(ctx),
      scopes: token.scope.split(/\s+/).filter(Boolean),
    })),
  );
}
