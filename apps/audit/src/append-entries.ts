import type { MikroORM } from '@mikro-orm/postgresql';
import type { TAuditEvent } from '@otesse/contracts';
import { uuidV7 } from '@otesse/runtime';
import { chainContentOf, linkHash } from './hash-chain';

/**
 * Appends events to their orgs' chains in one transaction: locks each org's chain head (in org order, so
 * concurrent writers never deadlock), then skips events already recorded — checked under the locks, so a
 * redelivery racing its first delivery on another replica waits and then sees it — and inserts the rest in one
 * set-based statement. Returns how many were new. Any failure rolls the whole batch back.
 */
export async function appendEntries(orm: MikroORM, events: TAuditEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const knex = orm.em.getConnection().getKnex();
  // The same event twice in one batch (a redelivery next to its first delivery): keep the first.
  const byId = new Map<string, TAuditEvent>();
  for (const e of events) if (!byId.has(e.eventId)) byId.set(e.eventId, e);
  const unique = [...byId.values()];
  const orgIds = [...new Set(unique.map((e) => e.orgId))].sort();
  return knex.transaction(async (trx) => {
    // Creating missing heads first makes FOR UPDATE lock a real row for every org.
    await trx.raw(
      `insert into "audit"."chain_head" (org_id, seq, hash)
       select o, 0, '' from unnest(?::uuid[]) with ordinality as t(o, n) order by n
       on conflict (org_id) do nothing`,
      [uuidArray(orgIds)],
    );
    const locked = (
      await trx.raw<{ rows: { org_id: string; seq: string; hash: string }[] }>(
        `select org_id, seq, hash from "audit"."chain_head"
         where org_id = any(?::uuid[]) order by org_id for update`,
        [uuidArray(orgIds)],
      )
    ).rows;
    const heads = new Map(
      locked.map((h) => [h.org_id, { seq: Number(h.seq), hash: h.hash === '' ? null : h.hash }]),
    );
    const existing = new Set(
      (
        await trx.raw<{ rows: { event_id: string }[] }>(
          `select event_id from "audit"."audit_entry" where event_id = any(?::uuid[])`,
          [uuidArray(unique.map((e) => e.eventId))],
        )
      ).rows.map((r) => r.event_id),
    );
    const fresh = unique.filter((e) => !existing.has(e.eventId));
    if (fresh.length === 0) return 0;
    const recordedAt = new Date().toISOString();
    const touched = new Set<string>();
    const rows = fresh.map((e) => {
      const head = heads.get(e.orgId) ?? { seq: 0, hash: null };
      const content = chainContentOf(e, head.seq + 1);
      const hash = linkHash(content, head.hash);
      heads.set(e.orgId, { seq: content.seq, hash });
      touched.add(e.orgId);
      return {
        id: uuidV7(),
        seq: content.seq,
        org_id: content.orgId,
        event_id: content.eventId,
        actor_user_id: content.actorUserId,
        on_behalf_of_user_id: content.onBehalfOfUserId,
        action: content.action,
        provider: content.provider,
        targets: content.targets,
        outcome: content.outcome,
        details: content.details,
        occurred_at: content.occurredAt,
        recorded_at: recordedAt,
        ip: content.ip,
        trace_id: content.traceId,
        hash,
        prev_hash: head.hash,
      };
    });
    // One parameter for the whole batch: no per-row bindings to build or parse.
    await trx.raw(
      `insert into "audit"."audit_entry" (id, seq, org_id, event_id, actor_user_id, on_behalf_of_user_id,
         action, provider, targets, outcome, details, occurred_at, recorded_at, ip, trace_id, hash, prev_hash)
       select id, seq, org_id, event_id, actor_user_id, on_behalf_of_user_id, action, provider, targets,
         outcome, details, occurred_at, recorded_at, ip, trace_id, hash, prev_hash
       from jsonb_to_recordset(?::jsonb) as r(id uuid, seq bigint, org_id uuid, event_id uuid,
         actor_user_id uuid, on_behalf_of_user_id uuid, action varchar(64), provider varchar(40), targets jsonb,
         outcome varchar(16), details jsonb, occurred_at timestamptz, recorded_at timestamptz, ip varchar(64),
         trace_id varchar(64), hash varchar(64), prev_hash varchar(64))`,
      [JSON.stringify(rows)],
    );
    const newHeads = [...touched].map((orgId) => {
      const h = heads.get(orgId);
      return { org_id: orgId, seq: h?.seq ?? 0, hash: h?.hash ?? '' };
    });
    await trx.raw(
      `update "audit"."chain_head" as h set seq = v.seq, hash = v.hash
       from jsonb_to_recordset(?::jsonb) as v(org_id uuid, seq bigint, hash varchar(64))
       where h.org_id = v.org_id`,
      [JSON.stringify(newHeads)],
    );
    return rows.length;
  });
}

/**
 * A Postgres array literal of uuids, bound as ONE parameter (knex expands a JS array binding into a list).
 * The values are contract-validated uuids; anything else is refused rather than quoted.
 */
export function uuidArray(ids: readonly string[]): string {
  for (const id of ids) {
    if (!/^[0-9a-fA-F-]{36}$/.test(id)) throw new Error('not a uuid');
  }
  return `{${ids.join(',')}}`;
}
