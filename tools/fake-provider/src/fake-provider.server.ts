import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { handleControl } from './control.handler.js';
import { handleDataList, handleHealth } from './data-api.handler.js';
import { DEFAULT_HOST, DEFAULT_PORT } from './fake-provider.defaults.js';
import { FakeProviderState } from './fake-provider.state.js';
import { HttpError, sendJson } from './http.util.js';
import { handleAuthorize } from './oauth-authorize.handler.js';
import { handleRevoke } from './oauth-revoke.handler.js';
import { handleToken } from './oauth-token.handler.js';
import { handleAccessibleResources, handleUserinfo } from './oauth-userinfo.handler.js';
import { instanceBaseUrl, type TRequestContext } from './request-context.js';
import { ServerRuntime, ShutdownError } from './server-runtime.js';

export interface TStartFakeProviderOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface TFakeProvider {
  /** e.g. http://127.0.0.1:4010 (no trailing slash). */
  url: string;
  port: number;
  /** Live in-memory state; mutate directly in in-process tests or use the control API. */
  state: FakeProviderState;
  close(): Promise<void>;
}

const INSTANCE_PREFIX = /^\/i\/([^/]+)(\/.*)?$/;
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

type TRoute = { method: 'GET' | 'POST'; run: (ctx: TRequestContext) => void | Promise<void> };

function resolveRoute(path: string): TRoute | undefined {
  switch (path) {
    case '/oauth/authorize':
      return { method: 'GET', run: handleAuthorize };
    case '/oauth/token':
      return { method: 'POST', run: handleToken };
    case '/oauth/revoke':
      return { method: 'POST', run: handleRevoke };
    case '/oauth/userinfo':
      return { method: 'GET', run: handleUserinfo };
    case '/oauth/accessible-resources':
      return { method: 'GET', run: handleAccessibleResources };
    case '/api/health':
      return { method: 'GET', run: handleHealth };
    case '/.well-known/oauth-authorization-server':
      return { method: 'GET', run: handleMetadata };
  }
  const data = /^\/api\/([^/]+)$/.exec(path);
  if (data?.[1]) {
    const resource = data[1];
    return { method: 'GET', run: (ctx) => handleDataList(ctx, resource) };
  }
  return undefined;
}

/** RFC 8414 metadata so clients that discover endpoints work too. */
function handleMetadata(ctx: TRequestContext): void {
  const base = instanceBaseUrl(ctx);
  sendJson(ctx.res, 200, {
    issuer: base,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    revocation_endpoint: `${base}/oauth/revoke`,
    userinfo_endpoint: `${base}/oauth/userinfo`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  });
}

async function dispatch(ctx: TRequestContext): Promise<void> {
  if (ctx.path === '/_control' || ctx.path.startsWith('/_control/')) {
    // Control is global, never per instance.
    if (ctx.instance !== undefined) throw new HttpError(404, { error: 'not_found' });
    return handleControl(ctx);
  }
  if (ctx.path === '/' && ctx.instance === undefined) {
    return sendJson(ctx.res, 200, { name: 'fake-provider', ok: true });
  }
  const route = resolveRoute(ctx.path);
  if (!route) throw new HttpError(404, { error: 'not_found', error_description: ctx.path });
  const method = ctx.req.method === 'HEAD' ? 'GET' : ctx.req.method;
  if (method !== route.method) {
    throw new HttpError(405, { error: 'method_not_allowed' }, { allow: route.method });
  }
  await route.run(ctx);
}

function formatUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

export async function startFakeProvider(
  opts: TStartFakeProviderOptions = {},
): Promise<TFakeProvider> {
  const host = opts.host ?? DEFAULT_HOST;
  const state = new FakeProviderState();
  const runtime = new ServerRuntime();
  const sockets = new Set<Socket>();

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://fake-provider.invalid');
    let path = url.pathname;
    let instance: string | undefined;
    const prefixed = INSTANCE_PREFIX.exec(path);
    if (prefixed?.[1] !== undefined) {
      let name: string;
      try {
        name = decodeURIComponent(prefixed[1]);
      } catch {
        name = '';
      }
      if (!INSTANCE_NAME.test(name)) {
        return sendJson(res, 404, { error: 'not_found', error_description: 'bad instance name' });
      }
      instance = name;
      path = prefixed[2] ?? '/';
    }
    const ctx: TRequestContext = { req, res, url, path, instance, state, runtime };
    dispatch(ctx).catch((err: unknown) => {
      if (err instanceof ShutdownError || runtime.isClosing) return;
      if (err instanceof HttpError) return sendJson(res, err.status, err.body, err.headers);
      sendJson(res, 500, { error: 'server_error', error_description: String(err) });
    });
  };

  const server = createServer(onRequest);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A destroyed socket (revokeMode "down") must not surface as a server error.
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  runtime.baseUrl = formatUrl(host, port);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      runtime.shutdown();
      server.close(() => resolve());
      // Hanging requests and keep-alive sockets would otherwise keep close() waiting forever.
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };

  return { url: runtime.baseUrl, port, state, close };
}
