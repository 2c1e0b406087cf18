import { randomUUID } from 'node:crypto';
import {
  AppError,
  type TConnection,
  type TConnectionDetails,
  type TCredentialInput,
  type TInstance,
} from '@otesse/contracts';
import type { TProviderDef } from '@otesse/providers';
import type { TEdgeDeps } from '../trpc/context';
import { publishAudit } from '../audit/publish-audit';
import { discardTokens, dropStagedTokens } from './discard-tokens';
import type { TStagedTokens } from './stage-tokens';

interface TConnectBase {
  orgId: string;
  userId: string;
  provider: TProviderDef;
  level: 'app' | 'user';
  externalAccountId: string | null;
  tenantId: string | null;
  details: TConnectionDetails;
  /** The instance host an OAuth authorization ran against (revoking its tokens after a failure needs it). */
  subdomain?: string | undefined;
  ip: string | null;
  traceId: string;
}

/**
 * The secrets to store: given (an API key; tests), or an OAuth callback's tokens the vault already holds
 * (`vault.tokens.stage`), moved into the connection by the store.
 */
export type TCompleteConnectionInput = TConnectBase &
  (
    | { credentials: TCredentialInput[]; staged?: never }
    | { staged: TStagedTokens; credentials?: never }
  );

/**
 * Runs `op` again while it fails with a retryable error (a service restarting), for about ten seconds (7 attempts;
 * fewer when `attempts` says so).
 */
export async function retryWhileUnavailable<T>(op: () => Promise<T>, attempts = 7): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await op();
    } catch (e) {
      if (!(e instanceof AppError && e.retryable) || attempt >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

/**
 * After the provider said yes (or the API key validated): create the connection, hand the secrets to the vault,
 * activate (the connection service publishes `integrations.connection.connected`), create the default sync jobs
 * and write the audit entry. A failure before activation abandons the pending connection: the vault, on its
 * `abandoned` event, revokes at the provider and destroys what it stored. Tokens the vault may not hold (the create
 * or the store failed) are handed to it to be revoked and destroyed (`vault.tokens.discard`). An abandon refused
 * because the connection is connected means the activation took effect (its answer was lost, or it answered
 * UNAVAILABLE because its event could not be published yet): the connect activates again — idempotent, it
 * publishes the `connected` event if still owed — and goes on. After activation (the connection is live) the
 * idempotent rest is retried, never undone.
 */
export async function completeConnection(
  deps: TEdgeDeps,
  input: TCompleteConnectionInput,
): Promise<{ instance: TInstance; connection: TConnection; jobsCreated: number }> {
  const ctx = { traceId: input.traceId, actorUserId: input.userId, orgId: input.orgId };
  const vendor = input.provider.key;
  /** Tokens no connection holds: revoked where the provider can, and destroyed (best effort, never throws). */
  const discard = () =>
    input.staged
      ? dropStagedTokens(deps, input.staged, input.externalAccountId ?? undefined)
      : discardTokens(deps, {
          orgId: input.orgId,
          userId: input.userId,
          provider: input.provider,
          subdomain: input.subdomain,
          credentials: input.credentials,
          traceId: input.traceId,
          externalAccountId: input.externalAccountId ?? undefined,
        });
  const revocable = input.provider.authKind === 'oauth2';
  let pending: TConnection;
  try {
    ({ connection: pending } = await deps.bus.request(
      'connection.connections.create',
      {
        orgId: input.orgId,
        vendor,
        level: input.level,
        userId: input.userId,
        externalAccountId: input.externalAccountId,
        tenantId: input.tenantId,
        details: input.details,
      },
      { ctx },
    ));
  } catch (e) {
    // Refused (already connected: two start links for one slot) or failed: nothing was stored anywhere.
    if (revocable) await discard();
    throw e;
  }
  let stored = false;
  let activated = false;
  const auditEventId = randomUUID();
  const activationEventId = randomUUID();
  /** Default sync jobs and the audit entry of a live connection (both idempotent: safe to run again). */
  const setUp = async (
    instance: TInstance,
    connection: TConnection,
  ): Promise<{ instance: TInstance; connection: TConnection; jobsCreated: number }> => {
    let jobsCreated = 0;
    if (input.provider.dataApi) {
      // A reconnection takes over the jobs of the slot's last revoked connection (kept disabled, seed 000).
      const { connections } = await deps.bus.request(
        'connection.instances.get',
        {
          orgId: input.orgId,
          vendor,
          // The slot's last revoked connections (one is made at a time: the newest revoked is the last one).
          statuses: ['revoked'],
          newest: 5,
          slot:
            input.level === 'app'
              ? { level: 'app' as const }
              : { level: 'user' as const, userId: input.userId },
        },
        { ctx },
      );
      const previous = connections
        .filter(
          (c) =>
            c.id !== connection.id &&
            c.status === 'revoked' &&
            c.level === input.level &&
            (input.level === 'app' || c.userId === input.userId) &&
            // Jobs (and the references their lineage reaches) of another tenant's connection are that tenant's:
            // never adopted (a connection stored before instances were pinned may be of one).
            c.tenantId === connection.tenantId,
        )
        .sort((a, b) => (b.revokedAt ?? '').localeCompare(a.revokedAt ?? ''))[0];
      const jobs = await deps.bus.request(
        'sync-scheduler.jobs.create-defaults',
        {
          orgId: input.orgId,
          instanceId: instance.id,
          connectionId: connection.id,
          vendor,
          resources: input.provider.dataApi.resources,
          ...(previous ? { adoptFromConnectionId: previous.id } : {}),
        },
        { ctx },
      );
      jobsCreated = jobs.created;
    }
    // The connection is live: a provider's id the contract finds secret-looking is redacted, never a failed connect.
    await publishAudit(deps, {
      eventId: auditEventId,
      orgId: input.orgId,
      actorUserId: input.userId,
      action: 'connection.connected',
      provider: vendor,
      targets: { instanceId: instance.id, connectionId: connection.id },
      outcome: 'success',
      details: {
        level: input.level,
        authKind: input.provider.authKind,
        tenantId: input.tenantId,
        syncJobsCreated: jobsCreated,
      },
      ip: input.ip,
      traceId: input.traceId,
    });
    return { instance, connection, jobsCreated };
  };
  /**
   * The activation of a connection found connected, once more (a few attempts, about 1.5 s: each may wait out a
   * publish). When its event still cannot be published (JetStream away), the connection service keeps it owed and
   * its sweep publishes it: the connect stands all the same.
   */
  const activateAgain = async (): Promise<{ instance: TInstance; connection: TConnection }> => {
    try {
      return await retryWhileUnavailable(
        () =>
          deps.bus.request(
            'connection.connections.activate',
            { orgId: input.orgId, connectionId: pending.id, eventId: activationEventId },
            { ctx },
          ),
        4,
      );
    } catch (err) {
      deps.logger.warn(
        { err, connectionId: pending.id },
        'connected, but activating again failed; its connected event is left to the connection service',
      );
      return retryWhileUnavailable(() =>
        deps.bus.request(
          'connection.connections.get',
          { orgId: input.orgId, connectionId: pending.id },
          { ctx },
        ),
      );
    }
  };
  try {
    await deps.bus.request(
      'vault.credentials.store',
      {
        orgId: input.orgId,
        connectionId: pending.id,
        vendor,
        ...(input.staged
          ? // Moved in from the stage, once: a replay under the key answers the first ids.
            { stageId: input.staged.stageId, idempotencyKey: `store:${input.staged.stageId}` }
          : { credentials: input.credentials }),
        replace: false,
      },
      { ctx },
    );
    stored = true;
    const { instance, connection } = await deps.bus.request(
      'connection.connections.activate',
      { orgId: input.orgId, connectionId: pending.id, eventId: activationEventId },
      { ctx },
    );
    activated = true;
    // From here the connection is live (its `connected` event is out): the rest is idempotent and retried while a
    // service is briefly unavailable, never undone — tearing down a live connection would strand it.
    return await retryWhileUnavailable(() => setUp(instance, connection));
  } catch (e) {
    if (activated) throw e;
    // Whether the activation took effect is unknown when its answer was lost (a timeout, the connection service
    // killed after its commit): the abandon decides, atomically in the connection service — pending → error, or
    // refused because the connection is connected. The vault revokes and destroys credentials only for an abandoned
    // connection: destroying them first used to leave a live connection without credentials.
    try {
      await retryWhileUnavailable(() =>
        deps.bus.request(
          'connection.connections.abandon',
          { orgId: input.orgId, connectionId: pending.id, reason: 'connect_failed' },
          { ctx },
        ),
      );
    } catch (err) {
      if (
        err instanceof AppError &&
        err.code === 'CONFLICT' &&
        err.reason === 'not_pending' &&
        (err.details as { status?: unknown } | undefined)?.status === 'connected'
      ) {
        // The activation went through: the connect succeeded. Its answer was lost, or its `connected` event could
        // not be published yet (UNAVAILABLE): activating again publishes the event if it is still owed.
        const live = await activateAgain();
        return await retryWhileUnavailable(() => setUp(live.instance, live.connection));
      }
      // The connection stays pending: the connection service's sweep abandons it once it is past its bound,
      // and the vault revokes and destroys the credentials on that abandoned event.
      deps.logger.warn(
        { err, connectionId: pending.id },
        'clean-up: abandoning connection failed; the pending-connect sweep will',
      );
    }
    // What the vault stored is its to finish: on the abandoned event it revokes, then destroys (destroying it from
    // here first would wipe the tokens before they could be revoked). A store that failed — or whose answer was
    // lost — may have stored nothing: the tokens are discarded. A stage the store moved in is gone, so its discard
    // finds nothing (the vault's row lock orders the two); raw tokens are revoked again, which is harmless.
    if (!stored && revocable) await discard();
    await publishAudit(deps, {
      orgId: input.orgId,
      actorUserId: input.userId,
      action: 'connection.connect_failed',
      provider: vendor,
      targets: { connectionId: pending.id },
      outcome: 'failure',
      details: { error: e instanceof AppError ? e.code : 'INTERNAL' },
      ip: input.ip,
      traceId: input.traceId,
    }).catch(() => undefined);
    throw e;
  }
}
