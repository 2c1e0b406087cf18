import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import { AppError, type TAuditEntry, type TAuditFilters } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import type { TAuditEntryRow } from '../hash-chain';

/** A reply stays well under NATS' 1 MB payload limit: a page ends early (with a cursor) past this many bytes. */
export const PAGE_BYTE_BUDGET = 512 * 1024;

export function encodeCursor(seq: number): string {
  return Buffer.from(String(seq)).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const seq = Number(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(seq) || seq < 1) throw new AppError('BAD_REQUEST', 'invalid cursor');
  return seq;
}

export function entryOfRow(r: TAuditEntryRow): TAuditEntry {
  return {
    id: r.id,
    seq: Number(r.seq),
    eventId: r.event_id,
    orgId: r.org_id,
    actorUserId: r.actor_user_id,
    onBehalfOfUserId: r.on_behalf_of_user_id,
    action: r.action as TAuditEntry['action'],
    provider: r.provider,
    targets: r.targets as TAuditEntry['targets'],
    outcome: r.outcome as TAuditEntry['outcome'],
    details: r.details,
    occurredAt: new Date(r.occurred_at).toISOString(),
    recordedAt: new Date(r.recorded_at).toISOString(),
    ip: r.ip,
    traceId: r.trace_id,
    hash: r.hash,
    prevHash: r.prev_hash,
  };
}

/**
 * Newest first, keyset-paginated on the org's chain position: stable while entries keep arriving (a new entry
 * always gets a higher seq than every committed one, so it can never land inside a page already served).
 */
export function listEntriesHandler(orm: MikroORM): THandler<'audit.entries.list'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const before = req.cursor === null ? undefined : decodeCursor(req.cursor);
    const f = req.filters;
    const where: string[] = ['org_id = ?'];
    const binds: (string | number)[] = [req.orgId];
    const add = (sql: string, value: string | number | undefined): void => {
      if (value === undefined) return;
      where.push(sql);
      binds.push(value);
    };
    add('action = ?', f.action);
    add('provider = ?', f.provider);
    add('actor_user_id = ?', f.actorUserId);
    add('occurred_at >= ?', f.from);
    add('occurred_at < ?', f.to);
    add('seq < ?', before);
    const strategy = await timeRangeStrategy(knex, req.orgId, f, before);
    if (strategy === 'empty') return { entries: [], nextCursor: null };
    const sql =
      strategy === 'seq'
        ? // Walk the org's chain backwards (by a filter's (org, x, seq) index when there is one).
          `select * from "audit"."audit_entry" where ${where.join(' and ')} order by seq desc limit ?`
        : // The range first (index-only on (org, occurred_at) include seq), then the page's rows.
          `with r as materialized (select seq from "audit"."audit_entry" where ${where.join(' and ')})
           select * from "audit"."audit_entry"
           where org_id = ? and seq in (select seq from r order by seq desc limit ?) order by seq desc`;
    const params =
      strategy === 'seq' ? [...binds, req.limit + 1] : [...binds, req.orgId, req.limit + 1];
    const rows = (await knex.raw<{ rows: TAuditEntryRow[] }>(sql, params)).rows;
    const entries: TAuditEntry[] = [];
    let bytes = 0;
    for (const row of rows.slice(0, req.limit)) {
      const entry = entryOfRow(row);
      bytes += Buffer.byteLength(JSON.stringify(entry));
      if (entries.length > 0 && bytes > PAGE_BYTE_BUDGET) break;
      entries.push(entry);
    }
    const more = rows.length > entries.length;
    const last = entries.at(-1);
    return { entries, nextCursor: more && last ? encodeCursor(last.seq) : null };
  };
}

/**
 * Both plans answer the same; which one is fast depends on where the time range lies, which Postgres cannot
 * know (it does not know that occurred_at follows seq): walking the chain back from the newest entry costs the
 * entries newer than the range, reading the range costs its size. Two one-row index probes locate the range
 * (approximately: occurred_at is the producer's clock) and pick the cheaper plan; a range holding no entry at
 * all answers empty at once instead of walking the whole log.
 */
async function timeRangeStrategy(
  knex: Knex,
  orgId: string,
  f: TAuditFilters,
  before: number | undefined,
): Promise<'seq' | 'range' | 'empty'> {
  if (!f.from && !f.to) return 'seq';
  const probe = async (op: '<' | '>=', at: string, dir: 'asc' | 'desc') =>
    (
      (await knex('audit_entry')
        .withSchema('audit')
        .where('org_id', orgId)
        .andWhere('occurred_at', op, at)
        .orderBy('occurred_at', dir)
        .first('seq')) as { seq: string } | undefined
    )?.seq;
  let start = 1;
  if (f.from) {
    const s = await probe('>=', f.from, 'asc');
    if (s === undefined) return 'empty';
    start = Number(s);
  }
  if (!f.to) return 'seq';
  const end = await probe('<', f.to, 'desc');
  if (end === undefined) return 'empty';
  const head = (await knex('chain_head')
    .withSchema('audit')
    .where('org_id', orgId)
    .first('seq')) as { seq: string } | undefined;
  const top = Math.min(before ?? Number.MAX_SAFE_INTEGER, Number(head?.seq ?? 0));
  const newerThanRange = top - Number(end);
  const rangeSize = Math.abs(Number(end) - start);
  return newerThanRange > rangeSize ? 'range' : 'seq';
}
