import { EntitySchema } from '@mikro-orm/core';

export const SAGA_STATUSES = [
  'running',
  'compensating',
  'completed',
  'compensated',
  'failed',
] as const;
export type TSagaStatus = (typeof SAGA_STATUSES)[number];
export const OPEN_SAGA_STATUSES: readonly TSagaStatus[] = ['running', 'compensating'];

export const STEP_KINDS = ['compensatable', 'pivot', 'retriable'] as const;
export type TStepKind = (typeof STEP_KINDS)[number];

export const STEP_STATUSES = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'compensating',
  'compensated',
  'skipped',
] as const;
export type TStepStatus = (typeof STEP_STATUSES)[number];

/** The durable saga log: one row per saga run. */
export interface Saga {
  id: string;
  type: string;
  /** The business id the saga acts on (a connection id); one open saga per (type, subjectKey). */
  subjectKey: string;
  status: TSagaStatus;
  currentStep: string | null;
  owner: string | null;
  leaseExpiresAt: Date | null;
  definitionVersion: number;
  orgId: string;
  actorUserId: string;
  input: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  /** How many times the saga was resumed after it stopped (`failed`) past its pivot. */
  resumedCount: number;
  /** When the services were told to forget its commands' idempotency records (it had ended long enough). */
  recordsReleasedAt: Date | null;
  /**
   * Whose connection it acts on, once known: the input's `ownerUserId` (reconnect, change-user), else the first step
   * result that names `target.ownerUserId` (a disconnect's lock). With the actor, who takes part in it: the
   * operations list of a member reads both by index instead of looking into every saga of the org.
   */
  ownerUserId: string | null;
}

/** One row per step of a saga, recorded as started before its command is sent. */
export interface SagaStep {
  id: string;
  sagaId: string;
  seq: number;
  name: string;
  kind: TStepKind;
  status: TStepStatus;
  attempts: number;
  /** `sagaId:step`: what the receiving service dedupes on. */
  idempotencyKey: string;
  /** true once an attempt may have had an effect (success or an ambiguous timeout): only then is it compensated. */
  effectPossible: boolean;
  result: Record<string, unknown> | null;
  error: Record<string, unknown> | null;
  startedAt: Date | null;
  completedAt: Date | null;
  compensatedAt: Date | null;
}

export const SagaSchema = new EntitySchema<Saga>({
  name: 'Saga',
  tableName: 'saga',
  indexes: [
    {
      name: 'saga_one_open_per_subject',
      expression: `create unique index "saga_one_open_per_subject" on "saga" ("type", "subject_key") where "status" in ('running', 'compensating')`,
    },
    {
      name: 'saga_recoverable_idx',
      expression: `create index "saga_recoverable_idx" on "saga" ("lease_expires_at") where "status" in ('running', 'compensating')`,
    },
    { name: 'saga_subject_idx', properties: ['type', 'subjectKey'] },
    // The org's operations, newest first (operations.list pages on created_at, id).
    { name: 'saga_org_created_idx', properties: ['orgId', 'createdAt', 'id'] },
    // A member's operations: those they started and those on their connections, each newest first.
    { name: 'saga_org_actor_idx', properties: ['orgId', 'actorUserId', 'createdAt', 'id'] },
    { name: 'saga_org_owner_idx', properties: ['orgId', 'ownerUserId', 'createdAt', 'id'] },
    // Stopped sagas are few and looked for often (the operators' gauge on every scrape).
    {
      name: 'saga_stopped_idx',
      expression: `create index "saga_stopped_idx" on "saga" ("type") where "status" = 'failed'`,
    },
    // Ended sagas whose commands' idempotency records the services still keep (releaseIdempotencyRecords).
    {
      name: 'saga_records_unreleased_idx',
      expression: `create index "saga_records_unreleased_idx" on "saga" ("completed_at") where "records_released_at" is null and "status" in ('completed', 'compensated')`,
    },
    // Ended sagas whose records were released, by age: the history a retention deletes (purgeSagaHistory).
    {
      name: 'saga_history_idx',
      expression: `create index "saga_history_idx" on "saga" ("completed_at") where "records_released_at" is not null`,
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    type: { type: 'string', length: 64 },
    subjectKey: { type: 'string', length: 200 },
    status: { type: 'string', length: 16, enum: true, items: () => [...SAGA_STATUSES] },
    currentStep: { type: 'string', length: 64, nullable: true },
    owner: { type: 'string', length: 100, nullable: true },
    leaseExpiresAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    definitionVersion: { type: 'integer' },
    orgId: { type: 'uuid' },
    actorUserId: { type: 'uuid' },
    input: { type: 'json' },
    result: { type: 'json', nullable: true },
    error: { type: 'json', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    completedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    resumedCount: { type: 'integer', default: 0 },
    recordsReleasedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    ownerUserId: { type: 'uuid', nullable: true },
  },
});

export const SagaStepSchema = new EntitySchema<SagaStep>({
  name: 'SagaStep',
  tableName: 'saga_step',
  uniques: [{ name: 'saga_step_saga_name_unique', properties: ['sagaId', 'name'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    sagaId: { type: 'uuid' },
    seq: { type: 'integer' },
    name: { type: 'string', length: 64 },
    kind: { type: 'string', length: 16, enum: true, items: () => [...STEP_KINDS] },
    status: { type: 'string', length: 16, enum: true, items: () => [...STEP_STATUSES] },
    attempts: { type: 'integer' },
    idempotencyKey: { type: 'string', length: 200 },
    effectPossible: { type: 'boolean' },
    result: { type: 'json', nullable: true },
    error: { type: 'json', nullable: true },
    startedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    completedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    compensatedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});

export const sagaEntities = [SagaSchema, SagaStepSchema];
