import type { IncomingMessage, ServerResponse } from 'node:http';
import { createOpenApiNodeHttpHandler, generateOpenApiDocument } from 'trpc-to-openapi';
import { appRouter } from '../routers/app.router';
import { createContextFactory, type TEdgeDeps } from '../trpc/context';
import { edgeResponseMeta } from '../trpc/response-meta';

export const REST_PREFIX = '/v1';

/** The OpenAPI document of the REST routes (those procedures with `openapi` meta). */
export function openApiDocument(baseUrl: string) {
  return generateOpenApiDocument(appRouter, {
    title: 'Otesse Integrations API',
    description:
      'REST view of the edge procedures that carry OpenAPI metadata (seed 003 contract).',
    version: '1.0.0',
    baseUrl,
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
  });
}

/** `/v1/openapi.json` and every `/v1/...` REST route, answered by the same procedures as tRPC. */
export function createOpenApiRoute(deps: TEdgeDeps) {
  const handler = createOpenApiNodeHttpHandler({
    router: appRouter,
    createContext: createContextFactory(deps) as never,
    maxBodySize: deps.limits.maxBodyBytes,
    responseMeta: edgeResponseMeta,
  });
  const doc = JSON.stringify(openApiDocument(`${deps.publicUrl}${REST_PREFIX}`));
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = req.url ?? '';
    if (!url.startsWith(`${REST_PREFIX}/`)) return false;
    if (url === `${REST_PREFIX}/openapi.json`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(doc);
      return true;
    }
    req.url = url.slice(REST_PREFIX.length);
    await handler(req, res);
    return true;
  };
}
