import type { TRevocationReport } from '@otesse/contracts';
import { deterministicUuid, type TSagaDefinition } from '@otesse/saga';
import type { TEdgeDeps } from '../trpc/context';
import { publishAudit } from '../audit/publish-audit';
import { sagaRequestOptions } from './saga-request-options';

export interface TDisconnectInput extends Record<string, unknown> {
  connectionId: string;
  instanceId: string;
  vendor: string;
  ownerUserId: string;
  level: 'app' | 'user';
  subdomain: string | null;
  ip: string | null;
  traceId: string;
}

export const DISCONNECT_SAGA = 'disconnect';

/** Bound for one revocation call at the provider; a hang past it is a warning, not a failure. */
export const REVOCATION_TIMEOUT_MS = 3_000;

interface TResults {
  lock?: Record<string, unknown>;
  'disable-sync-jobs'?: { jobsDisabled: number; executionsCancelled: number };
  'revoke-tokens'?: TRevocationReport;
  'destroy-credentials'?: { destroyed: number };
  'update-statuses'?: {
    instanceRevoked: boolean;
    webhooksDisabled: number;
    healthChecksStopped: boolean;
  };
  'mark-references-stale'?: { marked: number };
}

/** The audit/event summary of a finished disconnect, from its steps' results. */
export function disconnectSummary(results: Record<string, unknown>) {
  const r = results as TResults;
  const revocation = r['revoke-tokens'];
  return {
    revocationSupported: revocation?.supported ?? false,
    revocationSucceeded: revocation?.succeeded ?? false,
    revocation:
      revocation?.results.map((x) => ({
        kind: x.kind,
        outcome: x.outcome,
        httpStatus: x.httpStatus,
      })) ?? [],
    warnings: revocation?.warnings ?? [],
    syncJobsDisabled: r['disable-sync-jobs']?.jobsDisabled ?? 0,
    executionsCancelled: r['disable-sync-jobs']?.executionsCancelled ?? 0,
    credentialsDeleted: r['destroy-credentials']?.destroyed ?? 0,
    instanceRevoked: r['update-statuses']?.instanceRevoked ?? false,
    webhooksDisabled: r['update-statuses']?.webhooksDisabled ?? 0,
    healthChecksStopped: r['update-statuses']?.healthChecksStopped ?? false,
    referencesMarkedStale: r['mark-references-stale']?.marked ?? 0,
  };
}

/**
 * Seed 000's disconnection flow as a saga, in the seed's order. Steps 1–2 are compensatable (lock, disable
 * jobs), step 3 (revocation) is the pivot, steps 4–8 only move forward. Every command carries `sagaId:step`.
 * After the pivot, independent steps run as one stage: destroy ∥ statuses, then mark stale (its scope depends on
 * the statuses), then audit ∥ event.
 */
export function disconnectSaga(
  deps: Pick<TEdgeDeps, 'bus' | 'events' | 'logger'>,
): TSagaDefinition<TDisconnectInput> {
  return {
    type: DISCONNECT_SAGA,
    version: 1,
    result: disconnectSummary,
    steps: [
      {
        name: 'lock',
        kind: 'compensatable',
        timeoutMs: 3_000,
        maxAttempts: 3,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          const { connection } = await deps.bus.request(
            'connection.connections.begin-disconnect',
            { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 3_000),
          );
          return { status: connection.status };
        },
        compensate: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          await deps.bus.request(
            'connection.connections.cancel-disconnect',
            { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey),
          );
        },
      },
      {
        name: 'disable-sync-jobs',
        kind: 'compensatable',
        timeoutMs: 5_000,
        maxAttempts: 3,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) =>
          deps.bus.request(
            'sync-scheduler.jobs.disable-for-connection',
            { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 5_000),
          ),
        compensate: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          await deps.bus.request(
            'sync-scheduler.jobs.reenable-for-saga',
            { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey),
          );
        },
      },
      {
        name: 'revoke-tokens',
        kind: 'pivot',
        // Two provider calls, each bounded, plus the vault's own work.
        timeoutMs: 2 * REVOCATION_TIMEOUT_MS + 3_000,
        maxAttempts: 3,
        run: async ({ input, orgId, actorUserId, idempotencyKey }) =>
          deps.bus.request(
            'vault.tokens.revoke',
            {
              orgId,
              connectionId: input.connectionId,
              vendor: input.vendor,
              ...(input.subdomain ? { subdomain: input.subdomain } : {}),
              idempotencyKey,
              timeoutMs: REVOCATION_TIMEOUT_MS,
            },
            sagaRequestOptions(
              input,
              actorUserId,
              orgId,
              idempotencyKey,
              2 * REVOCATION_TIMEOUT_MS + 2_000,
            ),
          ),
      },
      {
        name: 'destroy-credentials',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, idempotencyKey }) =>
          deps.bus.request(
            'vault.credentials.destroy',
            { orgId, connectionId: input.connectionId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 5_000),
          ),
      },
      {
        name: 'update-statuses',
        kind: 'retriable',
        // Independent of step 4 (other service, other rows); both only move forward after the pivot.
        concurrent: true,
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          const r = await deps.bus.request(
            'connection.connections.complete-disconnect',
            { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 5_000),
          );
          return {
            instanceRevoked: r.instanceRevoked,
            webhooksDisabled: r.webhooksDisabled,
            healthChecksStopped: r.healthChecksStopped,
            instanceStatus: r.instance.status,
          };
        },
      },
      {
        name: 'mark-references-stale',
        kind: 'retriable',
        timeoutMs: 30_000,
        run: async ({ input, orgId, actorUserId, results, idempotencyKey }) =>
          deps.bus.request(
            'sync-scheduler.references.mark-stale',
            {
              orgId,
              instanceId: input.instanceId,
              connectionId: input.connectionId,
              // The instance's references when it is revoked; only this connection's while others keep it connected.
              scope: (results as TResults)['update-statuses']?.instanceRevoked
                ? 'instance'
                : 'connection',
              idempotencyKey,
            },
            sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 30_000),
          ),
      },
      {
        name: 'audit',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, results }) => {
          const summary = disconnectSummary(results);
          const eventId = deterministicUuid(`${sagaId}:audit`);
          await publishAudit(deps, {
            eventId,
            orgId,
            actorUserId,
            onBehalfOfUserId: input.ownerUserId === actorUserId ? null : input.ownerUserId,
            action: 'connection.disconnected',
            provider: input.vendor,
            targets: { instanceId: input.instanceId, connectionId: input.connectionId, sagaId },
            outcome:
              summary.revocationSupported && !summary.revocationSucceeded ? 'partial' : 'success',
            details: { ...summary, level: input.level },
            ip: input.ip,
            traceId: input.traceId,
          });
          return { eventId };
        },
      },
      {
        name: 'publish-event',
        kind: 'retriable',
        // Built from the same results as the audit entry; neither waits for the other.
        concurrent: true,
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, results }) => {
          const s = disconnectSummary(results);
          const eventId = deterministicUuid(`${sagaId}:disconnected`);
          await deps.events.publish(
            'integrations.connection.disconnected',
            {
              eventId,
              occurredAt: new Date().toISOString(),
              orgId,
              vendor: input.vendor,
              instanceId: input.instanceId,
              connectionId: input.connectionId,
              sagaId,
              actorUserId,
              ownerUserId: input.ownerUserId,
              instanceRevoked: s.instanceRevoked,
              revocationSucceeded: s.revocationSucceeded,
              syncJobsDisabled: s.syncJobsDisabled,
              executionsCancelled: s.executionsCancelled,
              credentialsDeleted: s.credentialsDeleted,
              referencesMarkedStale: s.referencesMarkedStale,
            },
            { msgId: eventId, ctx: { traceId: input.traceId, orgId } },
          );
          return { eventId };
        },
      },
    ],
    onCompensated: async ({ input, orgId, actorUserId, sagaId, error }) => {
      await publishAudit(deps, {
        eventId: deterministicUuid(`${sagaId}:disconnect_failed`),
        orgId,
        actorUserId,
        onBehalfOfUserId: input.ownerUserId === actorUserId ? null : input.ownerUserId,
        action: 'connection.disconnect_failed',
        provider: input.vendor,
        targets: { instanceId: input.instanceId, connectionId: input.connectionId, sagaId },
        outcome: 'failure',
        details: {
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
