import type { THandler } from '@otesse/messaging';
import type { SyncEngine } from '../engine/sync-engine';

export function engineStatsHandler(engine: SyncEngine): THandler<'sync-scheduler.engine.stats'> {
  return async () => engine.stats();
}
