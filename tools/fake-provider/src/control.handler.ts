import type { z } from 'zod';

import {
  configPatchSchema,
  consentAsBodySchema,
  tokenFilterSchema,
  usersBodySchema,
} from './control.schemas.js';
import type { TTokenFilter, TTokenType } from './fake-provider.types.js';
import { HttpError, parseJsonBody, readBody, sendJson } from './http.util.js';
import type { TRequestContext } from './request-context.js';

async function readValid<S extends z.ZodType>(
  ctx: TRequestContext,
  schema: S,
): Promise<z.output<S>> {
  const result = schema.safeParse(parseJsonBody(await readBody(ctx.req)));
  if (!result.success) {
    throw new HttpError(400, {
      error: 'invalid_request',
      error_description: 'control body failed validation',
      issues: result.error.issues,
    });
  }
  return result.data;
}

/** Drops undefined values so the filter fits exactOptionalPropertyTypes. */
function toFilter(raw: Record<string, string | undefined>): TTokenFilter {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) if (value !== undefined) out[key] = value;
  return out as TTokenFilter;
}

function queryFilter(url: URL): TTokenFilter {
  const keys = ['userId', 'tenantId', 'instance', 'clientId', 'token'] as const;
  return toFilter(Object.fromEntries(keys.map((k) => [k, url.searchParams.get(k) ?? undefined])));
}

const methodNotAllowed = (allow: string): HttpError =>
  new HttpError(405, { error: 'method_not_allowed' }, { allow });

/** Everything under /_control: test-only knobs and recorded state. */
export async function handleControl(ctx: TRequestContext): Promise<void> {
  const { state, res, req, url } = ctx;
  const route = ctx.path.slice('/_control'.length) || '/';
  const method = req.method ?? 'GET';
  const expect = (allowed: 'GET' | 'POST'): void => {
    if (method !== allowed) throw methodNotAllowed(allowed);
  };

  switch (route) {
    case '/reset':
      expect('POST');
      state.reset();
      return sendJson(res, 200, { ok: true });
    case '/state':
      expect('GET');
      return sendJson(res, 200, state.snapshot());
    case '/config': {
      if (method === 'GET') return sendJson(res, 200, state.config);
      expect('POST');
      const patch = await readValid(ctx, configPatchSchema);
      return sendJson(res, 200, state.applyConfig(patch));
    }
    case '/users': {
      if (method === 'GET') return sendJson(res, 200, { users: state.users });
      expect('POST');
      const body = await readValid(ctx, usersBodySchema);
      state.upsertUsers(body.users, body.replace ?? false);
      return sendJson(res, 200, { users: state.users, consentAsUserId: state.consentAsUserId });
    }
    case '/consent-as': {
      expect('POST');
      const { userId } = await readValid(ctx, consentAsBodySchema);
      const user = state.findUser(userId);
      if (!user) throw new HttpError(400, { error: 'unknown_user', error_description: userId });
      state.consentAsUserId = user.id;
      return sendJson(res, 200, { consentAsUserId: user.id });
    }
    case '/expire-refresh-tokens':
    case '/expire-access-tokens': {
      expect('POST');
      const type: TTokenType = route === '/expire-refresh-tokens' ? 'refresh' : 'access';
      const filter = toFilter(await readValid(ctx, tokenFilterSchema));
      return sendJson(res, 200, { expired: state.expireTokens(type, filter) });
    }
    case '/tokens': {
      expect('GET');
      const type = url.searchParams.get('type');
      if (type !== null && type !== 'access' && type !== 'refresh') {
        throw new HttpError(400, {
          error: 'invalid_request',
          error_description: 'type must be access|refresh',
        });
      }
      const matches = state.matchingTokens({ ...queryFilter(url), ...(type ? { type } : {}) });
      const now = Date.now();
      return sendJson(res, 200, { tokens: matches.map((t) => state.viewToken(t, now)) });
    }
    case '/token-status': {
      expect('GET');
      const token = url.searchParams.get('token');
      if (!token)
        throw new HttpError(400, {
          error: 'invalid_request',
          error_description: 'token is required',
        });
      return sendJson(res, 200, state.tokenStatus(token));
    }
    default:
      throw new HttpError(404, {
        error: 'not_found',
        error_description: `no control route ${route}`,
      });
  }
}
