import type { TSagaDefinition } from '@otesse/saga';
import type { TEdgeDeps } from '../trpc/context';
import {
  disconnectSaga,
  DISCONNECT_SAGA_VERSION,
  type TDisconnectSagaVersion,
} from './disconnect.saga';
import { reconnectSaga, RECONNECT_SAGA_VERSION, type TReconnectAction } from './reconnect.saga';
import { unlinkTenantSaga } from './unlink-tenant.saga';

const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * Every saga definition the edge runs: each type's current version and every older one, since a saga started before
 * an upgrade finishes on the definition it started with (and one left unregistered would never finish).
 */
export function sagaDefinitions(
  deps: Pick<TEdgeDeps, 'bus' | 'events' | 'logger' | 'catalogue'>,
): TSagaDefinition<Record<string, unknown>>[] {
  const reconnects = (
    ['reconnect', 'changeUser'] as const satisfies readonly TReconnectAction[]
  ).flatMap((action) =>
    upTo(RECONNECT_SAGA_VERSION[action]).map((v) => reconnectSaga(deps, action, v)),
  );
  return [
    ...upTo(DISCONNECT_SAGA_VERSION).map((v) => disconnectSaga(deps, v as TDisconnectSagaVersion)),
    ...reconnects,
    unlinkTenantSaga(deps),
  ] as TSagaDefinition<Record<string, unknown>>[];
}
