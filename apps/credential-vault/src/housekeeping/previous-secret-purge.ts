import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '@otesse/logging';
import { purgeExpiredPreviousSecrets } from '../webhook-secret-rows';

/** How often replaced webhook secrets past their grace are destroyed (they are refused from the moment they expire). */
export const PREVIOUS_SECRET_PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * Destroys replaced webhook secrets once their grace is over, so none lingers (encrypted) on an instance nobody
 * touches again. Verification ignores them from their expiry on; this only removes the rows. The first purge is
 * done when this resolves (at the service's start); resolves with the stop.
 */
export async function startPreviousSecretPurge(
  orm: MikroORM,
  logger: Logger,
  intervalMs = PREVIOUS_SECRET_PURGE_INTERVAL_MS,
): Promise<() => Promise<void>> {
  let running: Promise<void> = Promise.resolve();
  const purge = (): void => {
    running = purgeExpiredPreviousSecrets(orm.em.getConnection().getKnex())
      .then((n) => {
        if (n > 0) logger.info({ purged: n }, 'expired previous webhook secrets destroyed');
      })
      .catch((err: unknown) => logger.warn({ err }, 'purging expired webhook secrets failed'));
  };
  purge();
  await running;
  const timer = setInterval(purge, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
