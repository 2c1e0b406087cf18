import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { z } from 'zod';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { appRouter } from '../routers/app.router';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { rawHttp } from './raw-http';

interface TDocResponse {
  description: string;
  content?: Record<string, { schema: unknown }>;
  headers?: Record<string, unknown>;
}
interface TDoc {
  paths: Record<string, Record<string, { responses: Record<string, TDocResponse> }>>;
  components: { schemas: Record<string, unknown> };
}

/**
 * The `/v1` REST API as a client generated from `/v1/openapi.json` sees it: every route is in the document, and
 * every error a route answers is one the document lists for it, with the one body it documents (`Error`).
 */
describe('REST API and its OpenAPI document (whole stack as processes)', () => {
  let h: THarness;
  let doc: TDoc;
  let errorSchema: z.ZodType;

  beforeAll(async () => {
    h = await startHarness();
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
    doc = (await (await fetch(`${h.stack.edgeUrl}/v1/openapi.json`)).json()) as TDoc;
    errorSchema = z.fromJSONSchema(doc.components.schemas['Error'] as never);
  });
  afterAll(async () => {
    await h?.close();
  });

  const rest = async (path: string, opts: { token?: string | null; method?: string } = {}) => {
    const token = opts.token === undefined ? h.admin.token : opts.token;
    const res = await rawHttp(`${h.stack.edgeUrl}/v1${path}`, {
      method: opts.method ?? 'GET',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.status, headers: res.headers, json: JSON.parse(res.body) as unknown };
  };

  /** The answer is an error the document lists for the operation, and its body is the documented `Error`. */
  const documentedError = (
    docPath: string,
    res: { status: number; json: unknown },
  ): { code: string; message: string; data: { reason: string | null; httpStatus: number } } => {
    const listed = doc.paths[docPath]?.['get']?.responses[String(res.status)];
    expect(listed, `${docPath} ${res.status} ${JSON.stringify(res.json)}`).toBeDefined();
    expect(listed?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    const parsed = errorSchema.safeParse(res.json);
    expect(parsed.error?.issues ?? [], JSON.stringify(res.json)).toEqual([]);
    const body = res.json as {
      code: string;
      message: string;
      data: { reason: string | null; httpStatus: number };
    };
    expect(body.data.httpStatus).toBe(res.status);
    return body;
  };

  it('describes every /v1 route (each procedure with OpenAPI meta, and the audit export) in a valid document', async () => {
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    const procedures = Object.values(
      appRouter._def.procedures as unknown as Record<string, { _def: { meta?: OpenApiMeta } }>,
    )
      .map((p) => p._def.meta?.openapi?.path)
      .filter((p): p is `/${string}` => p !== undefined);
    expect(Object.keys(doc.paths).sort()).toEqual([...procedures, '/audit/export'].sort());
    // Every error response has the one body; trpc-to-openapi's own error schemas (no `data`) are gone.
    for (const [path, item] of Object.entries(doc.paths))
      for (const operation of Object.values(item))
        for (const [status, response] of Object.entries(operation.responses))
          if (Number(status) >= 400)
            expect(response.content?.['application/json']?.schema, `${path} ${status}`).toEqual({
              $ref: '#/components/schemas/Error',
            });
    expect(Object.keys(doc.components.schemas)).toEqual(['Error']);
    const oauthUrl = doc.paths['/account/integrations/{vendor}/oauth2/url']!['get']!.responses;
    expect(Object.keys(oauthUrl)).toEqual(expect.arrayContaining(['409', '412', '429', '503']));
    expect(oauthUrl['409']!.description).toContain('already_connected');
    expect(oauthUrl['429']!.headers).toHaveProperty('Retry-After');
    expect(Object.keys(doc.paths['/audit/export']!['get']!.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '405', '503', '504']),
    );
    // A path that is not a route is not served.
    expect((await rest('/nope')).status).toBe(404);
  });

  it('accepts includeUserLevelConnectionData as true/false and 1/0, and documents both', async () => {
    const withDetails = async (flag: string) => {
      const res = await rest(`/account/integrations?includeUserLevelConnectionData=${flag}`);
      expect(res.status, flag).toBe(200);
      return (res.json as Record<string, unknown>[]).every((i) => 'connectionDetails' in i);
    };
    expect(await withDetails('true')).toBe(true);
    expect(await withDetails('1')).toBe(true);
    expect(await withDetails('false')).toBe(false);
    expect(await withDetails('0')).toBe(false);
    const bad = await rest('/account/integrations?includeUserLevelConnectionData=yes');
    expect(documentedError('/account/integrations', bad)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(JSON.stringify(doc.paths['/account/integrations']!['get'])).toContain('"1"');
  });

  it("answers each procedure's documented errors: 401, 400, 403, 409, 412", async () => {
    const list = '/account/integrations';
    const url = '/account/integrations/{vendor}/oauth2/url';
    const none = await rest(list, { token: null });
    expect(documentedError(list, none)).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(documentedError(list, await rest(`${list}?type=nonsense`))).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Input validation failed',
    });
    expect(
      documentedError(url, await rest('/account/integrations/postmark/oauth2/url')),
    ).toMatchObject({ code: 'BAD_REQUEST' });
    expect(
      documentedError(
        url,
        await rest('/account/integrations/confluence/oauth2/url?flow=app', {
          token: h.member.token,
        }),
      ),
    ).toMatchObject({ code: 'FORBIDDEN' });
    expect(
      documentedError(url, await rest('/account/integrations/zendesk/oauth2/url')),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', data: { reason: 'subdomain_required' } });
    expect((await connectOAuth(h, h.admin, 'servicenow', 'app')).outcome).toBe('connected');
    expect(
      documentedError(url, await rest('/account/integrations/servicenow/oauth2/url')),
    ).toMatchObject({ code: 'CONFLICT', data: { reason: 'already_connected' } });
    expect(
      documentedError(
        url,
        await rest('/account/integrations/servicenow/oauth2/url?action=reconnect'),
      ),
    ).toMatchObject({ code: 'CONFLICT', data: { reason: 'reconnect_not_needed' } });
  });

  it("answers the audit export's documented errors in the same shape: 401, 403, 400, 405", async () => {
    const path = '/audit/export';
    expect(documentedError(path, await rest(path, { token: null }))).toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(documentedError(path, await rest(path, { token: h.member.token }))).toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(documentedError(path, await rest(`${path}?format=xml`))).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Input validation failed',
    });
    expect(documentedError(path, await rest(path, { method: 'POST' }))).toMatchObject({
      code: 'METHOD_NOT_SUPPORTED',
    });
  });

  it('answers 503 while the service a route needs is away, as documented, and recovers', async () => {
    await h.stack.kill('connection', 'SIGTERM');
    await h.stack.kill('audit', 'SIGTERM');
    try {
      const list = await rest('/account/integrations');
      expect(documentedError('/account/integrations', list)).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        data: { reason: 'no_responders' },
      });
      const exported = await rest('/audit/export');
      expect(documentedError('/audit/export', exported)).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        data: { reason: 'no_responders' },
      });
    } finally {
      await h.stack.start('connection');
      await h.stack.start('audit');
    }
    expect((await rest('/account/integrations')).status).toBe(200);
  });
});
