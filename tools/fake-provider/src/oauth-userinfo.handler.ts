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
  const user = ctx.state.findUser(token.userId);
  sendJson(ctx.res, 200, {
    sub: token.userId,
    email: user?.email ?? null,
    name: user?.name ?? null,
    tenant_id: token.tenantId,
    ...instanceField(ctx.instance),
  });
}

/** GET /oauth/accessible-resources: Atlassian-style list of sites the token can reach. */
export function handleAccessibleResources(ctx: TRequestContext): void {
  const token = authenticateBearer(ctx);
  sendJson(ctx.res, 200, [
    {
      id: token.tenantId,
      name: token.tenantId,
      url: instanceBaseUrl(ctx),
      scopes: token.scope.split(/\s+/).filter(Boolean),
    },
  ]);
}
