import type { Knex } from '@mikro-orm/postgresql';
import { isAppError, type TSyncExecutionStatus } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import type { Bus } from '@otesse/messaging';
import { resolveProviderUrl, type Catalogue } from '@otesse/providers';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';
import type { TClaimedExecution } from './claim';
import { DataApiError, fetchPage, type TPage } from './data-api.client';
import type { ExecutionControl } from './execution-control';
import { writeBatch, type TBatchRecord } from './write-batch';

export interface TRunnerDeps {
  knex: Knex;
  bus: Bus;
  catalogue: Catalogue;
  logger: Logger;
  /** This replica's lease owner id. */
  owner: string;
  leaseMs: number;
  heartbeatMs: number;
  /** Overrides the catalogue's dataApi.pageSize. */
  pageSize: number | undefined;
  pageTimeoutMs: number;
}

/** How a run ended for this runner (`released`: handed back on a graceful stop; `lost`: taken from it). */
export type TRunResult = Exclude<TSyncExecutionStatus, 'running'> | 'released' | 'lost';

type TEnd = { end: 'skipped' | 'failed'; reason: string; error: string };
interface TGo {
  baseUrl: string;
  accessToken: string;
  /** The vault's name for the token (sent back when the provider refuses it); absent from an older vault. */
  fingerprint: string | undefined;
  pageSize: number;
  mappings: { local_field: string; remote_field: string }[];
}

/** The vault could not hand out a usable token after a refusal: the run ends with the vault's reason. */
class TokenUnavailable extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'TokenUnavailable';
  }
}

const isAbort = (e: unknown) =>
  e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');

type TSettled<T> = { ok: true; value: T } | { ok: false; error: unknown };
/** A promise that never rejects: a prefetched page may fail while nobody awaits it yet. */
const settle = <T>(p: Promise<T>): Promise<TSettled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

function readPath(value: unknown, path: string): unknown {
  let cur = value;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * Runs one claimed execution to its end: checks the connection (never calls a provider for a connection that is
 * not `connected` or whose refresh token expired), gets an access token from the vault, then reads the data API page
 * by page — the next page is fetched while the current one is written — one transaction per page (write-batch.ts).
 * Between pages it honours a cancel (NATS signal or the execution row), a graceful stop (release the lease, another
 * replica resumes from the saved cursor) and a lost lease. A heartbeat renews the lease while a page is slow.
 *
 * Records written here belong to the org and the instance, not to the connection: a disconnect keeps them in full
 * and marks their references `stale`; the next successful sync of the resource by a connection of the same slot
 * (the reconnection) turns those stale references `synced` again — another user's sync only its own.
 */
export async function runExecution(
  deps: TRunnerDeps,
  claim: TClaimedExecution,
  ctl: ExecutionControl,
): Promise<TRunResult> {
  const log = deps.logger.child({
    executionId: claim.executionId,
    jobId: claim.jobId,
    resource: claim.resource,
  });
  const mine = { id: claim.executionId, owner: deps.owner };
  let done = false;
  const heartbeat = setInterval(() => {
    void deps.knex
      .raw(
        `update ${S}.sync_execution set lease_expires_at = now() + ? * interval '1 millisecond', updated_at = now()
          where id = ? and status = 'running' and lease_owner = ? returning id`,
        [deps.leaseMs, mine.id, mine.owner],
      )
      .then((r: { rows: unknown[] }) => {
        if (r.rows.length === 0 && !done) ctl.lose();
      })
      .catch((err: unknown) => log.warn({ err }, 'lease heartbeat failed'));
  }, deps.heartbeatMs);

  /** Ends a running execution this runner still holds; anything else (cancelled meanwhile) is left alone. */
  const end = async (status: 'skipped' | 'failed', reason: string, error: string) => {
    const r = await deps.knex.raw(
      `update ${S}.sync_execution
          set status = ?, completed_at = now(), error_reason = ?, error = ?, updated_at = now()
        where id = ? and status = 'running' and lease_owner = ? returning id`,
      [status, reason, error.slice(0, 2000), mine.id, mine.owner],
    );
    if (r.rows.length === 0) return ctl.cancelled ? 'cancelled' : 'lost';
    log.info({ status, reason }, 'sync execution ended');
    return status;
  };

  const release = async (): Promise<TRunResult> => {
    await deps.knex.raw(
      `update ${S}.sync_execution set lease_owner = null, lease_expires_at = now(), updated_at = now()
        where id = ? and status = 'running' and lease_owner = ?`,
      [mine.id, mine.owner],
    );
    return 'released';
  };

  const succeed = async (): Promise<TRunResult> =>
    deps.knex.transaction(async (trx) => {
      // The job's row lock before the execution's, in the order the disconnect's disable-for-connection takes
      // them (jobs, then executions): the opposite order deadlocks with a disconnect at the end of a sync.
      await trx.raw(`select 1 from ${S}.sync_job where id = ? for update`, [claim.jobId]);
      const row = (
        await trx.raw(
          `select status, lease_owner from ${S}.sync_execution where id = ? for update`,
          [mine.id],
        )
      ).rows[0] as { status: string; lease_owner: string | null } | undefined;
      if (row?.status !== 'running' || row.lease_owner !== mine.owner) {
        return row?.status === 'cancelled' ? 'cancelled' : 'lost';
      }
      // A complete read of the resource: the references this connection synced last, and those of the earlier
      // connections of its slot (a reconnection), still `stale` from a disconnect are current again (seed: "updated
      // to synced after the next successful sync"). Another user's references are not: this sync did not cover
      // them. One row per connection of the slot moves its restore time (the view derives the rest); their
      // last_synced_at keeps saying when the provider last returned them. The count reads the statement's
      // snapshot, before the restore. Without a mark since the slot's last restore nothing can be stale, and the
      // scan is skipped (the common case).
      const { restored } = (
        await trx.raw(
          `with slot as (
             select cast(? as uuid) as connection_id
             union
             select l.ancestor_id from ${S}.connection_lineage l
              where l.connection_id = ? and l.instance_id = ? and l.org_id = ?
           ), stale as (
             select count(*)::int as n from ${S}.external_reference_state
              where org_id = ? and instance_id = ? and resource = ? and status = 'stale'
                and connection_id in (select connection_id from slot)
                and exists (
                  select 1 from slot s
                    left join ${S}.reference_restore x
                           on x.instance_id = ? and x.connection_id = s.connection_id and x.resource = ?
                    join ${S}.reference_stale_mark m
                      on m.instance_id = ? and (m.connection_id is null or m.connection_id = s.connection_id)
                     and m.stale_since > coalesce(x.restored_at, '-infinity'))
           ), restore as (
             insert into ${S}.reference_restore (instance_id, connection_id, resource, org_id, restored_at)
             select ?, connection_id, ?, ?, now() from slot
             on conflict (instance_id, connection_id, resource) do update set restored_at = excluded.restored_at
           )
           select n as restored from stale`,
          [
            claim.connectionId,
            claim.connectionId,
            claim.instanceId,
            claim.orgId,
            claim.orgId,
            claim.instanceId,
            claim.resource,
            claim.instanceId,
            claim.resource,
            claim.instanceId,
            claim.instanceId,
            claim.resource,
            claim.orgId,
          ],
        )
      ).rows[0] as { restored: number };
      await trx.raw(
        `update ${S}.sync_execution
            set status = 'succeeded', completed_at = now(), updated_at = now(), cursor = null,
                references_restored = references_restored + ?
          where id = ?`,
        [restored, mine.id],
      );
      await trx.raw(
        `update ${S}.sync_job set last_run_at = now(), updated_at = now() where id = ?`,
        [claim.jobId],
      );
      log.info({ referencesRestored: restored }, 'sync execution succeeded');
      return 'succeeded';
    });

  const preflight = async (): Promise<TEnd | TGo> => {
    // A takeover that already wrote batches did start: it fails rather than pretending it was skipped.
    const notStarted = (reason: string, error: string): TEnd => ({
      end: claim.takeover && claim.batches > 0 ? 'failed' : 'skipped',
      reason,
      error,
    });
    const fail = (reason: string, error: string): TEnd => ({ end: 'failed', reason, error });
    const ctx = { ctx: { orgId: claim.orgId } };
    let found;
    try {
      found = await deps.bus.request(
        'connection.connections.get',
        { orgId: claim.orgId, connectionId: claim.connectionId },
        ctx,
      );
    } catch (e) {
      if (isAppError(e) && e.code === 'NOT_FOUND') {
        return notStarted('connection_not_found', 'the connection no longer exists');
      }
      return fail('connection_unavailable', 'the connection service did not answer');
    }
    const { connection, instance } = found;
    if (connection.status !== 'connected') {
      return notStarted(
        `connection_${connection.status}`,
        `the connection is ${connection.status}`,
      );
    }
    if (connection.refreshTokenExpired) {
      return notStarted(
        'refresh_token_expired',
        'the refresh token expired: the connection must be reconnected',
      );
    }
    if (connection.instanceId !== claim.instanceId) {
      return fail('connection_mismatch', 'the connection belongs to another instance');
    }
    const def = deps.catalogue.has(claim.vendor) ? deps.catalogue.get(claim.vendor) : undefined;
    if (!def?.dataApi) return fail('no_data_api', `${claim.vendor} has no data API`);
    if (!def.dataApi.resources.includes(claim.resource)) {
      return fail('resource_not_supported', `${claim.vendor} does not offer ${claim.resource}`);
    }
    let baseUrl: string;
    try {
      baseUrl = resolveProviderUrl(def.dataApi.baseUrl, instance.config.subdomain);
    } catch (e) {
      return fail(
        (isAppError(e) && e.reason) || 'subdomain_required',
        'the instance has no valid subdomain',
      );
    }
    let accessToken: string;
    let fingerprint: string | undefined;
    try {
      ({ accessToken, fingerprint } = await deps.bus.request(
        'vault.access-tokens.get',
        { orgId: claim.orgId, connectionId: claim.connectionId },
        ctx,
      ));
    } catch (e) {
      if (isAppError(e) && e.code === 'PRECONDITION_FAILED') {
        // The vault's message says which (expired, refused and not renewed yet — with when it will be —, …).
        return fail(e.reason ?? 'access_token_expired', e.message);
      }
      if (isAppError(e) && e.code === 'NOT_FOUND') {
        return fail('no_active_credential', 'the connection has no active access token');
      }
      return fail('vault_unavailable', 'the vault did not hand out an access token');
    }
    const mappings = (await deps.knex
      .withSchema(S)
      .from('field_mapping')
      .where({ org_id: claim.orgId, instance_id: claim.instanceId, resource: claim.resource })
      .orderBy('local_field')
      .select('local_field', 'remote_field')) as TGo['mappings'];
    return {
      baseUrl,
      accessToken,
      fingerprint,
      pageSize: deps.pageSize ?? def.dataApi.pageSize,
      mappings,
    };
  };

  const readPages = async (go: TGo): Promise<TRunResult> => {
    let token = go.accessToken;
    let fingerprint = go.fingerprint;
    let refetchedToken = false;
    /**
     * One retry per run after a 401: the vault is told the token was refused (its fingerprint, never the token), so
     * it refreshes it even before its recorded expiry — once, however many runs refuse it together — or answers the
     * newer token another caller already got. A 401 again with the new token ends the run: no loop of refreshes
     * against a provider that refuses every token (wrong scopes, an app no longer authorised).
     */
    const renewToken = async (refusal: DataApiError): Promise<void> => {
      let again;
      try {
        again = await deps.bus.request('vault.access-tokens.get', {
          orgId: claim.orgId,
          connectionId: claim.connectionId,
          ...(fingerprint === undefined ? {} : { refusedFingerprint: fingerprint }),
        });
      } catch (e) {
        if (isAppError(e) && (e.code === 'PRECONDITION_FAILED' || e.code === 'NOT_FOUND')) {
          // e.g. refresh_token_expired: the vault flagged the connection, the dashboard asks for a reconnect.
          throw new TokenUnavailable(
            e.reason ?? 'access_token_refused',
            `the provider refused the access token and the vault could not renew it (${e.reason ?? e.code})`,
          );
        }
        if (isAppError(e)) {
          throw new TokenUnavailable(
            e.reason ?? 'vault_unavailable',
            'the provider refused the access token and renewing it failed for now',
          );
        }
        throw refusal;
      }
      const same =
        again.accessToken === token ||
        (fingerprint !== undefined && again.fingerprint === fingerprint);
      if (same) throw refusal;
      token = again.accessToken;
      fingerprint = again.fingerprint;
    };
    const get = async (cursor: string | null): Promise<TPage> => {
      const call = () =>
        fetchPage({
          baseUrl: go.baseUrl,
          resource: claim.resource,
          accessToken: token,
          cursor,
          limit: go.pageSize,
          signal: ctl.signal,
          timeoutMs: deps.pageTimeoutMs,
        });
      try {
        return await call();
      } catch (e) {
        if (
          !(e instanceof DataApiError) ||
          e.reason !== 'provider_unauthorized' ||
          refetchedToken
        ) {
          throw e;
        }
        refetchedToken = true;
        await renewToken(e);
        try {
          return await call();
        } catch (e2) {
          if (e2 instanceof DataApiError && e2.reason === 'provider_unauthorized') {
            throw new DataApiError(
              'provider_unauthorized',
              'data API answered 401 (token refused) with a freshly renewed token too: check the integration’s access at the provider',
            );
          }
          throw e2;
        }
      }
    };
    const toRecords = (items: Record<string, unknown>[]): TBatchRecord[] => {
      // One row per external id (a page repeating an id must not hit the same row twice in one upsert).
      const byId = new Map<string, TBatchRecord>();
      for (const item of items) {
        const externalId = String(item['id']);
        let data: Record<string, unknown> = item;
        if (go.mappings.length > 0) {
          data = {};
          for (const m of go.mappings) {
            const v = readPath(item, m.remote_field);
            if (v !== undefined) data[m.local_field] = v;
          }
        }
        byId.set(externalId, { externalId, data });
      }
      return [...byId.values()];
    };

    let cursor = claim.cursor;
    let pending = settle(get(cursor));
    for (;;) {
      const got = await pending;
      if (!got.ok) throw got.error;
      const page = got.value;
      if (page.nextCursor !== null && page.nextCursor === cursor) {
        throw new DataApiError('provider_bad_page', 'data API returned the same cursor again');
      }
      const more = page.nextCursor !== null && !ctl.cancelled && !ctl.stopping && !ctl.lost;
      // Prefetch: the provider prepares the next page while this one is written.
      const next = more ? settle(get(page.nextCursor)) : undefined;
      const out = await writeBatch(
        deps.knex,
        {
          executionId: mine.id,
          owner: mine.owner,
          leaseMs: deps.leaseMs,
          orgId: claim.orgId,
          instanceId: claim.instanceId,
          connectionId: claim.connectionId,
          resource: claim.resource,
        },
        {
          records: toRecords(page.items),
          fetched: page.items.length + page.skipped,
          fetchMs: page.fetchMs,
          nextCursor: page.nextCursor,
        },
      );
      if (out.kind === 'lost') {
        ctl.lose();
        return out.status === 'cancelled' ? 'cancelled' : 'lost';
      }
      if (page.nextCursor === null) return succeed();
      if (ctl.cancelled || ctl.lost) {
        ctl.abortFetches();
        return ctl.cancelled ? 'cancelled' : 'lost';
      }
      if (ctl.stopping) {
        ctl.abortFetches();
        return release();
      }
      cursor = page.nextCursor;
      pending = next ?? settle(get(cursor));
    }
  };

  try {
    if (ctl.cancelled) return 'cancelled';
    const pre = await preflight();
    if ('end' in pre) return await end(pre.end, pre.reason, pre.error);
    if (ctl.cancelled) return 'cancelled';
    if (ctl.stopping) return await release();
    return await readPages(pre);
  } catch (e) {
    // A prefetched page, if any, is of no use any more.
    ctl.abortFetches();
    if (ctl.lost) return 'lost';
    if (ctl.cancelled) return 'cancelled';
    try {
      if (ctl.stopping && isAbort(e)) return await release();
      if (e instanceof DataApiError || e instanceof TokenUnavailable) {
        return await end('failed', e.reason, e.message);
      }
      log.error({ err: e }, 'sync execution failed unexpectedly');
      return await end('failed', 'internal', 'the sync runner failed unexpectedly');
    } catch (err) {
      // The database is unreachable: the lease runs out and another replica takes the execution over.
      log.error({ err }, 'could not record the end of a sync execution');
      return 'lost';
    }
  } finally {
    done = true;
    clearInterval(heartbeat);
  }
}
