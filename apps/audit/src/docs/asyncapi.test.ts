import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { eventContracts } from '@otesse/contracts';
import { buildAsyncApi } from './asyncapi';
import { ASYNCAPI_PATH, renderAsyncApi } from './render-asyncapi';

describe('docs/asyncapi.yaml', () => {
  it('is what libs/contracts generates (run apps/audit/src/docs/generate-asyncapi.ts after a contract change)', async () => {
    expect(readFileSync(ASYNCAPI_PATH, 'utf8')).toBe(await renderAsyncApi());
  });

  it('is valid YAML that reads back as the generated document', async () => {
    expect(parse(await renderAsyncApi())).toEqual(JSON.parse(JSON.stringify(buildAsyncApi())));
  });

  it("tells consumers what a webhook delivery's retry shares: not its eventId, which is fresh per delivery", () => {
    const doc = buildAsyncApi() as unknown as {
      channels: Record<string, { address: string; description: string }>;
    };
    const webhook = Object.values(doc.channels).find(
      (c) => c.address === 'integrations.webhook.received',
    );
    expect(webhook?.description).toContain(
      'dedupe by instanceId with deliveryId (else bodySha256)',
    );
    // Published once per signed delivery: a copy (a replay, under any delivery id) is not published again.
    expect(webhook?.description).toContain('EDGE_WEBHOOK_DEDUPE_RETENTION_MS');
    expect(webhook?.description).not.toContain('dedupe by eventId');
    expect(webhook?.description).not.toContain('after the change is committed');
  });

  it('documents every JetStream subject with its stream and payload, and the audit request subjects', async () => {
    const doc = parse(await renderAsyncApi()) as {
      channels: Record<string, { address: string | null; 'x-jetstream'?: { stream: string } }>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    const byAddress = new Map(Object.values(doc.channels).map((c) => [c.address, c]));
    for (const [subject, c] of Object.entries(eventContracts)) {
      expect(byAddress.get(subject)?.['x-jetstream']?.stream).toBe(c.stream);
    }
    expect(byAddress.has('audit.entries.list')).toBe(true);
    expect(byAddress.has('audit.chain.verify')).toBe(true);
    expect(Object.keys(doc.components.schemas['AuditEntriesAppend']?.properties ?? {})).toEqual(
      expect.arrayContaining(['eventId', 'orgId', 'actorUserId', 'onBehalfOfUserId', 'details']),
    );
  });

  it('leaves event payloads open, so a subscriber validating strictly still takes an event that gained a field', async () => {
    const doc = parse(await renderAsyncApi()) as {
      components: { schemas: Record<string, unknown> };
    };
    const closed = (v: unknown): boolean =>
      Array.isArray(v)
        ? v.some(closed)
        : v !== null &&
          typeof v === 'object' &&
          Object.entries(v).some(
            ([k, x]) => (k === 'additionalProperties' && x === false) || closed(x),
          );
    for (const subject of Object.keys(eventContracts)) {
      const name = subject
        .split(/[._-]/)
        .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
        .join('');
      const schema = doc.components.schemas[name];
      expect(schema, subject).toBeDefined();
      expect(closed(schema), subject).toBe(false);
    }
  });
});
