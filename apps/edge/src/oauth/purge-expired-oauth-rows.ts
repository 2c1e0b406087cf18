import type { Knex } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import { startPeriodicTask, type TPeriodicTask } from '@otesse/runtime';
import { purgeSeenDeliveries, WEBHOOK_DEDUPE_RETENTION_MS } from '../webhooks/seen-deliveries';

/** How often each edge removes what OAuth flows left behind (every replica may: a delete is harmless twice). */
export const OAUTH_PURGE_INTERVAL_MS = 10 * 60_000;
/**
 * A pending authorization is kept this long past its expiry: its outcome (`connected`, `failed:<reason>`, never
 * used) is what support reads when a user says a connect did not work.
 */
export const PENDING_AUTHORIZATION_KEEP_MS = 24 * 3_600_000;
/** Rows deleted per statement, so a large backlog never holds many row locks at once. */
const BATCH = 5_000;

/**
 * Deletes grant's sessions past their expiry (a browser's state, nonce and PKCE verifier: useless once expired, and
 * written for every flow, finished or not) and pending authorizations a day past theirs. In the database's time,
 * as they were dated. Returns how many of each.
 */
export async function purgeExpiredOAuthRows(
  knex: Knex,
  keepPendingMs = PENDING_AUTHORIZATION_KEEP_MS,
): Promise<{ sessions: number; authorizations: number }> {
  const purge = async (table: string, olderThanMs: number): Promise<number> => {
    let total = 0;
    for (;;) {
      const res = await knex.raw<{ rowCount: number }>(
        `delete from edge.${table} where ctid = any(array(
           select ctid from edge.${table}
            where expires_at < now() - ? * interval '1 millisecond' limit ${BATCH}))`,
        [olderThanMs],
      );
      total += res.rowCount;
      if (res.rowCount < BATCH) return total;
    }
  };
  return {
    sessions: await purge('oauth_session', 0),
    authorizations: await purge('pending_authorization', keepPendingMs),
  };
}

/**
 * The periodic purge of one edge (its first run one interval after the start): what OAuth flows left behind, and
 * the records of webhook deliveries first received more than `webhookRetentionMs` ago.
 */
export function startOAuthPurge(
  knex: () => Knex,
  logger: Logger,
  intervalMs = OAUTH_PURGE_INTERVAL_MS,
  webhookRetentionMs = WEBHOOK_DEDUPE_RETENTION_MS,
): TPeriodicTask<void> {
  return startPeriodicTask({
    what: 'purging expired OAuth sessions and webhook delivery records',
    delayMs: intervalMs,
    logger,
    run: async () => {
      const n = await purgeExpiredOAuthRows(knex());
      if (n.sessions + n.authorizations > 0) logger.info(n, 'expired OAuth rows deleted');
      const deliveries = await purgeSeenDeliveries(knex(), webhookRetentionMs);
      if (deliveries > 0) logger.info({ deliveries }, 'old webhook delivery records deleted');
    },
  });
}
