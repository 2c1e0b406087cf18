import { randomUUID } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';

/**
 * How long the edge remembers a delivery of a scheme that signs the body alone (QuickBooks, Xero: nothing in the
 * delivery dates it, so a copy verifies forever), EDGE_WEBHOOK_DEDUPE_RETENTION_MS: a replay of it within that time
 * is answered 202 and not published again. Providers retry for hours to a few days (Postmark about 10 hours, Xero
 * and HubSpot a day, Stripe-likes 3 days): 7 days covers them with room.
 */
export const WEBHOOK_DEDUPE_RETENTION_MS = 7 * 86_400_000;
/** How far a signed timestamp may be from the edge's clock (Slack and Zendesk advise 5 minutes). */
export const WEBHOOK_TIMESTAMP_TOLERANCE_MS = 5 * 60_000;
/**
 * How long the edge remembers a delivery whose timestamp was signed (Slack, HubSpot, Zendesk). A copy is refused
 * 401 (stale), before the record is read, once its timestamp is more than the tolerance from the edge's clock; the
 * first was taken within the tolerance of that same timestamp, so every copy that can still verify comes at most
 * twice the tolerance after it. Plus 5 minutes for edges' clocks apart from the database's (which dates the
 * record): 15 minutes. Keeping such records for the retention would only grow the table.
 */
export const WEBHOOK_TIMESTAMPED_RETENTION_MS = 2 * WEBHOOK_TIMESTAMP_TOLERANCE_MS + 5 * 60_000;
/**
 * A claim not marked published after this long was left by an edge that died between claiming and publishing (or
 * could not mark it): the next copy of the delivery takes it over and publishes it. Well above the publish's own
 * 5-second timeout, so a live claim is never taken over.
 */
export const WEBHOOK_CLAIM_TIMEOUT_MS = 60_000;
/** Rows deleted per statement, so a large backlog never holds many row locks at once. */
const PURGE_BATCH = 5_000;

/** What a delivery is known by: only what the provider signed, plus the endpoint it was sent to. */
export interface TDeliveryKey {
  endpointId: string;
  bodySha256: string;
  /** The timestamp the signature covers; '' for schemes that sign none. */
  signedTimestamp: string;
}

export type TClaim =
  /** Not seen before (or a dead edge's claim taken over): publish it, then `markPublished` or `release`. */
  | { kind: 'claimed'; claimId: string }
  /** Published already: a provider's retry or a replay. Answered 2xx, not published again. */
  | { kind: 'published'; firstReceivedAt: Date }
  /** Another request is publishing it right now: the caller answers "retry later". */
  | { kind: 'in_flight' }
  /** Not recorded at all (a scheme that signs nothing: basic credentials): publish it, nothing to mark. */
  | { kind: 'unrecorded' };

const where = (k: TDeliveryKey) => ({
  endpoint_id: k.endpointId,
  body_sha256: k.bodySha256,
  signed_timestamp: k.signedTimestamp,
});

/**
 * Claims a verified delivery in one statement: inserted when new; when the row exists, taken over only if its
 * claim is older than `WEBHOOK_CLAIM_TIMEOUT_MS` and was never published. The row always comes back (the update
 * keeps its values otherwise), so one round trip tells which of the three it is.
 */
export async function claimDelivery(knex: Knex, key: TDeliveryKey): Promise<TClaim> {
  const claimId = randomUUID();
  const { rows } = await knex.raw<{
    rows: { claim_id: string; published_at: Date | null; received_at: Date }[];
  }>(
    `insert into edge.webhook_delivery as d
       (endpoint_id, body_sha256, signed_timestamp, received_at, claim_id, claimed_at, published_at)
     values (?, ?, ?, now(), ?, now(), null)
     on conflict (endpoint_id, body_sha256, signed_timestamp) do update set
       claim_id = case when d.published_at is null and d.claimed_at < now() - ? * interval '1 millisecond'
                       then excluded.claim_id else d.claim_id end,
       claimed_at = case when d.published_at is null and d.claimed_at < now() - ? * interval '1 millisecond'
                         then now() else d.claimed_at end
     returning claim_id, published_at, received_at`,
    [
      key.endpointId,
      key.bodySha256,
      key.signedTimestamp,
      claimId,
      WEBHOOK_CLAIM_TIMEOUT_MS,
      WEBHOOK_CLAIM_TIMEOUT_MS,
    ],
  );
  const row = rows[0]!;
  if (row.claim_id === claimId) return { kind: 'claimed', claimId };
  if (row.published_at !== null)
    return { kind: 'published', firstReceivedAt: new Date(row.received_at) };
  return { kind: 'in_flight' };
}

/** The claim's delivery is on JetStream: from now on a copy of it is a duplicate. */
export async function markPublished(knex: Knex, key: TDeliveryKey): Promise<void> {
  await knex('webhook_delivery')
    .withSchema('edge')
    .where(where(key))
    .whereNull('published_at')
    .update({ published_at: knex.fn.now() });
}

/** The publish failed (the provider is answered 503 and retries): the retry must be able to claim it at once. */
export async function releaseClaim(knex: Knex, key: TDeliveryKey, claimId: string): Promise<void> {
  await knex('webhook_delivery')
    .withSchema('edge')
    .where({ ...where(key), claim_id: claimId })
    .whereNull('published_at')
    .delete();
}

/**
 * Deletes the records that can no longer matter, in bounded batches (any replica may run it, at any time: a delete
 * is harmless twice): those of timestamped deliveries first received more than `WEBHOOK_TIMESTAMPED_RETENTION_MS`
 * ago (their copies are refused as stale by then; the partial index `webhook_delivery_timestamped_received_at_idx`
 * finds them), then those of body-only ones (`signed_timestamp = ''`) first received more than `retentionMs` ago.
 * Dated by the database's clock, as they were stored.
 */
export async function purgeSeenDeliveries(knex: Knex, retentionMs: number): Promise<number> {
  const purge = async (signed: string, olderThanMs: number): Promise<number> => {
    let total = 0;
    for (;;) {
      const res = await knex.raw<{ rowCount: number }>(
        `delete from edge.webhook_delivery where ctid = any(array(
           select ctid from edge.webhook_delivery
            where ${signed} and received_at < now() - ? * interval '1 millisecond' limit ${PURGE_BATCH}))`,
        [olderThanMs],
      );
      total += res.rowCount;
      if (res.rowCount < PURGE_BATCH) return total;
    }
  };
  return (
    (await purge(`signed_timestamp <> ''`, WEBHOOK_TIMESTAMPED_RETENTION_MS)) +
    (await purge(`signed_timestamp = ''`, retentionMs))
  );
}
