import type { z } from 'zod';
import { auditContracts, auditEventContracts } from './audit.contract';
import { connectionContracts } from './connection.contract';
import { integrationEventContracts } from './events.contract';
import { syncSchedulerContracts } from './sync-scheduler.contract';
import { vaultContracts } from './vault.contract';

/** Every request/reply subject, `<service>.<resource>.<verb>`. */
export const requestContracts = {
  ...vaultContracts,
  ...connectionContracts,
  ...syncSchedulerContracts,
  ...auditContracts,
} as const;

/** Every JetStream subject. */
export const eventContracts = {
  ...integrationEventContracts,
  ...auditEventContracts,
} as const;

export type TRequestContracts = typeof requestContracts;
export type TRequestSubject = keyof TRequestContracts;
export type TEventContracts = typeof eventContracts;
export type TEventSubject = keyof TEventContracts;

/** What a caller passes (defaults not yet applied). */
export type TRequestInput<S extends TRequestSubject> = z.input<TRequestContracts[S]['request']>;
/** What a handler receives (parsed, defaults applied). */
export type TRequestOf<S extends TRequestSubject> = z.output<TRequestContracts[S]['request']>;
export type TReplyInput<S extends TRequestSubject> = z.input<TRequestContracts[S]['reply']>;
export type TReplyOf<S extends TRequestSubject> = z.output<TRequestContracts[S]['reply']>;
export type TEventInput<S extends TEventSubject> = z.input<TEventContracts[S]['payload']>;
export type TEventOf<S extends TEventSubject> = z.output<TEventContracts[S]['payload']>;

/** Subjects served by one service: its subject prefix. */
export type TSubjectsOf<P extends string> = Extract<TRequestSubject, `${P}.${string}`>;

export const SERVICE_PREFIXES = {
  'credential-vault': 'vault',
  connection: 'connection',
  'sync-scheduler': 'sync-scheduler',
  audit: 'audit',
} as const;
