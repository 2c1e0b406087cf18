import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';

/**
 * Keeps the newest refusal of a delivery to an endpoint (when, why), so the dashboard can tell an admin setting
 * webhooks up what goes wrong. Only the org's endpoint of that instance; never moves back (refusals may arrive out
 * of order from several edge replicas). Nothing of the delivery is stored: anyone on the internet can send one.
 */
export function recordWebhookRefusalHandler(
  orm: MikroORM,
): THandler<'connection.webhook-endpoints.record-refusal'> {
  return async (req) => {
    const updated = (await orm.em
      .getConnection()
      .getKnex()
      .raw(
        `update "connection".webhook_endpoint as e
            set last_refused_at = ?::timestamptz, last_refusal_reason = ?
           from "connection".integration_instance as i
          where e.id = ? and e.instance_id = ? and i.id = e.instance_id and i.org_id = ?
            and (e.last_refused_at is null or e.last_refused_at < ?::timestamptz)`,
        [req.at, req.reason, req.endpointId, req.instanceId, req.orgId, req.at],
      )) as { rowCount: number | null };
    return { recorded: (updated.rowCount ?? 0) > 0 };
  };
}
