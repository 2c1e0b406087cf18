import { deterministicUuid, type TSagaDefinition, type TSagaError } from '@otesse/saga';
import type { TEdgeDeps } from '../trpc/context';
import { publishAudit } from '../audit/publish-audit';
import { auditOperationResumed, auditOperationStopped } from './operation-audit';
import { sagaRequestOptions } from './saga-request-options';

/**
 * Unlinking an instance from its tenant (the provider organization it is pinned to), for an admin who connected the
 * wrong one: the instance is held (no connect meanwhile), its synced records and references are erased (the pivot:
 * they are that tenant's, and another tenant's record ids would overwrite them), the pin is cleared, then audited and
 * announced. Only an instance with no live connection: its connections are disconnected first (seed 000), so no
 * credential, job or execution is in play, and the history (revoked connections, jobs, mappings, audit) is kept.
 */
export interface TUnlinkTenantInput extends Record<string, unknown> {
  instanceId: string;
  vendor: string;
  /** The pin the admin confirmed (typed in the dialog): the hold refuses another (a stale dialog). */
  expectedTenantId: string;
  ip: string | null;
  traceId: string;
}

export const UNLINK_TENANT_SAGA = 'unlink-tenant';
export const UNLINK_TENANT_SAGA_VERSION = 1;

/** One open unlink per instance, in its org's key space (apart from the connections' disconnect subjects). */
export const unlinkTenantSubject = (orgId: string, instanceId: string): string =>
  `${orgId}:unlink:${instanceId}`;

/** Bound for the erase: a million records and references are deleted in one transaction. */
export const ERASE_TIMEOUT_MS = 60_000;

interface TResults {
  hold?: { endedConnections: number };
  'erase-data'?: { recordsErased: number; referencesErased: number };
  'unpin-tenant'?: { previousTenantId: string; unlinkedAt: string };
}

/** What a finished (or stopped) unlink did, from its steps' results. */
export function unlinkSummary(input: TUnlinkTenantInput, results: Record<string, unknown>) {
  const r = results as TResults;
  return {
    previousTenantId: r['unpin-tenant']?.previousTenantId ?? input.expectedTenantId,
    recordsErased: r['erase-data']?.recordsErased ?? 0,
    referencesErased: r['erase-data']?.referencesErased ?? 0,
    endedConnectionsKept: r.hold?.endedConnections ?? 0,
  };
}

/** The erase answered that it did nothing and never will under this key (a sync still ran: nothing erased). */
const eraseRefused = (err: TSagaError): boolean =>
  err.code === 'CONFLICT' && err.reason === 'sync_running';

type TDeps = Pick<TEdgeDeps, 'bus' | 'events' | 'logger'>;

export function unlinkTenantSaga(deps: TDeps): TSagaDefinition<TUnlinkTenantInput> {
  return {
    type: UNLINK_TENANT_SAGA,
    version: UNLINK_TENANT_SAGA_VERSION,
    steps: [
      {
        name: 'hold',
        kind: 'compensatable',
        timeoutMs: 3_000,
        maxAttempts: 3,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          const held = await deps.bus.request(
            'connection.instances.hold-for-unlink',
            {
              orgId,
              instanceId: input.instanceId,
              sagaId,
              idempotencyKey,
              expectedTenantId: input.expectedTenantId,
            },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 3_000),
          );
          // What the saga reads later, not the whole instance (the log, and the view its caller gets, keep it).
          return { endedConnections: held.endedConnections };
        },
        compensate: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          await deps.bus.request(
            'connection.instances.cancel-unlink',
            { orgId, instanceId: input.instanceId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey),
          );
        },
      },
      {
        name: 'erase-data',
        kind: 'pivot',
        timeoutMs: ERASE_TIMEOUT_MS + 5_000,
        maxAttempts: 3,
        provesNoEffect: eraseRefused,
        run: async ({ input, orgId, actorUserId, idempotencyKey }) =>
          deps.bus.request(
            'sync-scheduler.instances.erase-data',
            { orgId, instanceId: input.instanceId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, ERASE_TIMEOUT_MS),
          ),
      },
      {
        name: 'unpin-tenant',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          const r = await deps.bus.request(
            'connection.instances.unpin-tenant',
            { orgId, instanceId: input.instanceId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 5_000),
          );
          return { previousTenantId: r.previousTenantId, unlinkedAt: r.unlinkedAt };
        },
      },
      {
        name: 'audit',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, results }) => {
          const eventId = deterministicUuid(`${sagaId}:audit`);
          await publishAudit(deps, {
            eventId,
            orgId,
            actorUserId,
            onBehalfOfUserId: null,
            action: 'instance.tenant_unlinked',
            provider: input.vendor,
            targets: { instanceId: input.instanceId, sagaId },
            outcome: 'success',
            details: unlinkSummary(input, results),
            ip: input.ip,
            traceId: input.traceId,
          });
          return { eventId };
        },
      },
      {
        name: 'publish-event',
        kind: 'retriable',
        concurrent: true,
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, results }) => {
          const s = unlinkSummary(input, results);
          const eventId = deterministicUuid(`${sagaId}:unlinked`);
          await deps.events.publish(
            'integrations.instance.unlinked',
            {
              eventId,
              // When the pin was cleared (the database's clock): the same on every re-publish.
              occurredAt:
                (results as TResults)['unpin-tenant']?.unlinkedAt ?? new Date().toISOString(),
              orgId,
              vendor: input.vendor,
              instanceId: input.instanceId,
              sagaId,
              actorUserId,
              previousTenantId: s.previousTenantId,
              recordsErased: s.recordsErased,
              referencesErased: s.referencesErased,
            },
            { msgId: eventId, ctx: { traceId: input.traceId, orgId } },
          );
          return { eventId };
        },
      },
    ],
    onResumed: auditOperationResumed(deps, UNLINK_TENANT_SAGA),
    onFailed: async ({ input, orgId, actorUserId, sagaId, results, error, resumedCount }) => {
      const s = unlinkSummary(input, results);
      await auditOperationStopped(deps, {
        sagaId,
        type: UNLINK_TENANT_SAGA,
        orgId,
        actorUserId,
        target: {
          connectionId: null,
          instanceId: input.instanceId,
          vendor: input.vendor,
          ownerUserId: null,
          level: null,
        },
        error,
        resumedCount,
        // Past the pivot the data is gone: the log says so before anything else.
        done: {
          dataErased: results['erase-data'] !== undefined,
          recordsErased: s.recordsErased,
          referencesErased: s.referencesErased,
          unpinned: results['unpin-tenant'] !== undefined,
        },
        ip: input.ip,
        traceId: input.traceId,
      });
    },
    onCompensated: async ({ input, orgId, actorUserId, sagaId, error }) => {
      // Another org's instance (or none): nothing of this org was touched, nothing to tell its log.
      if (error.step === 'hold' && error.code === 'NOT_FOUND') return;
      await publishAudit(deps, {
        eventId: deterministicUuid(`${sagaId}:unlink_failed`),
        orgId,
        actorUserId,
        onBehalfOfUserId: null,
        action: 'instance.unlink_failed',
        provider: input.vendor,
        targets: { instanceId: input.instanceId, sagaId },
        outcome: 'failure',
        details: {
          tenantId: input.expectedTenantId,
          failedStep: error.step,
          error: error.code,
          reason: error.reason ?? 'none',
          compensated: true,
        },
        ip: input.ip,
        traceId: input.traceId,
      });
    },
  };
}
