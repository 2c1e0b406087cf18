import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  createOpenApiNodeHttpHandler,
  generateOpenApiDocument,
  type OpenApiMeta,
  type OpenAPIObject,
} from 'trpc-to-openapi';
import { appRouter } from '../routers/app.router';
import { createContextFactory, type TEdgeDeps } from '../trpc/context';
import { edgeResponseMeta } from '../trpc/response-meta';
import { auditExportOpenApi } from './audit-export.route';
import { REST_PREFIX, ZRestError } from './rest-errors';

const ERROR_REF = { $ref: '#/components/schemas/Error' };
type TOperation = { responses?: Record<string, { description: string; [k: string]: unknown }> };

/** Each REST procedure's OpenAPI meta, as the router declares it. */
function restProcedures(): NonNullable<OpenApiMeta['openapi']>[] {
  // `_def.procedures` is flat at run time: every procedure by its dotted path.
  return Object.values(
    appRouter._def.procedures as unknown as Record<string, { _def: { meta?: OpenApiMeta } }>,
  )
    .map((p) => p._def.meta?.openapi)
    .filter(
      (o): o is NonNullable<OpenApiMeta['openapi']> => o !== undefined && o.enabled !== false,
    );
}

/**
 * The OpenAPI document of every `/v1` route: the procedures with `openapi` meta (trpc-to-openapi) and the audit
 * export (a streaming route, described beside it). Each error response is the one body every `/v1` error has
 * (`Error`), with the procedure's own words for when it happens (its meta's `errorResponses`): trpc-to-openapi
 * describes errors without the formatter's `data`, and words each status once for the whole document.
 */
export function openApiDocument(baseUrl: string): OpenAPIObject {
  const doc = generateOpenApiDocument(appRouter, {
    title: 'Otesse Integrations API',
    description:
      "The edge's REST routes: the procedures that carry OpenAPI metadata (seed 003 contract), answered by " +
      'the same code as tRPC, and the audit export. Every error has the `Error` body.',
    version: '1.0.0',
    baseUrl,
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    paths: auditExportOpenApi,
    defs: { Error: ZRestError },
  });
  const own = new Map(
    restProcedures().map((m) => [
      `${m.method.toLowerCase()} ${m.path}`,
      Array.isArray(m.errorResponses) ? {} : (m.errorResponses ?? {}),
    ]),
  );
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(item as Record<string, TOperation>)) {
      const words = own.get(`${method} ${path}`) ?? {};
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (Number(status) < 400) continue;
        operation.responses![status] = {
          description: words[Number(status)] ?? response.description,
          content: { 'application/json': { schema: ERROR_REF } },
          ...headersOf(Number(status)),
        };
      }
    }
  }
  // trpc-to-openapi's own error schemas, no longer referenced.
  for (const key of Object.keys(doc.components?.schemas ?? {}))
    if (key.startsWith('error.')) delete doc.components?.schemas?.[key];
  return doc;
}

function headersOf(status: number): { headers?: Record<string, object> } {
  if (status === 401)
    return { headers: { 'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer' } } } };
  if (status === 429)
    return {
      headers: {
        'Retry-After': {
          description: 'seconds until a retry is let in',
          schema: { type: 'integer', minimum: 1 },
        },
      },
    };
  return {};
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
