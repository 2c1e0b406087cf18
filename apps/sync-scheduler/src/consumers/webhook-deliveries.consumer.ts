import type { NatsConnection } from 'nats';
import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import type { TWebhookReceivedEvent } from '@otesse/contracts';
import type { Logger } from '@otesse/logging';
import { consumeDurable, type TConsumerHandle } from '@otesse/messaging';
import { counter } from '@otesse/telemetry';
import type { SyncEngine } from '../engine/sync-engine';
import { SYNC_SCHEMA_NAME as S } from '../sync-job.rows';

/** Runs requested by provider webhooks; deliveries that found the run already requested add nothing. */
export const webhookRunsRequested = counter(
  'otesse_sync_webhook_runs_requested_total',
  'Sync runs requested by integrations.webhook.received (an enabled job of the instance, not already requested).',
  ['vendor'],
);

/** The scheduler's durable consumer of accepted webhook deliveries on the INTEGRATIONS stream. */
export const WEBHOOK_DELIVERIES_DURABLE = 'sync-scheduler-webhooks';

/**
 * A webhook says the instance's data changed at the provider: each enabled job of the instance (in its org) gets a
 * run requested, as `jobs.run-now` does — the claim picks it up ahead of schedule, after a running execution ends
 * (which may have read past the change). Only jobs with no request yet are touched, so a burst of deliveries, or a
 * redelivery, coalesces into the one run already requested. Disabled jobs (a disconnect's, a user's) are never
 * woken. Returns the jobs it requested a run for.
 */
export async function requestRunsForWebhook(
  knex: Knex,
  event: Pick<TWebhookReceivedEvent, 'orgId' | 'instanceId'>,
): Promise<string[]> {
  const rows = (
    await knex.raw(
      `update ${S}.sync_job
          set run_requested_at = now(), updated_at = now()
        where org_id = ? and instance_id = ? and is_enabled and run_requested_at is null
        returning id`,
      [event.orgId, event.instanceId],
    )
  ).rows as { id: string }[];
  return rows.map((r) => r.id);
}

/** Consumes `integrations.webhook.received`; a failure (database down) is redelivered later. */
export function consumeWebhookDeliveries(deps: {
  nc: NatsConnection;
  orm: MikroORM;
  engine: Pick<SyncEngine, 'wake'>;
  logger: Logger;
}): Promise<TConsumerHandle> {
  const knex = deps.orm.em.getConnection().getKnex();
  return consumeDurable(deps.nc, {
    stream: 'WEBHOOKS',
    durable: WEBHOOK_DELIVERIES_DURABLE,
    subjects: ['integrations.webhook.received'],
    logger: deps.logger,
    batch: 64,
    handler: async (event, { ctx }) => {
      const jobIds = await requestRunsForWebhook(knex, event);
      if (jobIds.length > 0) {
        webhookRunsRequested.labels(event.vendor).inc(jobIds.length);
        // This replica claims at once; the others see the requests on their next tick.
        deps.engine.wake();
      }
      // Never the body: it is the provider's payload (personal data, perhaps secrets).
      deps.logger.info(
        {
          orgId: event.orgId,
          instanceId: event.instanceId,
          vendor: event.vendor,
          deliveryId: event.deliveryId,
          eventId: event.eventId,
          jobsRequested: jobIds.length,
          jobIds,
          traceId: ctx.traceId,
        },
        'webhook delivery: sync runs requested',
      );
    },
  });
}
