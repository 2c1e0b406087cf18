import { AppError, type TRevocationReport } from '@otesse/contracts';
import { deterministicUuid, type TSagaDefinition, type TSagaError } from '@otesse/saga';
import type { TEdgeDeps } from '../trpc/context';
import { publishAudit } from '../audit/publish-audit';
import { grantHoldersOfAccount } from '../connect/grant-in-use';
import { auditOperationResumed, auditOperationStopped } from './operation-audit';
import { sagaRequestOptions } from './saga-request-options';

/** What a disconnect acts on, learned by the lock step (version 2) or looked up before the saga (version 1). */
export interface TDisconnectTarget {
  instanceId: string;
  vendor: string;
  ownerUserId: string;
  level: 'app' | 'user';
  subdomain: string | null;
  /** The connection's external account (version 3 since session 17; absent in older sagas' results). */
  externalAccountId?: string | null;
}

/** Version 2: nothing looked up before the saga; the lock step authorizes the caller and answers the target. */
export interface TDisconnectInput extends Record<string, unknown> {
  connectionId: string;
  /** The caller holds settings.edit: may disconnect anyone's connection of the org (the lock step checks). */
  mayManageOthers: boolean;
  ip: string | null;
  traceId: string;
}

/** Version 1 (sagas started before version 2, finished on their own definition): the edge looked the target up. */
export type TDisconnectInputV1 = Omit<TDisconnectInput, 'mayManageOthers'> & TDisconnectTarget;

export const DISCONNECT_SAGA = 'disconnect';
/** The definition new disconnects start on; older versions stay registered for sagas still in flight. */
export const DISCONNECT_SAGA_VERSION = 3;
export type TDisconnectSagaVersion = 1 | 2 | 3;

/** One open disconnect per connection, in its org's own key space: another org's attempt never meets it. */
export const disconnectSubject = (orgId: string, connectionId: string): string =>
  `${orgId}:${connectionId}`;

/** The connection a disconnect's subject names (`disconnectSubject` read back); undefined for another org's. */
export function connectionOfDisconnectSubject(orgId: string, subject: string): string | undefined {
  const prefix = `${orgId}:`;
  return subject.startsWith(prefix) ? subject.slice(prefix.length) : undefined;
}

/** The target from the saga's input (version 1) or its lock step's result (version 2); absent before the lock. */
export function disconnectTarget(
  input: Record<string, unknown>,
  results: Record<string, unknown>,
): TDisconnectTarget | undefined {
  if (typeof input['vendor'] === 'string') {
    const v1 = input as TDisconnectInputV1;
    return {
      instanceId: v1.instanceId,
      vendor: v1.vendor,
      ownerUserId: v1.ownerUserId,
      level: v1.level,
      subdomain: v1.subdomain,
    };
  }
  return (results['lock'] as { target?: TDisconnectTarget } | undefined)?.target;
}

function requireTarget(
  input: Record<string, unknown>,
  results: Record<string, unknown>,
): TDisconnectTarget {
  const t = disconnectTarget(input, results);
  // Every step after the lock has its result: a missing target is a bug, not a retryable failure.
  if (!t) throw new Error('disconnect: no target before the lock step succeeded');
  return t;
}

const GRANT_IN_USE_WARNING =
  "tokens not revoked at the provider: it revokes the user's whole grant, which another live connection of this account uses";

/**
 * Whether revoking this connection's tokens would end a grant another live (connected or pending) connection still
 * uses: a provider whose revocation ends the user's whole grant to our client (catalogue `revocationScope: 'grant'`,
 * Google), and another connection of the same account, in any org (one OAuth client per vendor: one grant).
 *
 * The lock's reply answers it (`accountGrantInUse`; the connection service serializes one account's locks, so two
 * disconnects at once never both skip). That answer is as of the lock, moments ago when the lock ran in this same
 * pass and this is the step's first attempt; otherwise (a retry, a saga resumed or recovered after a stop, a lock
 * that answered before the field existed) a connection of the account may have appeared since, so it is asked again.
 */
async function grantUsedElsewhere(
  deps: Pick<TEdgeDeps, 'bus' | 'catalogue'>,
  orgId: string,
  connectionId: string,
  target: TDisconnectTarget,
  lock: { answer: boolean | undefined; fresh: boolean },
  ctx: { traceId: string; actorUserId: string; orgId: string },
): Promise<boolean> {
  if (!deps.catalogue.revokesWholeGrant(target.vendor) || !target.externalAccountId) return false;
  if (lock.fresh && lock.answer !== undefined) return lock.answer;
  const holders = await grantHoldersOfAccount(
    deps,
    {
      orgId,
      vendor: target.vendor,
      externalAccountId: target.externalAccountId,
      exceptConnectionId: connectionId,
    },
    ctx,
  );
  return holders.connected + holders.pending > 0;
}

/** Bound for one revocation call at the provider; a hang past it is a warning, not a failure. */
export const REVOCATION_TIMEOUT_MS = 3_000;

interface TResults {
  lock?: {
    status: string;
    target?: TDisconnectTarget;
    instanceRevoking?: boolean;
    /** Since session 18: another live connection of the account holds its grant (absent in older results). */
    accountGrantInUse?: boolean;
  };
  'disable-sync-jobs'?: { jobsDisabled: number; executionsCancelled: number };
  'revoke-tokens'?: TRevocationReport & { revocationSkipped?: 'account_has_other_connection' };
  'destroy-credentials'?: { destroyed: number };
  'update-statuses'?: {
    instanceRevoked: boolean;
    webhooksDisabled: number;
    healthChecksStopped: boolean;
    /** Since session 19 (absent in older results). */
    revokedAt?: string | null;
  };
  'mark-references-stale'?: { marked: number };
  'mark-instance-references-stale'?: { marked: number };
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
    /** Not revoked on purpose: the provider would have ended a grant another live connection still uses. */
    revocationSkipped: revocation?.revocationSkipped ?? null,
    syncJobsDisabled: r['disable-sync-jobs']?.jobsDisabled ?? 0,
    executionsCancelled: r['disable-sync-jobs']?.executionsCancelled ?? 0,
    credentialsDeleted: r['destroy-credentials']?.destroyed ?? 0,
    instanceRevoked: r['update-statuses']?.instanceRevoked ?? false,
    webhooksDisabled: r['update-statuses']?.webhooksDisabled ?? 0,
    healthChecksStopped: r['update-statuses']?.healthChecksStopped ?? false,
    // A mark never counts a reference an earlier mark covers: when the instance's mark ran after the
    // connection's (version 2), it counted only the instance's other references, so the total is the sum.
    referencesMarkedStale:
      (r['mark-references-stale']?.marked ?? 0) +
      (r['mark-instance-references-stale']?.marked ?? 0),
  };
}

type TDeps = Pick<TEdgeDeps, 'bus' | 'events' | 'logger' | 'catalogue'>;
type TStep = TSagaDefinition<TDisconnectInput>['steps'][number];

/**
 * Step 1: authorization (version 2) and the semantic lock; from version 3 it also learns whether the instance is
 * held for this saga (its last live connection), which decides the scope of the references' mark.
 */
function lockStep(deps: TDeps, version: number): TStep {
  return {
    name: 'lock',
    kind: 'compensatable',
    timeoutMs: 3_000,
    maxAttempts: 3,
    run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
      const { connection, instance, instanceRevoking, accountGrantInUse } = await deps.bus.request(
        'connection.connections.begin-disconnect',
        {
          orgId,
          connectionId: input.connectionId,
          sagaId,
          idempotencyKey,
          ...(version >= 2
            ? { actor: { userId: actorUserId, mayManageOthers: input.mayManageOthers === true } }
            : {}),
        },
        sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 3_000),
      );
      if (version < 2) return { status: connection.status };
      const target: TDisconnectTarget = {
        instanceId: instance.id,
        vendor: connection.vendor,
        ownerUserId: connection.userId,
        level: connection.level,
        subdomain: instance.config.subdomain ?? null,
        externalAccountId: connection.externalAccountId,
      };
      if (version < 3) return { status: connection.status, target };
      return {
        status: connection.status,
        target,
        instanceRevoking: instanceRevoking === true,
        ...(accountGrantInUse !== undefined ? { accountGrantInUse } : {}),
      };
    },
    compensate: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
      try {
        await deps.bus.request(
          'connection.connections.cancel-disconnect',
          { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
          sagaRequestOptions(input, actorUserId, orgId, idempotencyKey),
        );
      } catch (e) {
        // Not the org's connection (the lock refused it NOT_FOUND): there is no lock of this saga to lift.
        if (e instanceof AppError && e.code === 'NOT_FOUND') return;
        throw e;
      }
    },
  };
}

/** Step 6: the references stale, in one statement; `scope` picks the instance's or the connection's. */
function markStep(
  deps: TDeps,
  name: string,
  scope: (results: Record<string, unknown>) => 'instance' | 'connection',
): TStep {
  return {
    name,
    kind: 'retriable',
    timeoutMs: 30_000,
    run: async ({ input, orgId, actorUserId, results, idempotencyKey }) =>
      deps.bus.request(
        'sync-scheduler.references.mark-stale',
        {
          orgId,
          instanceId: requireTarget(input, results).instanceId,
          connectionId: input.connectionId,
          scope: scope(results),
          idempotencyKey,
        },
        sagaRequestOptions(input, actorUserId, orgId, idempotencyKey, 30_000),
      ),
  };
}

/** The target of a saga whose lock never answered (its compensation's audit): off the hot path. */
async function lookUpTarget(
  deps: TDeps,
  input: TDisconnectInput,
  orgId: string,
  actorUserId: string,
): Promise<Pick<TDisconnectTarget, 'instanceId' | 'vendor' | 'ownerUserId'>> {
  const { connection, instance } = await deps.bus.request(
    'connection.connections.get',
    { orgId, connectionId: input.connectionId },
    { ctx: { traceId: input.traceId, actorUserId, orgId } },
  );
  return { instanceId: instance.id, vendor: connection.vendor, ownerUserId: connection.userId };
}

const instanceRevoked = (results: Record<string, unknown>): boolean =>
  (results as TResults)['update-statuses']?.instanceRevoked === true;

/** Version 3: the lock held the instance for this saga, so its statuses will revoke it. */
const instanceHeld = (results: Record<string, unknown>): boolean =>
  (results as TResults).lock?.instanceRevoking === true;

/** Lock refusals that mean the caller may not act on the connection: nothing of it was touched, nothing to audit. */
export const isAuthorizationRefusal = (e: TSagaError | null | undefined): boolean =>
  e?.step === 'lock' && (e.code === 'NOT_FOUND' || e.code === 'FORBIDDEN');

/**
 * Seed 000's disconnection flow as a saga, in the seed's order. Steps 1–2 are compensatable (lock, disable
 * jobs), step 3 (revocation) is the pivot, the rest only move forward. Every command carries `sagaId:step`.
 *
 * Version 3 (new sagas): the lock step authorizes the caller in the connection service and answers the target, so
 * nothing is looked up before the saga, and whether it holds the instance (its last live connection). After the
 * pivot, destroy ∥ statuses ∥ mark the references — the instance's when it is held, else the connection's; when
 * the statuses revoked an instance the lock did not hold, its references are marked too (a conditional step,
 * skipped otherwise); then audit ∥ event. Version 2 (in flight from before) marked the connection's references
 * beside the statuses and the instance's after them whenever it was revoked; version 1 looked the target up before
 * the saga and marked after the statuses.
 */
export function disconnectSaga(
  deps: TDeps,
  version: TDisconnectSagaVersion = DISCONNECT_SAGA_VERSION,
): TSagaDefinition<TDisconnectInput> {
  const markSteps: TStep[] =
    version >= 3
      ? [
          // Beside the statuses: the instance's references when the lock held the instance (its last live
          // connection: the statuses will revoke it), else this connection's only.
          {
            ...markStep(deps, 'mark-references-stale', (results) =>
              instanceHeld(results) ? 'instance' : 'connection',
            ),
            concurrent: true,
          },
          // The rare case the lock could not foresee: another connection of the instance was disconnected at the
          // same time, and this one turned out last.
          {
            ...markStep(deps, 'mark-instance-references-stale', () => 'instance'),
            when: ({ results }) => instanceRevoked(results) && !instanceHeld(results),
          },
        ]
      : version >= 2
        ? [
            // Independent of destroy and statuses: only this connection's references, whatever the instance does.
            { ...markStep(deps, 'mark-references-stale', () => 'connection'), concurrent: true },
            {
              ...markStep(deps, 'mark-instance-references-stale', () => 'instance'),
              when: ({ results }) => instanceRevoked(results),
            },
          ]
        : [
            // The instance's references when it is revoked; only this connection's while others keep it connected.
            markStep(deps, 'mark-references-stale', (results) =>
              instanceRevoked(results) ? 'instance' : 'connection',
            ),
          ];
  return {
    type: DISCONNECT_SAGA,
    version,
    result: disconnectSummary,
    steps: [
      lockStep(deps, version),
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
        run: async ({ input, orgId, actorUserId, results, idempotencyKey, attempt, resumed }) => {
          const target = requireTarget(input, results);
          if (
            await grantUsedElsewhere(
              deps,
              orgId,
              input.connectionId,
              target,
              {
                answer: (results as TResults).lock?.accountGrantInUse,
                fresh: !resumed && attempt === 1,
              },
              { traceId: input.traceId, actorUserId, orgId },
            )
          ) {
            // The tokens are destroyed all the same (next step); only the provider's grant is left alone.
            return {
              supported: true,
              succeeded: false,
              results: [],
              warnings: [GRANT_IN_USE_WARNING],
              revocationSkipped: 'account_has_other_connection' as const,
            };
          }
          return deps.bus.request(
            'vault.tokens.revoke',
            {
              orgId,
              connectionId: input.connectionId,
              vendor: target.vendor,
              ...(target.subdomain ? { subdomain: target.subdomain } : {}),
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
          );
        },
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
            // The event's occurredAt: the database's time of the revocation, the same on every re-publish.
            revokedAt: r.connection.revokedAt,
          };
        },
      },
      ...markSteps,
      {
        name: 'audit',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, results }) => {
          const target = requireTarget(input, results);
          const summary = disconnectSummary(results);
          const eventId = deterministicUuid(`${sagaId}:audit`);
          await publishAudit(deps, {
            eventId,
            orgId,
            actorUserId,
            onBehalfOfUserId: target.ownerUserId === actorUserId ? null : target.ownerUserId,
            action: 'connection.disconnected',
            provider: target.vendor,
            targets: { instanceId: target.instanceId, connectionId: input.connectionId, sagaId },
            outcome:
              summary.revocationSupported && !summary.revocationSucceeded ? 'partial' : 'success',
            details: { ...summary, level: target.level },
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
          const target = requireTarget(input, results);
          const s = disconnectSummary(results);
          const eventId = deterministicUuid(`${sagaId}:disconnected`);
          const statuses = (results as TResults)['update-statuses'];
          await deps.events.publish(
            'integrations.connection.disconnected',
            {
              eventId,
              // When the connection was revoked (the statuses' commit), not when this publish ran: a saga resumed
              // late still orders before a reconnect made meanwhile. Older results lack it: the step's own time.
              occurredAt: statuses?.revokedAt ?? new Date().toISOString(),
              orgId,
              vendor: target.vendor,
              instanceId: target.instanceId,
              connectionId: input.connectionId,
              sagaId,
              actorUserId,
              ownerUserId: target.ownerUserId,
              level: target.level,
              ...(target.externalAccountId !== undefined
                ? { externalAccountId: target.externalAccountId }
                : {}),
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
    onResumed: auditOperationResumed(deps, DISCONNECT_SAGA),
    onFailed: async ({ input, orgId, actorUserId, sagaId, results, error, resumedCount }) => {
      const target = requireTarget(input, results);
      const s = disconnectSummary(results);
      await auditOperationStopped(deps, {
        sagaId,
        type: DISCONNECT_SAGA,
        orgId,
        actorUserId,
        target: { ...target, connectionId: input.connectionId },
        error,
        resumedCount,
        // What is already done (the credentials may be destroyed: the log must say so before anything else).
        done: {
          syncJobsDisabled: s.syncJobsDisabled,
          revocationSucceeded: s.revocationSucceeded,
          credentialsDeleted: s.credentialsDeleted,
          statusesUpdated: results['update-statuses'] !== undefined,
        },
        ip: input.ip,
        traceId: input.traceId,
      });
    },
    onCompensated: async ({ input, orgId, actorUserId, sagaId, results, error }) => {
      // Refused by the lock (not the org's, or not the caller's to disconnect): the caller got the refusal and
      // nothing of the connection was touched, as when the edge refused it before any saga (version 1).
      if (isAuthorizationRefusal(error)) return;
      // Failed before the lock answered the target (version 2): looked up here, off the hot path.
      const target =
        disconnectTarget(input, results) ?? (await lookUpTarget(deps, input, orgId, actorUserId));
      await publishAudit(deps, {
        eventId: deterministicUuid(`${sagaId}:disconnect_failed`),
        orgId,
        actorUserId,
        onBehalfOfUserId: target.ownerUserId === actorUserId ? null : target.ownerUserId,
        action: 'connection.disconnect_failed',
        provider: target.vendor,
        targets: { instanceId: target.instanceId, connectionId: input.connectionId, sagaId },
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
