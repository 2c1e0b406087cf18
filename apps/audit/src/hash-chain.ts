import { createHash } from 'node:crypto';
import type { TAuditEvent } from '@otesse/contracts';

/** Canonical JSON: keys sorted at every level, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  // (An undefined array element renders as nothing, as Array#join does: JSON never holds one anyway.)
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const o = value as Record<string, unknown>;
  // Plain loops (no entries/filter/map chains): this runs for every entry appended and verified.
  const keys = Object.keys(o).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = o[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

export interface TChainContent {
  orgId: string;
  seq: number;
  eventId: string;
  actorUserId: string | null;
  onBehalfOfUserId: string | null;
  action: string;
  provider: string | null;
  targets: Record<string, unknown>;
  outcome: string;
  details: Record<string, unknown>;
  occurredAt: string;
  ip: string | null;
  traceId: string | null;
}

/** The content's keys in canonical (sorted) order, each with its `"key":` prefix rendered once. */
const CONTENT_KEYS = (
  [
    'orgId',
    'seq',
    'eventId',
    'actorUserId',
    'onBehalfOfUserId',
    'action',
    'provider',
    'targets',
    'outcome',
    'details',
    'occurredAt',
    'ip',
    'traceId',
  ] as const satisfies readonly (keyof TChainContent)[]
)
  .slice()
  .sort()
  .map((k) => ({ key: k, prefix: `${JSON.stringify(k)}:` }));

/** canonicalJson(content) without sorting the top-level keys for every entry (the hot path of every append). */
export function canonicalContent(content: TChainContent): string {
  let out = '{';
  for (const { key, prefix } of CONTENT_KEYS) {
    const v = content[key];
    if (v === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${prefix}${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** Each link commits to its own content and to the previous link: editing any row breaks every later hash check. */
export function linkHash(content: TChainContent, prevHash: string | null): string {
  return createHash('sha256')
    .update(prevHash ?? '')
    .update('\n')
    .update(canonicalContent(content))
    .digest('hex');
}

/** What an event contributes to its link at position `seq` (timestamps normalised to ISO UTC, ms). */
export function chainContentOf(e: TAuditEvent, seq: number): TChainContent {
  return {
    orgId: e.orgId,
    seq,
    eventId: e.eventId,
    actorUserId: e.actorUserId,
    onBehalfOfUserId: e.onBehalfOfUserId,
    action: e.action,
    provider: e.provider,
    targets: e.targets,
    outcome: e.outcome,
    details: e.details,
    occurredAt: new Date(e.occurredAt).toISOString(),
    ip: e.ip,
    traceId: e.traceId,
  };
}

/** A stored `audit.audit_entry` row as Postgres returns it (bigint as string, jsonb parsed). */
export interface TAuditEntryRow {
  id: string;
  seq: string | number;
  org_id: string;
  event_id: string;
  actor_user_id: string | null;
  on_behalf_of_user_id: string | null;
  action: string;
  provider: string | null;
  targets: Record<string, unknown>;
  outcome: string;
  details: Record<string, unknown>;
  occurred_at: Date | string;
  recorded_at: Date | string;
  ip: string | null;
  trace_id: string | null;
  hash: string;
  prev_hash: string | null;
}

/** The canonical content of a stored row: exactly what was hashed when it was appended. */
export function chainContentOfRow(r: TAuditEntryRow): TChainContent {
  return {
    orgId: r.org_id,
    seq: Number(r.seq),
    eventId: r.event_id,
    actorUserId: r.actor_user_id,
    onBehalfOfUserId: r.on_behalf_of_user_id,
    action: r.action,
    provider: r.provider,
    targets: r.targets,
    outcome: r.outcome,
    details: r.details,
    occurredAt: new Date(r.occurred_at).toISOString(),
    ip: r.ip,
    traceId: r.trace_id,
  };
}
