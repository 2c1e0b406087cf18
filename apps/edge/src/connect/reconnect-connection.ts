import { randomUUID } from 'node:crypto';
import { AppError } from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import { publishAudit } from '../audit/publish-audit';
import { dropStagedTokens } from './discard-tokens';
import type { TStagedTokens } from './stage-tokens';
import type { TExternalIdentity } from '../oauth/read-identity';
import { reconnectSaga, type TReconnectAction } from '../sagas/reconnect.saga';
import type { TEdgeDeps } from '../trpc/context';
import { uuidV7 } from '@otesse/runtime';

export interface TReconnectRequest {
  action: TReconnectAction;
  orgId: string;
  userId: string;
  flow: 'app' | 'user';
  targetConnectionId: string;
  provider: TProviderDef;
  subdomain: string | undefined;
  identity: TExternalIdentity;
  /** The new tokens, staged in the vault by the callback. */
  staged: TStagedTokens;
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
  const { staged } = req;
  /**
   * The staged tokens discarded now (best effort: else when their hold ends). The account they are of is given: a
   * grant-wide revocation (Google) must not end a grant a live connection uses.
   */
  const dropStaged = () => dropStagedTokens(deps, staged, req.identity.externalAccountId);
  // Until a saga holds them, a failure leaves the new tokens claimed by nothing: they are discarded.
  const { connection, instance } = await deps.bus
    .request(
      'connection.connections.get',
      { orgId: req.orgId, connectionId: req.targetConnectionId },
      { ctx },
    )
    .catch(async (e: unknown) => {
      await dropStaged();
      throw e;
    });
  /** Refused: the new tokens discarded, the attempt audited. */
  const refuse = async (reason: string): Promise<TReconnectOutcome> => {
    await dropStaged();
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

  const sagaId = uuidV7();
  const { stageId } = staged;
  let started: { sagaId: string; created: boolean };
  try {
    started = await deps.sagas.start(reconnectSaga(deps, req.action), {
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
      return refuse('busy');
    }
    // The saga may have been recorded (its answer lost) and swap them in: the stage is left to it, and to the
    // vault's hold if it never runs.
    throw e;
  }
  if (!started.created) {
    // Another reconnect or change of user of this connection is still open (a second tab, a second click while
    // the first finishes): it was joined, not started, so nothing will ever take these tokens — revoked now, and
    // the user told the connection is busy rather than that *this* one is still finishing.
    return refuse('busy');
  }
  const view = await deps.sagas.waitFor(sagaId, 15_000);
  if (view?.status === 'completed') return { ok: true, sagaId };
  if (view?.status === 'compensated') {
    // The lock refused (a disconnect holds the connection) or the swap failed: nothing changed. The saga's
    // onCompensated discarded the staged tokens before it ended, from whichever edge ran it.
    return { ok: false, reason: view.error?.reason ?? view.error?.code ?? 'failed', sagaId };
  }
  // Past its pivot and stopped: the new account's tokens are in place; the connection's card offers the resume.
  if (view?.status === 'failed') return { ok: false, reason: 'stopped_part_way', sagaId };
  return { ok: false, reason: 'still_running', sagaId };
}
