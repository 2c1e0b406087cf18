import { MAX_NAMED_CONNECTIONS, type TConnection } from '@otesse/contracts';
import type { TEdgeDeps } from '../../trpc/context';
import {
  connectionOfDisconnectSubject,
  DISCONNECT_SAGA,
  disconnectSubject,
} from '../../sagas/disconnect.saga';
import { RECONNECT_SAGA } from '../../sagas/reconnect.saga';
import { operationView, type TOperationView } from '../operations-router/operation-view';

/** The operations a connection's card follows. */
export const OPERATION_TYPES = [
  DISCONNECT_SAGA,
  RECONNECT_SAGA.reconnect,
  RECONNECT_SAGA.changeUser,
];

export type TOpenSubjects = Awaited<ReturnType<TEdgeDeps['sagas']['openSubjects']>>;

/**
 * The connections the open or stopped operations act on (a disconnect's subject is `orgId:connectionId`), at most
 * `MAX_NAMED_CONNECTIONS` of them: what one request to the connection service can carry.
 */
export function connectionIdsOf(open: TOpenSubjects, orgId: string): string[] {
  const ids = new Set<string>();
  for (const [type, subjects] of open)
    for (const subject of subjects) {
      const id = type === DISCONNECT_SAGA ? connectionOfDisconnectSubject(orgId, subject) : subject;
      if (id !== undefined) ids.add(id);
    }
  return [...ids].slice(0, MAX_NAMED_CONNECTIONS);
}

/**
 * Per connection, its newest saga (disconnect, reconnect or change-user) when that one is still running or stopped
 * past its pivot. The saga log is asked only about the subjects that have an open or stopped saga at all (`open`:
 * any other's newest saga has ended): indexed statements whose cost follows what is unfinished, not how many
 * connections the org ever had.
 */
export async function unfinishedOperations(
  sagas: TEdgeDeps['sagas'],
  open: TOpenSubjects,
  orgId: string,
  connections: readonly TConnection[],
): Promise<Map<string, TConnectionOperation>> {
  const keys = connections
    .flatMap((c) => [
      { type: DISCONNECT_SAGA, subjectKey: disconnectSubject(orgId, c.id) },
      { type: RECONNECT_SAGA.reconnect, subjectKey: c.id },
      { type: RECONNECT_SAGA.changeUser, subjectKey: c.id },
    ])
    .filter((k) => open.get(k.type)?.has(k.subjectKey) === true);
  const rows = await sagas.unfinished(orgId, keys);
  const byConnection = new Map<string, TConnectionOperation>();
  // Newest first: a connection with two (a stopped change-user, then a disconnect) shows the newer one.
  for (const r of [...rows].sort((a, b) => b.createdAt.localeCompare(a.createdAt))) {
    const op = operationView(r);
    if (!op.connectionId || byConnection.has(op.connectionId)) continue;
    byConnection.set(op.connectionId, {
      sagaId: op.id,
      type: op.type,
      status: op.status,
      needsResume: op.needsResume,
      currentStep: op.currentStep,
      error: op.error,
      actorUserId: op.actorUserId,
      timesResumed: op.timesResumed,
    });
  }
  return byConnection;
}

/** What a connection's card says about a saga on it. */
export interface TConnectionOperation {
  sagaId: string;
  type: string;
  status: TOperationView['status'];
  needsResume: boolean;
  currentStep: string | null;
  error: TOperationView['error'];
  actorUserId: string;
  timesResumed: number;
}
