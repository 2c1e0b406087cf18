import type { TSagaSummary, TSagaView } from '@otesse/saga';
import { DISCONNECT_SAGA, disconnectTarget } from './disconnect.saga';

/** What an operation (a saga) acts on, as far as it is known: a disconnect learns it in its lock step. */
export interface TOperationTarget {
  connectionId: string | null;
  instanceId: string | null;
  vendor: string | null;
  ownerUserId: string | null;
  /** A disconnect's: a user-level connection's owner may act on it like whoever started the operation. */
  level: 'app' | 'user' | null;
}

/** The target of any of the edge's sagas, from its input (reconnect, change-user, disconnect v1) or first step. */
export function operationTarget(
  saga: Pick<TSagaSummary, 'type' | 'input'> & { firstStepResult: unknown },
): TOperationTarget {
  const input = saga.input;
  const connectionId = typeof input['connectionId'] === 'string' ? input['connectionId'] : null;
  if (saga.type === DISCONNECT_SAGA) {
    const t = disconnectTarget(input, {
      lock: (saga.firstStepResult as Record<string, unknown> | null) ?? undefined,
    });
    return {
      connectionId,
      instanceId: t?.instanceId ?? null,
      vendor: t?.vendor ?? null,
      ownerUserId: t?.ownerUserId ?? null,
      level: t?.level ?? null,
    };
  }
  const str = (k: string) => (typeof input[k] === 'string' ? (input[k] as string) : null);
  return {
    connectionId,
    instanceId: str('instanceId'),
    vendor: str('vendor'),
    ownerUserId: str('ownerUserId'),
    level: null,
  };
}

/** The same from a full view (its steps in order: the first one's result). */
export const operationTargetOfView = (v: TSagaView): TOperationTarget =>
  operationTarget({ type: v.type, input: v.input, firstStepResult: v.steps[0]?.result ?? null });
