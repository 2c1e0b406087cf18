import { AppError } from '@otesse/contracts';
import { newTraceId, type TMessageContext } from '@otesse/messaging';
import type { Logger } from '@otesse/logging';
import { startPeriodicTask, type TPeriodicTask } from '@otesse/runtime';
import { counter } from '@otesse/telemetry';
import { VAULT_DB_SCHEMA } from '../credential-records';
import { destroyCredentialsHandler } from '../handlers/destroy-credentials.handler';
import type { TVaultDeps } from '../handlers/deps';
import { revokeTokensHandler } from '../handlers/revoke-tokens.handler';

/** Tokens discarded: revoked where the provider can, destroyed in any case. */
export const discardedTokens = counter(
  'otesse_vault_discarded_tokens_total',
  'Tokens the vault revoked (where it could) and destroyed: refused authorizations (vault.tokens.discard), abandoned connects and credentials a store replaced.',
  [],
);

/**
 * A callback's staged tokens that nothing claimed or discarded in time, finished by the sweep: an edge that died
 * mid-callback (or whose discard failed). A rise says edges die while users connect.
 */
export const unclaimedStages = counter(
  'otesse_vault_unclaimed_stages_total',
  "A callback's staged tokens (vault.tokens.stage) nothing claimed or discarded in time, revoked (where safe) and destroyed by the discard sweep.",
  [],
);

export interface TDiscardSettings {
  /** How often every replica looks for discards nobody finished (a vault that stopped mid-way). */
  sweepIntervalMs: number;
  /** A discard younger than this is left to the replica that accepted it (it starts at once). */
  staleAfterMs: number;
}

export const DEFAULT_DISCARD_SETTINGS: TDiscardSettings = {
  sweepIntervalMs: 60_000,
  staleAfterMs: 30_000,
};

/**
 * Tokens to revoke and destroy, all of one connection id: a refused authorization's (`vault.tokens.discard`, under
 * a scratch id that is also the discard's), an abandoned connect's (its own id) or the ones a `store` with `replace`
 * took over (the connection's id, a discard id of their own).
 */
export interface TDiscard {
  /** Names the discard's revocation and destruction (their idempotency keys). */
  discardId: string;
  /** The connection id the tokens are stored under. */
  connectionId: string;
  orgId: string;
  vendor: string;
  /** Null: asked of the connection service when the revocation URL needs one. */
  subdomain: string | null;
  credentialIds: string[];
  /**
   * How long ago the discard was asked for when it was read, by the database's clock (0 for one just made): the
   * replica that sweeps it is not always the one that marked it, and their clocks may differ.
   */
  requestedMsAgo: number;
  /**
   * false: destroyed without a revocation (one that would end a grant a live connection uses, or that nobody can
   * tell is unused: an expired stage of a provider whose revocation ends the whole grant). Default true.
   */
  revoke?: boolean;
  /**
   * An abandoned connect's: before revoking at a provider whose revocation ends the user's whole grant (Google), the
   * connection service is asked whether a live connection, of any org, holds the same account; if one does, the
   * tokens are destroyed only. Ignored when `revoke` is given.
   */
  abandoned?: boolean;
}

/**
 * The discards of credential rows just marked for discarding: one per discard id (the connection's own id where a
 * row has none), its provider the rows'.
 */
export function discardsOf(
  rows: readonly { id: string; vendor: string; discard_id: string | null }[],
  of: { connectionId: string; orgId: string; subdomain?: string | null },
): TDiscard[] {
  const out = new Map<string, TDiscard>();
  for (const r of rows) {
    const discardId = r.discard_id ?? of.connectionId;
    const d = out.get(discardId) ?? {
      discardId,
      connectionId: of.connectionId,
      orgId: of.orgId,
      vendor: r.vendor,
      subdomain: of.subdomain ?? null,
      credentialIds: [],
      requestedMsAgo: 0,
    };
    d.credentialIds.push(r.id);
    out.set(discardId, d);
  }
  return [...out.values()];
}

/**
 * A revocation that keeps failing with an error (not a provider's refusal, which is a warning) is retried by the
 * sweep this long; then the tokens are destroyed without it: destroyed is the promise, revoked the best effort.
 */
export const REVOKE_GIVE_UP_MS = 10 * 60_000;

/** Per provider call, as a disconnect's revocation. */
const REVOKE_TIMEOUT_MS = 3_000;

/**
 * Revokes and destroys the tokens handed over by `vault.tokens.discard`, through the same code as the disconnect's
 * revocation and destruction, under keys derived from the discard (`discard:<id>:revoke`, `…:destroy`): a second
 * run — another replica's sweep, a restart — replays instead of calling the provider again. Run by the handler
 * that accepted the discard before it answers; the sweep finishes the ones a failure or a stopped vault left.
 */
export class TokenDiscarder {
  private readonly revoke: ReturnType<typeof revokeTokensHandler>;
  private readonly destroy: ReturnType<typeof destroyCredentialsHandler>;
  private readonly inFlight = new Map<string, Promise<{ destroyed: number }>>();
  private task: TPeriodicTask<number> | undefined;

  constructor(
    private readonly deps: Pick<TVaultDeps, 'orm' | 'keys' | 'catalogue' | 'logger' | 'bus'>,
    private readonly settings: TDiscardSettings,
  ) {
    this.revoke = revokeTokensHandler(deps);
    this.destroy = destroyCredentialsHandler(deps);
  }

  /** Revokes, then destroys (whatever the revocation's outcome: the tokens must not stay). Joins a run in flight. */
  finish(d: TDiscard, ctx: TMessageContext): Promise<{ destroyed: number }> {
    let run = this.inFlight.get(d.discardId);
    if (!run) {
      run = this.revokeAndDestroy(d, ctx).finally(() => this.inFlight.delete(d.discardId));
      this.inFlight.set(d.discardId, run);
    }
    return run;
  }

  /**
   * `finish` for a caller whose own work is done once the tokens are marked: a failure is logged and left to the
   * sweep. The number destroyed, or undefined when it was left.
   */
  async finishOrLeave(d: TDiscard, ctx: TMessageContext): Promise<number | undefined> {
    try {
      return (await this.finish(d, ctx)).destroyed;
    } catch (err) {
      this.deps.logger.warn(
        { err, discardId: d.discardId, connectionId: d.connectionId, traceId: ctx.traceId },
        'revoking or destroying discarded tokens failed; the sweep finishes it',
      );
      return undefined;
    }
  }

  private async revokeAndDestroy(
    d: TDiscard,
    ctx: TMessageContext,
  ): Promise<{ destroyed: number }> {
    const report = !(await this.mayRevoke(d, ctx))
      ? undefined
      : await this.revoke(
          {
            orgId: d.orgId,
            connectionId: d.connectionId,
            vendor: d.vendor,
            ...(d.subdomain ? { subdomain: d.subdomain } : {}),
            idempotencyKey: `discard:${d.discardId}:revoke`,
            timeoutMs: REVOKE_TIMEOUT_MS,
            credentialIds: d.credentialIds,
          },
          ctx,
        ).catch((err: unknown) => {
          // Another replica's revocation in flight, the database away: the sweep tries again, for a while.
          const transient = err instanceof AppError && err.retryable;
          if (transient && d.requestedMsAgo < REVOKE_GIVE_UP_MS) throw err;
          this.deps.logger.warn(
            { err, discardId: d.discardId, traceId: ctx.traceId },
            'revoking discarded tokens failed; they are destroyed without it',
          );
          return undefined;
        });
    const { destroyed } = await this.destroy(
      {
        orgId: d.orgId,
        connectionId: d.connectionId,
        idempotencyKey: `discard:${d.discardId}:destroy`,
        credentialIds: d.credentialIds,
      },
      ctx,
    );
    if (destroyed > 0) discardedTokens.inc(destroyed);
    this.deps.logger.info(
      {
        discardId: d.discardId,
        orgId: d.orgId,
        vendor: d.vendor,
        revoked: report ? report.supported && report.succeeded : false,
        warnings: report?.warnings ?? ['not revoked'],
        destroyed,
        traceId: ctx.traceId,
      },
      'discarded tokens revoked and destroyed',
    );
    return { destroyed };
  }

  /**
   * Whether to revoke a discard's tokens at the provider. An abandoned connect of a provider whose revocation ends
   * the user's whole grant (one OAuth client per vendor for the deployment: the same account in another org, or in
   * another slot, shares it) is revoked only when no live connection holds its account. A lookup that fails is
   * tried again by the sweep while the discard is young (the error is thrown), then the tokens are destroyed only:
   * not revoking is the error that harms no one.
   */
  private async mayRevoke(d: TDiscard, ctx: TMessageContext): Promise<boolean> {
    if (d.revoke !== undefined) return d.revoke;
    if (!d.abandoned || !this.deps.catalogue.revokesWholeGrant(d.vendor)) return true;
    try {
      const { connection } = await this.deps.bus.request(
        'connection.connections.get',
        { orgId: d.orgId, connectionId: d.connectionId },
        { timeoutMs: 2_000, ctx: { traceId: ctx.traceId } },
      );
      if (connection.externalAccountId === null) return false;
      const { holders } = await this.deps.bus.request(
        'connection.accounts.grant-holders',
        {
          orgId: d.orgId,
          vendor: d.vendor,
          externalAccountId: connection.externalAccountId,
          exceptConnectionId: d.connectionId,
        },
        { timeoutMs: 3_000, ctx: { traceId: ctx.traceId } },
      );
      const inUse = holders.pending + holders.connected + holders.disconnecting > 0;
      if (inUse) {
        this.deps.logger.info(
          { discardId: d.discardId, vendor: d.vendor, traceId: ctx.traceId },
          "abandoned connect's tokens not revoked: the provider would end the account's whole grant, which a live connection uses",
        );
      }
      return !inUse;
    } catch (err) {
      if (d.requestedMsAgo < REVOKE_GIVE_UP_MS) throw err;
      this.deps.logger.warn(
        { err, discardId: d.discardId, traceId: ctx.traceId },
        'whether a live connection shares the grant stayed unknown; the tokens are destroyed without revoking',
      );
      return false;
    }
  }

  /** The discards older than `staleAfterMs` still holding tokens, finished one after the other. */
  async sweep(task: { readonly stopped: boolean } = { stopped: false }): Promise<number> {
    const knex = this.deps.orm.em.getConnection().getKnex();
    const rows = (
      await knex.raw(
        `select coalesce(discard_id, connection_id) as discard_id, connection_id, org_id, vendor,
                discard_subdomain, array_agg(id order by id) as ids,
                bool_or(staged_until is not null) as staged,
                bool_or(discard_id is not null) as replaced,
                exists (select 1 from ${VAULT_DB_SCHEMA}.closed_connection cc
                         where cc.connection_id = credential.connection_id) as abandoned,
                extract(epoch from now() - min(discard_requested_at)) * 1000 as requested_ms_ago
           from ${VAULT_DB_SCHEMA}.credential
          where discard_requested_at is not null and is_deleted = false
            and discard_requested_at < now() - make_interval(secs => ?::float8 / 1000)
          group by coalesce(discard_id, connection_id), connection_id, org_id, vendor, discard_subdomain
          limit 100`,
        [this.settings.staleAfterMs],
      )
    ).rows as {
      discard_id: string;
      connection_id: string;
      org_id: string;
      vendor: string;
      discard_subdomain: string | null;
      ids: string[];
      staged: boolean;
      /** Taken out of use by a store with `replace` (a discard id of their own). */
      replaced: boolean;
      abandoned: boolean;
      requested_ms_ago: string | number;
    }[];
    let finished = 0;
    for (const r of rows) {
      if (task.stopped) break;
      try {
        await this.finish(
          {
            discardId: r.discard_id,
            connectionId: r.connection_id,
            orgId: r.org_id,
            vendor: r.vendor,
            subdomain: r.discard_subdomain,
            credentialIds: r.ids,
            requestedMsAgo: Number(r.requested_ms_ago),
            // A stage never claimed, of a provider whose revocation ends the user's whole grant (Google): a live
            // connection of the same account may share that grant, which the vault cannot tell. Destroyed only.
            // A replace's, of such a provider: the store that replaced them did not revoke either (the new tokens
            // may be of the same grant).
            ...((r.staged || r.replaced) && this.deps.catalogue.revokesWholeGrant(r.vendor)
              ? { revoke: false }
              : {}),
            abandoned: r.abandoned,
          },
          { traceId: newTraceId() },
        );
        if (r.staged) unclaimedStages.inc();
        finished += 1;
      } catch (err) {
        // Another replica holds its revocation (revocation_in_progress), or the database is away: next sweep.
        this.deps.logger.warn({ err, discardId: r.discard_id }, 'discard left to the next sweep');
      }
    }
    return finished;
  }

  /** The periodic sweep; its first run now. */
  start(logger: Logger): TPeriodicTask<number> {
    this.task ??= startPeriodicTask({
      what: 'discard sweep',
      delayMs: this.settings.sweepIntervalMs,
      logger,
      run: (task) => this.sweep(task),
    });
    void this.task.runOnce().catch(() => undefined);
    return this.task;
  }

  async stop(): Promise<void> {
    await this.task?.stop();
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
