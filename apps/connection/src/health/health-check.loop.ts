import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import type { Bus } from '@otesse/messaging';
import { startPeriodicTask, type TPeriodicTask } from '@otesse/runtime';
import { resolveProviderUrl, type Catalogue } from '@otesse/providers';
import { SCHEMA } from '../store/connection.store';
import { probeProvider, type TProbeResult } from './provider-probe';

export interface THealthCheckSettings {
  /** Between two checks of one instance. */
  intervalMs: number;
  /** One provider call (the vault's token request gets at least 6 s). */
  timeoutMs: number;
  /** Instances claimed per tick. */
  batch: number;
  /** Checks running at once per replica. */
  concurrency: number;
}

export const DEFAULT_HEALTH_CHECKS: THealthCheckSettings = {
  intervalMs: 5 * 60_000,
  timeoutMs: 5_000,
  batch: 50,
  concurrency: 8,
};

interface TDueCheck {
  instance_id: string;
  org_id: string;
  vendor: string;
  config: { subdomain?: string };
  connection_id: string | null;
}

/**
 * The periodic health checks (issue 4 "Health"): every tick, claims the instances whose check is due among those
 * with checks enabled (a disconnect that revokes the instance disables them), moving their next check one interval
 * ahead in the same statement (`FOR UPDATE SKIP LOCKED`: replicas split the work, none checks an instance twice
 * per interval), then probes each through one of its connected connections (the app-level one first). The verdict
 * is written only while checks are still enabled and that connection still connected, so a disconnect that
 * happened meanwhile (health `unknown`) is never overwritten. A connection flagged refreshTokenExpired shows at best
 * `degraded` (detail `refresh_token_expired`); once its access token has expired too the vault refuses a token and
 * the verdict is `unhealthy` (same detail). Flagging and reconnecting make the next check due at once. Returns the
 * stopper.
 */
export function startHealthChecks(deps: {
  orm: MikroORM;
  bus: Bus;
  catalogue: Catalogue;
  logger: Logger;
  settings: THealthCheckSettings;
}): TPeriodicTask<number> {
  const { settings, logger } = deps;
  const knex = deps.orm.em.getConnection().getKnex();

  const claim = async (): Promise<TDueCheck[]> => {
    const { rows } = (await knex.raw(
      `with due as (
         select h.id from "${SCHEMA}"."integration_health" h
          where h.checks_enabled and (h.next_check_at is null or h.next_check_at <= now())
          order by h.next_check_at nulls first
          limit ? for update skip locked)
       update "${SCHEMA}"."integration_health" h
          set next_check_at = now() + (? * interval '1 millisecond')
         from due, "${SCHEMA}"."integration_instance" i
        where h.id = due.id and i.id = h.instance_id
       returning h.instance_id, i.org_id, i.vendor, i.config,
         (select c.id from "${SCHEMA}"."integration_connection" c
           where c.instance_id = h.instance_id and c.status = 'connected'
           order by (c.level = 'app') desc, c.refresh_token_expired, c.connected_at desc, c.id
           limit 1) as connection_id`,
      [settings.batch, settings.intervalMs],
    )) as { rows: TDueCheck[] };
    return rows;
  };

  const checkOne = async (due: TDueCheck): Promise<void> => {
    if (!due.connection_id || !deps.catalogue.has(due.vendor)) return;
    const def = deps.catalogue.get(due.vendor);
    // API-key providers without a data API (Postmark) have nothing to probe.
    if (!def.dataApi) return;
    let result: TProbeResult;
    try {
      const url = `${resolveProviderUrl(def.dataApi.baseUrl, due.config.subdomain).replace(/\/$/, '')}${def.dataApi.healthPath}`;
      result = await probeProvider(deps.bus, {
        orgId: due.org_id,
        connectionId: due.connection_id,
        url,
        timeoutMs: settings.timeoutMs,
        degradedAfterMs: Math.max(settings.timeoutMs / 2, 1),
      });
    } catch (e) {
      logger.warn({ err: e, instanceId: due.instance_id }, 'health check failed to run');
      return;
    }
    if (result.status === undefined) return;
    result = await withExpiryFlag(due.connection_id, result);
    await knex('integration_health')
      .withSchema(SCHEMA)
      .where({ instance_id: due.instance_id, checks_enabled: true })
      .whereExists(
        knex('integration_connection')
          .withSchema(SCHEMA)
          .where({ id: due.connection_id, status: 'connected' })
          .select(knex.raw('1')),
      )
      .update({
        status: result.status,
        checked_at: knex.fn.now(),
        detail: result.detail,
        updated_at: knex.fn.now(),
      });
  };

  /**
   * A provider that still answers is at best `degraded` while the probed connection's refresh token is known dead
   * (seed 003): its access token works only until it expires, then syncing stops — the admin must reconnect.
   */
  const withExpiryFlag = async (connectionId: string, r: TProbeResult): Promise<TProbeResult> => {
    if (r.status !== 'healthy' && r.status !== 'degraded') return r;
    const row = (await knex('integration_connection')
      .withSchema(SCHEMA)
      .where({ id: connectionId })
      .first('refresh_token_expired')) as { refresh_token_expired: boolean } | undefined;
    return row?.refresh_token_expired ? { status: 'degraded', detail: 'refresh_token_expired' } : r;
  };

  return startPeriodicTask({
    what: 'health check tick',
    delayMs: Math.min(settings.intervalMs, 1_000),
    logger,
    run: async (task): Promise<number> => {
      const due = await claim();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < due.length && !task.stopped) {
          const item = due[next++]!;
          await checkOne(item).catch((e: unknown) =>
            logger.warn({ err: e, instanceId: item.instance_id }, 'health check write failed'),
          );
        }
      };
      await Promise.all(Array.from({ length: Math.min(settings.concurrency, due.length) }, worker));
      return due.length;
    },
  });
}
