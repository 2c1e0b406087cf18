import { randomUUID } from 'node:crypto';
import { AppError, type TCredentialInput } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { publishAudit } from '../audit/publish-audit';
import { retryWhileUnavailable } from './complete-connection';
import { discardStagedTokens, discardTokens } from './discard-tokens';
import type { TExternalIdentity } from '../oauth/read-identity';
import { discardUnusedTokens, reconnectSaga, type TReconnectAction } from '../sagas/reconnect.saga';
import type { TEdgeDeps } from '../trpc/context';

export interface TReconnectRequest {
  action: TReconnectAction;
  orgId: string;
  userId: string;
  flow: 'app' | 'user';
  targetConnectionId: string;
  provider: TProviderDef;
  subdomain: string | undefined;
  identity: TExternalIdentity;
  credentials: TCredentialInput[];
  ip: string | null;
  traceId: string;
}

export type TReconnectOutcome =
  { ok: true; sagaId: string } | { ok: false; reason: string; sagaId?: string };

/**
 * Whether new tokens belong to the connection's tenant. changeUser (seed 003: "another user from the same domain")
 * needs the domain known on both sides: a provider that names none (a consumer Google account has no `hd`) cannot
 * show the new user is in the same domain, so the switch is refused rather than assumed. A reconnect is pinned to
 * the same external account as well, so a tenant both sides lack is no reason to refuse it. Where the tenant is the
 * instance's own host (`tenantSource: 'subdomain'`: ServiceNow, Zendesk) the authorization ran against that very
 * host, so the domain is the same by construction, even for a connection stored before its tenant was recorded.
 */
export function tenantCheck(
  expected: string | null,
  identity: Pick<TExternalIdentity, 'tenantIds'>,
  action: TReconnectAction,
  tenantIsInstanceHost = false,
): 'match' | 'tenant_mismatch' | 'tenant_unknown' {
  if (tenantIsInstanceHost) return 'match';
  if (expected === null) {
    if (action === 'changeUser') return 'tenant_unknown';
    return identity.tenantIds.length === 0 ? 'match' : 'tenant_mismatch';
  }
  if (identity.tenantIds.length === 0)
    return action === 'changeUser' ? 'tenant_unknown' : 'tenant_mismatch';
  return identity.tenantIds.includes(expected) ? 'match' : 'tenant_mismatch';
}

/**
 * Seed 003's callback for `action=reconnect|changeUser`: the authorized account must be the same (reconnect) or in
 * the same tenant (changeUser); otherwise nothing changes and the new tokens are revoked. On a match the swap runs
 * as a saga under the connection's lock.
 */
export async function reconnectFromCallback(
  deps: TEdgeDeps,
  req: TReconnectRequest,
): Promise<TReconnectOutcome> {
  const ctx = { traceId: req.traceId, actorUserId: req.userId, orgId: req.orgId };
  // The account they are of: a grant-wide revocation (Google) must not end a grant a live connection uses.
  const refused = { ...req, externalAccountId: req.identity.externalAccountId };
  // Until the saga holds them, a failure leaves the new tokens attached to nothing: they are discarded.
  const { connection, instance } = await deps.bus
    .request(
      'connection.connections.get',
      { orgId: req.orgId, connectionId: req.targetConnectionId },
      { ctx },
    )
    .catch(async (e: unknown) => {
      await discardTokens(deps, refused);
      throw e;
    });
  /** Refused: the new tokens discarded (unless the caller already had them staged and discarded), audited. */
  const refuse = async (reason: string, tokensLeft = true): Promise<TReconnectOutcome> => {
    if (tokensLeft) await discardTokens(deps, refused);
    await publishAudit(deps, {
      eventId: randomUUID(),
      orgId: req.orgId,
      actorUserId: req.userId,
      onBehalfOfUserId: connection.userId === req.userId ? null : connection.userId,
      action:
        req.action === 'reconnect'
          ? 'connection.reconnect_failed'
          : 'connection.change_user_failed',
      provider: req.provider.key,
      targets: { instanceId: instance.id, connectionId: connection.id },
      outcome: 'failure',
      details: {
        reason,
        previousExternalAccount: connection.externalAccountId,
        attemptedExternalAccount: req.identity.externalAccountId,
        expectedTenant: instance.tenantId ?? connection.tenantId,
        attemptedTenant: req.identity.tenantId,
      },
      ip: req.ip,
      traceId: req.traceId,
    }).catch((e: unknown) => deps.logger.warn({ err: e }, 'audit of a refused reconnect failed'));
    return { ok: false, reason };
  };

  if (connection.level !== req.flow) return refuse('slot_mismatch');
  // The instance's pin first: every connection of the instance is of that tenant (one stored before pins, with
  // another tenant or none, is brought to it).
  const expectedTenant = instance.tenantId ?? connection.tenantId ?? null;
  const tenant = tenantCheck(
    expectedTenant,
    req.identity,
    req.action,
    req.provider.oauth?.tenantSource === 'subdomain',
  );
  if (tenant !== 'match') return refuse(tenant);
  if (
    req.action === 'reconnect' &&
    connection.externalAccountId !== req.identity.externalAccountId
  ) {
    return refuse('account_mismatch');
  }

  const sagaId = randomUUID();
  // The vault holds the new tokens for the saga, so any edge can swap them in (a saga resumed after this edge died
  // completes) and the vault discards them if none does: they never live only in this process.
  const stagedRef = {
    orgId: req.orgId,
    userId: req.userId,
    vendor: req.provider.key,
    subdomain: req.subdomain,
    traceId: req.traceId,
    externalAccountId: req.identity.externalAccountId,
  };
  let stageId: string;
  try {
    // A vault (or its database) briefly away is waited for, as the saga's own steps would: the user is at the
    // callback, and the provider's tokens are not to be thrown away for a restart.
    ({ stageId } = await retryWhileUnavailable(() =>
      deps.bus.request(
        'vault.tokens.stage',
        {
          orgId: req.orgId,
          vendor: req.provider.key,
          ...(req.subdomain ? { subdomain: req.subdomain } : {}),
          credentials: req.credentials,
          // Not of the saga's key form (`<sagaId>:<step>`): the saga's release does not name it; the vault's
          // retention purges it with other commands' keys.
          idempotencyKey: `stage:${sagaId}`,
        },
        { ctx },
      ),
    ));
  } catch (e) {
    // Not staged, or its answer lost (then the vault discards them when their hold ends): revoked now all the same.
    await discardTokens(deps, refused);
    throw e;
  }
  const dropStaged = () =>
    discardStagedTokens(deps, { ...stagedRef, stageId }, `discard-staged:${sagaId}`).catch(
      (e: unknown) =>
        deps.logger.warn(
          { err: e },
          'discarding staged tokens failed; the vault discards them when their hold ends',
        ),
    );
  let started: { sagaId: string; created: boolean };
  try {
    started = await deps.sagas.start(reconnectSaga(deps, deps.pendingTokens, req.action), {
      sagaId,
      subjectKey: connection.id,
      orgId: req.orgId,
      actorUserId: req.userId,
      reuseCompleted: false,
      input: {
        action: req.action,
        connectionId: connection.id,
        instanceId: instance.id,
        vendor: req.provider.key,
        subdomain: req.subdomain ?? null,
        ownerUserId: connection.userId,
        previousExternalAccountId: connection.externalAccountId,
        externalAccountId: req.identity.externalAccountId,
        // The site matched, not the first one the token lists (Atlassian): the connection stays on its tenant.
        tenantId: expectedTenant ?? req.identity.tenantId,
        // The new identity's own label, or none: the connection service keeps the other stored details (the
        // site), and a change of user must never show the previous user's label next to the new account.
        details: req.identity.accountLabel ? { accountLabel: req.identity.accountLabel } : {},
        ip: req.ip,
        traceId: req.traceId,
        stageId,
      },
    });
  } catch (e) {
    if (e instanceof AppError && e.reason === 'saga_conflict') {
      await dropStaged();
      return refuse('busy', false);
    }
    // The saga may have been recorded (its answer lost) and swap them in: the stage is left to it, and to the
    // vault's hold if it never runs.
    throw e;
  }
  if (!started.created) {
    // Another reconnect or change of user of this connection is still open (a second tab, a second click while
    // the first finishes): it was joined, not started, so nothing will ever take these tokens — revoked now, and
    // the user told the connection is busy rather than that *this* one is still finishing.
    await dropStaged();
    return refuse('busy', false);
  }
  const view = await deps.sagas.waitFor(sagaId, 15_000);
  if (view?.status === 'completed') return { ok: true, sagaId };
  if (view?.status === 'compensated') {
    // The lock refused (a disconnect holds the connection) or the swap failed: nothing changed. The saga's
    // onCompensated discarded the new tokens before it ended; this is for one that compensated on another edge
    // after a lease loss (the tokens are in this process), under the same key: one discard either way.
    await discardUnusedTokens(deps, deps.pendingTokens, sagaId, {
      ...stagedRef,
      stageId,
    }).catch((e: unknown) =>
      deps.logger.warn({ err: e }, 'handing unused tokens to the vault failed'),
    );
    return { ok: false, reason: view.error?.reason ?? view.error?.code ?? 'failed', sagaId };
  }
  // Past its pivot and stopped: the new account's tokens are in place; the connection's card offers the resume.
  if (view?.status === 'failed') return { ok: false, reason: 'stopped_part_way', sagaId };
  return { ok: false, reason: 'still_running', sagaId };
}
