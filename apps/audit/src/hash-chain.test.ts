import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ZAuditEvent } from '@otesse/contracts';
import {
  canonicalContent,
  canonicalJson,
  chainContentOf,
  chainContentOfRow,
  linkHash,
} from './hash-chain';

/** The first implementation, kept as the reference: stored hashes depend on this exact output. */
function referenceCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceCanonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const GOLDEN = 'cde4843bc1f33a49619adfcdb702c53aa4c76c770cfd4db53a040e14c685415d';

describe('hash chain', () => {
  it('hashes the same content the same whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}',
    );
  });

  it('renders exactly what the first implementation did (stored hashes stay verifiable)', () => {
    const samples: unknown[] = [
      { z: 'ü\u2028"quote"\n', a: [1.5, -0, 1e21, true, null, [], {}], B: { b: { a: 'x' } } },
      { é: 1, e: 2, E: 3, '10': 4, '9': 5, skip: undefined },
      [{ b: 2, a: 1 }, 'x', 3],
      'plain',
      42,
      null,
    ];
    for (const v of samples) expect(canonicalJson(v)).toBe(referenceCanonicalJson(v));
    const content = chainContentOf(
      ZAuditEvent.parse({
        eventId: randomUUID(),
        orgId: randomUUID(),
        actorUserId: randomUUID(),
        action: 'connection.disconnected',
        outcome: 'partial',
        details: { warnings: ['x'], b: { z: 1, a: 2 } },
        occurredAt: '2026-03-01T10:00:00.123Z',
        ip: '::1',
      }),
      9,
    );
    expect(canonicalContent(content)).toBe(referenceCanonicalJson(content));
    // Frozen: a change here makes every stored chain fail verification.
    expect(
      linkHash(
        {
          orgId: '00000000-0000-4000-8000-000000000001',
          seq: 1,
          eventId: '00000000-0000-4000-8000-000000000002',
          actorUserId: null,
          onBehalfOfUserId: null,
          action: 'connection.connected',
          provider: 'servicenow',
          targets: {},
          outcome: 'success',
          details: { n: 1 },
          occurredAt: '2026-01-01T00:00:00.000Z',
          ip: null,
          traceId: null,
        },
        null,
      ),
    ).toBe(GOLDEN);
  });

  it('recomputes a stored row to the hash it was appended with (timestamps as Postgres returns them)', () => {
    const event = ZAuditEvent.parse({
      eventId: randomUUID(),
      orgId: randomUUID(),
      actorUserId: null,
      action: 'connection.connected',
      outcome: 'success',
      targets: { connectionId: randomUUID() },
      details: { z: 1, a: ['x'] },
      occurredAt: '2026-03-01T10:00:00.123+02:00',
    });
    const content = chainContentOf(event, 3);
    const hash = linkHash(content, 'f'.repeat(64));
    const row = {
      id: randomUUID(),
      seq: '3',
      org_id: event.orgId,
      event_id: event.eventId,
      actor_user_id: null,
      on_behalf_of_user_id: null,
      action: event.action,
      provider: null,
      targets: { ...event.targets },
      outcome: 'success',
      details: { a: ['x'], z: 1 },
      occurred_at: '2026-03-01 08:00:00.123+00',
      recorded_at: new Date(),
      ip: null,
      trace_id: null,
      hash,
      prev_hash: 'f'.repeat(64),
    };
    expect(linkHash(chainContentOfRow(row), row.prev_hash)).toBe(hash);
    expect(linkHash(chainContentOfRow({ ...row, outcome: 'failure' }), row.prev_hash)).not.toBe(
      hash,
    );
    // The link commits to its predecessor too.
    expect(linkHash(content, 'e'.repeat(64))).not.toBe(hash);
  });
});
