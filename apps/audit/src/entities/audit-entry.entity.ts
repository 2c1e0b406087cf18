import { EntitySchema } from '@mikro-orm/core';

export interface AuditEntry {
  id: string;
  /** Position in the org's hash chain, from 1. */
  seq: number;
  orgId: string;
  /** Producer's event id: the dedupe key (unique). */
  eventId: string;
  actorUserId: string | null;
  onBehalfOfUserId: string | null;
  action: string;
  provider: string | null;
  targets: Record<string, string>;
  outcome: string;
  details: Record<string, unknown>;
  occurredAt: Date;
  recordedAt: Date;
  ip: string | null;
  traceId: string | null;
  /** sha256 of the canonical content plus prevHash. */
  hash: string;
  prevHash: string | null;
}

export const AuditEntrySchema = new EntitySchema<AuditEntry>({
  name: 'AuditEntry',
  tableName: 'audit_entry',
  // One per list filter, each ending in seq so a filtered page is a backward index range scan (a rare actor or
  // provider never means walking the org's whole log); occurred_at (with seq, for index-only scans) for time
  // ranges far from the newest entries.
  indexes: [
    { name: 'audit_entry_org_action_idx', properties: ['orgId', 'action', 'seq'] },
    { name: 'audit_entry_org_actor_idx', properties: ['orgId', 'actorUserId', 'seq'] },
    { name: 'audit_entry_org_provider_idx', properties: ['orgId', 'provider', 'seq'] },
    {
      name: 'audit_entry_org_occurred_idx',
      expression:
        'create index "audit_entry_org_occurred_idx" on "audit"."audit_entry" ("org_id", "occurred_at") include ("seq")',
    },
  ],
  uniques: [
    { name: 'audit_entry_event_id_unique', properties: ['eventId'] },
    { name: 'audit_entry_org_seq_unique', properties: ['orgId', 'seq'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    seq: { type: 'bigint', mapToPk: false, runtimeType: 'number' } as never,
    orgId: { type: 'uuid' },
    eventId: { type: 'uuid' },
    actorUserId: { type: 'uuid', nullable: true },
    onBehalfOfUserId: { type: 'uuid', nullable: true },
    action: { type: 'string', length: 64 },
    provider: { type: 'string', length: 40, nullable: true },
    targets: { type: 'json' },
    outcome: { type: 'string', length: 16 },
    details: { type: 'json' },
    occurredAt: { type: 'datetime', columnType: 'timestamptz' },
    recordedAt: { type: 'datetime', columnType: 'timestamptz' },
    ip: { type: 'string', length: 64, nullable: true },
    traceId: { type: 'string', length: 64, nullable: true },
    hash: { type: 'string', length: 64 },
    prevHash: { type: 'string', length: 64, nullable: true },
  },
});
