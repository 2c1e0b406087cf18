import type { MikroORM } from '@mikro-orm/postgresql';
import type { NatsConnection } from 'nats';
import type { Logger } from '@otesse/logging';
import type { Bus } from '@otesse/messaging';
import type { SyncEngine } from '../engine/sync-engine';

/** What the scheduler's handlers reach: its database, NATS (cancel signals, connection checks) and its engine. */
export interface TSchedulerDeps {
  orm: MikroORM;
  nc: NatsConnection;
  bus: Bus;
  engine: SyncEngine;
  logger: Logger;
}
