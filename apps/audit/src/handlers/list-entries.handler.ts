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
    const plan = await timeRangeStrategy(knex, req.orgId, f, before);
    if (plan.kind === 'empty') return { entries: [], nextCursor: null };
    /** The page's rows by one plan, with more conditions on seq (its part of the chain). */
    const query = async (
      kind: 'seq' | 'range',
      seqWhere: readonly string[],
      seqBinds: readonly number[],
      limit: number,
    ): Promise<TAuditEntryRow[]> => {
      const w = [...where, ...seqWhere].join(' and ');
      const sql =
        kind === 'seq'
          ? // Walk the org's chain backwards (by a filter's (org, x, seq) index when there is one).
            `select * from "audit"."audit_entry" where ${w} order by seq desc limit ?`
          : // The range first (index-only on (org, occurred_at) include seq), then the page's rows.
            `with r as materialized (select seq from "audit"."audit_entry" where ${w})
             select * from "audit"."audit_entry"
             where org_id = ? and seq in (select seq from r order by seq desc limit ?) order by seq desc`;
      const params =
        kind === 'seq' ? [...binds, ...seqBinds, limit] : [...binds, ...seqBinds, req.orgId, limit];
      return (await knex.raw<{ rows: TAuditEntryRow[] }>(sql, params)).rows;
    };
    const seqBefore = before === undefined ? [] : ['seq < ?'];
    const bindBefore = before === undefined ? [] : [before];
    let rows: TAuditEntryRow[];
    if (plan.kind === 'seq' && plan.start !== undefined && !f.to) {
      // Only `from`: walking back, nothing tells Postgres where the range begins, so the last page read every older
      // entry. The walk stops at the range's first position; below it only entries a producer dated ahead of their
      // neighbours can match, looked for by the cheaper of the range's index and the walk.
      rows = await query(
        'seq',
        [...seqBefore, 'seq >= ?'],
        [...bindBefore, plan.start],
        req.limit + 1,
      );
      if (rows.length <= req.limit) {
        const below = Math.min(plan.start, before ?? Number.MAX_SAFE_INTEGER);
        const top = await chainTop(knex, req.orgId);
        rows = rows.concat(
          await query(
            top - plan.start < plan.start ? 'range' : 'seq',
            ['seq < ?'],
            [below],
            req.limit + 1 - rows.length,
          ),
        );
      }
    } else rows = await query(plan.kind, seqBefore, bindBefore, req.limit + 1);
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
): Promise<{ kind: 'seq' | 'range' | 'empty'; start?: number }> {
  if (!f.from && !f.to) return { kind: 'seq' };
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
    if (s === undefined) return { kind: 'empty' };
    start = Number(s);
  }
  if (!f.to) return { kind: 'seq', start };
  const end = await probe('<', f.to, 'desc');
  if (end === undefined) return { kind: 'empty' };
  const top = Math.min(before ?? Number.MAX_SAFE_INTEGER, await chainTop(knex, orgId));
  const newerThanRange = top - Number(end);
  const rangeSize = Math.abs(Number(end) - start);
  return { kind: newerThanRange > rangeSize ? 'range' : 'seq' };
}

/** The org's newest chain position (0: no entry yet). */
async function chainTop(knex: Knex, orgId: string): Promise<number> {
  const head = (await knex('chain_head')
    .withSchema('audit')
    .where('org_id', orgId)
    .first('seq')) as { seq: string } | undefined;
  return Number(head?.seq ?? 0);
}
