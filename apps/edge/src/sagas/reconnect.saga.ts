import { AppError, type TConnectionDetails } from '@otesse/contracts';
import {
  deterministicUuid,
  sagaHookKey,
  type TSagaDefinition,
  type TStepDefinition,
} from '@otesse/saga';
import type { TEdgeDeps } from '../trpc/context';
import { publishAudit } from '../audit/publish-audit';
import { grantHoldersOfAccount } from '../connect/grant-in-use';
import { discardStagedTokens } from '../connect/discard-tokens';
import { auditOperationResumed, auditOperationStopped } from './operation-audit';
import { REVOCATION_TIMEOUT_MS } from './disconnect.saga';
import { sagaRequestOptions } from './saga-request-options';

export type TReconnectAction = 'reconnect' | 'changeUser';

export interface TReconnectInput extends Record<string, unknown> {
  action: TReconnectAction;
  connectionId: string;
  instanceId: string;
  vendor: string;
  subdomain: string | null;
  ownerUserId: string;
  previousExternalAccountId: string | null;
  externalAccountId: string;
  tenantId: string | null;
  details: TConnectionDetails;
  ip: string | null;
  traceId: string;
  /**
   * Where the vault holds the new tokens (`vault.tokens.stage`): any edge that drives the saga swaps them in.
   * Absent only for a saga started before tokens were staged (two releases ago), whose tokens waited in the memory
   * of an edge that has restarted since: its swap settles the key instead.
   */
  stageId?: string;
}

export const RECONNECT_SAGA: Record<TReconnectAction, string> = {
  reconnect: 'reconnect',
  changeUser: 'change-user',
};

/**
 * The definition versions new sagas start on. change-user 2 pauses the connection's syncs across the swap
 * (pause-sync, resume-sync); 3 lifts the pause only after record-account, which clears refreshTokenExpired: in 2 a
 * run asked for during the pause was claimed the moment resume-sync lifted it, found the flag still set and was
 * recorded `skipped` (the request used up). Versions 1 and 2 stay registered for the sagas in flight at the upgrade.
 */
export const RECONNECT_SAGA_VERSION: Record<TReconnectAction, number> = {
  reconnect: 1,
  changeUser: 3,
};

/**
 * The new tokens of a reconnect that will never take them (it compensated: nothing was swapped), revoked at the
 * provider and destroyed by their `stageId`, from whichever edge runs the hook. A saga started before tokens were
 * staged has none left to discard (they were in the memory of an edge that has restarted since). Both the saga's
 * hook and the callback still waiting for it may get here: one key, derived from the saga, makes it one discard.
 * Throws when the vault did not answer: the retry sends the same key.
 */
export async function discardUnusedTokens(
  deps: Pick<TEdgeDeps, 'bus' | 'catalogue' | 'logger'>,
  sagaId: string,
  req: {
    orgId: string;
    userId: string;
    vendor: string;
    subdomain: string | undefined;
    traceId: string;
    externalAccountId: string;
    stageId?: string | undefined;
  },
): Promise<void> {
  if (req.stageId === undefined) return;
  const { stageId, ...rest } = req;
  await discardStagedTokens(deps, { ...rest, stageId }, sagaHookKey(sagaId, 'onCompensated'));
}

/** Why the retired tokens were left unrevoked (their provider revokes the whole grant, still in use). */
export type TRevocationSkipped = 'same_account' | 'account_has_other_connection';

const REVOCATION_SKIPPED: Record<TRevocationSkipped, string> = {
  same_account:
    "old tokens not revoked: the provider revokes the user's whole grant, which the new tokens of the same account share",
  account_has_other_connection:
    "old tokens not revoked: the provider revokes the user's whole grant, which another live connection of this account uses",
};

/**
 * Whether revoking the retired tokens would end a grant still in use, for a provider whose revocation ends the
 * user's whole grant to our client (catalogue `revocationScope: 'grant'`, Google): the same account authorized
 * again (its new tokens are of that grant), or another pending / connected connection, of any org, holds the
 * previous account (a user's own connection beside the org's; one OAuth client per vendor). Null: revoke.
 */
async function grantStillInUse(
  deps: Pick<TEdgeDeps, 'bus' | 'catalogue'>,
  input: TReconnectInput,
  orgId: string,
  previous: string | null,
  ctx: { traceId: string; actorUserId: string; orgId: string },
): Promise<TRevocationSkipped | null> {
  if (!deps.catalogue.revokesWholeGrant(input.vendor) || previous === null) return null;
  if (previous === input.externalAccountId) return 'same_account';
  const holders = await grantHoldersOfAccount(
    deps,
    {
      orgId,
      vendor: input.vendor,
      externalAccountId: previous,
      exceptConnectionId: input.connectionId,
    },
    ctx,
  );
  return holders.connected + holders.pending > 0 ? 'account_has_other_connection' : null;
}

/**
 * A running sync read with the token the vault handed its runner at its start, and after a 401 with whatever the
 * vault hands out then: across a change of user it read on the previous user's token until the revocation, then went
 * on from that run's cursor with the new user's. So before the swap the connection's jobs are paused (no claim) and
 * its running executions cancelled as a disconnect cancels them (they stop after the batch they are writing and
 * keep what they committed); after the swap, once the account is recorded, the pause is lifted and the next run
 * starts from no cursor on the new user's token. Not for the same account authorized again (a reconnect, or a
 * change of user back to the same user): its data and its cursor are that account's either way, and a run cut
 * short would only be lost work.
 */
function syncPauseSteps(deps: Pick<TEdgeDeps, 'bus'>): {
  pause: TStepDefinition<TReconnectInput>;
  resume: TStepDefinition<TReconnectInput>;
} {
  const opts = sagaRequestOptions;
  const reenable = (
    input: TReconnectInput,
    orgId: string,
    actorUserId: string,
    sagaId: string,
    idempotencyKey: string,
  ) =>
    deps.bus.request(
      'sync-scheduler.jobs.reenable-for-saga',
      { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
      opts(input, actorUserId, orgId, idempotencyKey),
    );
  return {
    pause: {
      name: 'pause-sync',
      kind: 'compensatable',
      timeoutMs: 5_000,
      maxAttempts: 3,
      run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
        if (input.externalAccountId === input.previousExternalAccountId) return { skipped: true };
        const r = await deps.bus.request(
          'sync-scheduler.jobs.disable-for-connection',
          {
            orgId,
            connectionId: input.connectionId,
            sagaId,
            purpose: 'changeUser',
            idempotencyKey,
          },
          opts(input, actorUserId, orgId, idempotencyKey),
        );
        return { jobsPaused: r.jobsPaused, executionsCancelled: r.executionsCancelled };
      },
      // The cancelled runs stay cancelled (their records kept); the jobs run again on their schedule.
      compensate: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
        await reenable(input, orgId, actorUserId, sagaId, idempotencyKey);
      },
    },
    resume: {
      name: 'resume-sync',
      kind: 'retriable',
      timeoutMs: 5_000,
      when: ({ results }) => !(results['pause-sync'] as { skipped?: boolean }).skipped,
      run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
        const r = await reenable(input, orgId, actorUserId, sagaId, idempotencyKey);
        return { jobsResumed: r.jobsResumed };
      },
    },
  };
}

/**
 * Seed 003 as sagas: lock → [change of user: pause the connection's syncs, cancelling its running executions] →
 * swap credentials (pivot, atomic in the vault) → record the account and clear refreshTokenExpired, unlock
 * (publishes reconnected / user_changed) → [resume the syncs] → revoke and destroy the old tokens (best effort)
 * → audit. The instance, its other connections, jobs' settings, mappings and references are never touched.
 *
 * Only lock and pause-sync compensate (a failure before the swap: the pause is lifted, then the lock); from the swap
 * on the saga only moves forward (retriable steps), so a run asked for during the pause starts once the account
 * is recorded, on the new user's token, with no reconnect flag left to skip it. Between record-account's unlock
 * and resume-sync another saga may take the connection: a disconnect clears the pause mark, another change of user
 * stamps its own (resume-sync lifts this saga's mark only), so the lift here never undoes theirs.
 * Change-user version 2 (kept for the sagas in flight) resumed the syncs before record-account.
 */
export function reconnectSaga(
  deps: Pick<TEdgeDeps, 'bus' | 'events' | 'logger' | 'catalogue'>,
  action: TReconnectAction,
  version = RECONNECT_SAGA_VERSION[action],
): TSagaDefinition<TReconnectInput> {
  const opts = sagaRequestOptions;
  const audited = action === 'reconnect' ? 'connection.reconnected' : 'connection.user_changed';
  const failed =
    action === 'reconnect' ? 'connection.reconnect_failed' : 'connection.change_user_failed';
  const sync = action === 'changeUser' && version >= 2 ? syncPauseSteps(deps) : undefined;
  // Where the pause is lifted: right after the swap (version 2), or once the account is recorded (3 on).
  const resumeAfterSwap = sync && version < 3 ? [sync.resume] : [];
  const resumeAfterRecord = sync && version >= 3 ? [sync.resume] : [];
  return {
    type: RECONNECT_SAGA[action],
    version,
    steps: [
      {
        name: 'lock',
        kind: 'compensatable',
        timeoutMs: 3_000,
        maxAttempts: 3,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          const { connection } = await deps.bus.request(
            'connection.connections.lock',
            {
              orgId,
              connectionId: input.connectionId,
              sagaId,
              purpose: action,
              // Refused (account_changed) when another change of user completed after the callback's checks.
              expectedExternalAccountId: input.previousExternalAccountId,
              idempotencyKey,
            },
            opts(input, actorUserId, orgId, idempotencyKey, 3_000),
          );
          return { status: connection.status };
        },
        compensate: async ({ input, orgId, actorUserId, sagaId, idempotencyKey }) => {
          await deps.bus.request(
            'connection.connections.unlock',
            { orgId, connectionId: input.connectionId, sagaId, idempotencyKey },
            opts(input, actorUserId, orgId, idempotencyKey),
          );
        },
      },
      ...(sync ? [sync.pause] : []),
      {
        name: 'swap-credentials',
        kind: 'pivot',
        timeoutMs: 8_000,
        maxAttempts: 3,
        // The vault's word that no swap was made under the key, nor will be: the saga compensates.
        provesNoEffect: (err) => err.reason === 'authorization_lost',
        run: async ({ input, orgId, actorUserId, idempotencyKey }) => {
          // Staged in the vault: sent by reference, from whichever edge drives the saga. A saga started before
          // tokens were staged has none left (they were in a restarted edge's memory), and an earlier attempt may
          // have reached the vault: the swap is settled instead — the one made under the key goes on, or the key is
          // closed so that none ever is and nothing changed.
          const r = await deps.bus
            .request(
              'vault.credentials.swap',
              {
                orgId,
                connectionId: input.connectionId,
                vendor: input.vendor,
                ...(input.stageId !== undefined ? { stageId: input.stageId } : {}),
                idempotencyKey,
              },
              opts(input, actorUserId, orgId, idempotencyKey, 7_000),
            )
            .catch((e: unknown) => {
              if (e instanceof AppError && e.reason === 'swap_not_applied') {
                throw new AppError(
                  'PRECONDITION_FAILED',
                  'the authorization is no longer available: authorize again',
                  { reason: 'authorization_lost' },
                );
              }
              throw e;
            });
          return r;
        },
      },
      ...resumeAfterSwap,
      {
        name: 'record-account',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey, results }) => {
          const swap = results['swap-credentials'] as { retiredCredentialIds: string[] };
          const r = await deps.bus.request(
            'connection.connections.complete-reconnect',
            {
              orgId,
              connectionId: input.connectionId,
              sagaId,
              action,
              externalAccountId: input.externalAccountId,
              tenantId: input.tenantId,
              details: input.details,
              // A refresh expiry the vault reports late for one of these flags nothing.
              retiredCredentialIds: swap.retiredCredentialIds,
              eventId: deterministicUuid(`${sagaId}:${action}`),
              actorUserId,
              idempotencyKey,
            },
            opts(input, actorUserId, orgId, idempotencyKey),
          );
          return { previousExternalAccountId: r.previousExternalAccountId };
        },
      },
      ...resumeAfterRecord,
      {
        name: 'revoke-old-tokens',
        kind: 'retriable',
        timeoutMs: 2 * REVOCATION_TIMEOUT_MS + 3_000,
        run: async ({ input, orgId, actorUserId, idempotencyKey, results }) => {
          const retired = (results['swap-credentials'] as { retiredCredentialIds: string[] })
            .retiredCredentialIds;
          if (retired.length === 0) return { skipped: true };
          const previous = (
            results['record-account'] as { previousExternalAccountId: string | null }
          ).previousExternalAccountId;
          const shared = await grantStillInUse(deps, input, orgId, previous, {
            traceId: input.traceId,
            actorUserId,
            orgId,
          });
          if (shared) {
            deps.logger.info(
              { connectionId: input.connectionId, vendor: input.vendor, why: shared },
              'old tokens not revoked: their grant is still in use',
            );
            return {
              succeeded: false,
              supported: true,
              revocationSkipped: shared,
              warnings: [REVOCATION_SKIPPED[shared]],
            };
          }
          const report = await deps.bus.request(
            'vault.tokens.revoke',
            {
              orgId,
              connectionId: input.connectionId,
              vendor: input.vendor,
              ...(input.subdomain ? { subdomain: input.subdomain } : {}),
              idempotencyKey,
              timeoutMs: REVOCATION_TIMEOUT_MS,
              credentialIds: retired,
            },
            opts(input, actorUserId, orgId, idempotencyKey, 2 * REVOCATION_TIMEOUT_MS + 2_000),
          );
          return {
            succeeded: report.succeeded,
            supported: report.supported,
            warnings: report.warnings,
          };
        },
      },
      {
        name: 'destroy-old-credentials',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, idempotencyKey, results }) => {
          const retired = (results['swap-credentials'] as { retiredCredentialIds: string[] })
            .retiredCredentialIds;
          if (retired.length === 0) return { destroyed: 0 };
          return deps.bus.request(
            'vault.credentials.destroy',
            { orgId, connectionId: input.connectionId, idempotencyKey, credentialIds: retired },
            opts(input, actorUserId, orgId, idempotencyKey),
          );
        },
      },
      {
        name: 'audit',
        kind: 'retriable',
        timeoutMs: 5_000,
        run: async ({ input, orgId, actorUserId, sagaId, idempotencyKey, results }) => {
          const revoke = results['revoke-old-tokens'] as
            | { succeeded?: boolean; warnings?: string[]; revocationSkipped?: TRevocationSkipped }
            | undefined;
          const recorded = results['record-account'] as
            { previousExternalAccountId: string | null } | undefined;
          const paused = results['pause-sync'] as { executionsCancelled?: number } | undefined;
          // record-account unlocked the connection: a saga that stopped after it may be resumed after a disconnect.
          // The account did change, but the entry must not read as if the new user were connected now.
          const { connection } = await deps.bus.request(
            'connection.connections.get',
            { orgId, connectionId: input.connectionId },
            opts(input, actorUserId, orgId, idempotencyKey),
          );
          const gone = connection.status !== 'connected';
          const what = action === 'reconnect' ? 'reconnect' : 'change of user';
          const warnings = [
            ...(revoke?.warnings ?? []),
            ...(gone
              ? [
                  `a disconnect of the connection began before the ${what} finished: it is ${connection.status} now`,
                ]
              : []),
          ];
          await publishAudit(deps, {
            eventId: deterministicUuid(`${sagaId}:audit`),
            orgId,
            actorUserId,
            onBehalfOfUserId: input.ownerUserId === actorUserId ? null : input.ownerUserId,
            action: audited,
            provider: input.vendor,
            targets: { instanceId: input.instanceId, connectionId: input.connectionId, sagaId },
            outcome: gone ? 'partial' : 'success',
            details: {
              action,
              connectionStatus: connection.status,
              // The account complete-reconnect replaced, not the one the callback read.
              previousExternalAccount:
                recorded?.previousExternalAccountId ?? input.previousExternalAccountId,
              newExternalAccount: input.externalAccountId,
              tenant: input.tenantId,
              oldTokensRevoked: revoke?.succeeded ?? false,
              // Why the old tokens were left unrevoked (a key naming tokens may hold no string in the audit).
              revocationSkipped: revoke?.revocationSkipped ?? null,
              // A change of user's running syncs, cancelled before the swap (pause-sync).
              ...(action === 'changeUser'
                ? { syncExecutionsCancelled: paused?.executionsCancelled ?? 0 }
                : {}),
              warnings,
            },
            ip: input.ip,
            traceId: input.traceId,
          });
          return {};
        },
      },
    ],
    onResumed: auditOperationResumed(deps, RECONNECT_SAGA[action]),
    onFailed: async ({ input, orgId, actorUserId, sagaId, results, error, resumedCount }) => {
      // Swapped: the vault holds them as the connection's. Not swapped, this saga stopped past an attempt that may
      // have been (a timeout): they may be the connection's live tokens, so nothing revokes them here; a resume
      // sends the same stage under the swap's key, and a stage no swap claims ends with its hold (the vault's sweep).
      const destroyed = results['destroy-old-credentials'] as { destroyed?: number } | undefined;
      await auditOperationStopped(deps, {
        sagaId,
        type: RECONNECT_SAGA[action],
        orgId,
        actorUserId,
        target: { ...input, level: null },
        error,
        resumedCount,
        done: {
          credentialsSwapped: results['swap-credentials'] !== undefined,
          accountRecorded: results['record-account'] !== undefined,
          oldCredentialsDeleted: destroyed?.destroyed ?? 0,
        },
        ip: input.ip,
        traceId: input.traceId,
      });
    },
    onCompensated: async ({ input, orgId, actorUserId, sagaId, error }) => {
      // Nothing was swapped: the new tokens are no connection's. The callback may have stopped waiting long ago.
      await discardUnusedTokens(deps, sagaId, {
        orgId,
        userId: actorUserId,
        vendor: input.vendor,
        subdomain: input.subdomain ?? undefined,
        traceId: input.traceId,
        externalAccountId: input.externalAccountId,
        stageId: input.stageId,
      });
      await publishAudit(deps, {
        eventId: deterministicUuid(`${sagaId}:failed`),
        orgId,
        actorUserId,
        onBehalfOfUserId: input.ownerUserId === actorUserId ? null : input.ownerUserId,
        action: failed,
        provider: input.vendor,
        targets: { instanceId: input.instanceId, connectionId: input.connectionId, sagaId },
        outcome: 'failure',
        details: {
          action,
          failedStep: error.step,
          error: error.code,
          reason: error.reason ?? 'none',
        },
        ip: input.ip,
        traceId: input.traceId,
      });
    },
  };
}
