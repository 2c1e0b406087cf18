import type { MikroORM } from '@mikro-orm/postgresql';
import type { TAuditChainBreak, TAuditChainVerification } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import { chainContentOfRow, linkHash, type TAuditEntryRow } from '../hash-chain';

const BATCH = 2_000;

/**
 * Walks an org's chain oldest first, in keyset batches (bounded memory whatever the chain's length): each
 * entry's hash must be the hash of its own content and the previous hash, its prev_hash the previous entry's
 * hash, its seq the previous seq + 1; at the end the chain head must name the last entry.
 */
export function verifyChainHandler(
  orm: MikroORM,
  opts: { concurrency?: number; verify?: typeof verifyChain } = {},
): THandler<'audit.chain.verify'> {
  const verify = opts.verify ?? verifyChain;
  const slots = new WalkSlots(opts.concurrency ?? VERIFY_CONCURRENCY);
  /**
   * A walk reads the org's whole chain (about a second per 100,000 entries) on the pool the writer and the listing
   * share. An admin who asks again (a reload, an impatient click, a second tab) joins the walk in progress instead
   * of starting another, and the walks of different orgs take turns, VERIFY_CONCURRENCY at once.
   */
  const inFlight = new Map<string, Promise<TAuditChainVerification>>();
  return (req) => {
    let walk = inFlight.get(req.orgId);
    if (!walk) {
      walk = slots.run(() => verify(orm, req.orgId)).finally(() => inFlight.delete(req.orgId));
      inFlight.set(req.orgId, walk);
    }
    return walk;
  };
}

/** Chain walks one audit replica runs at once. */
export const VERIFY_CONCURRENCY = 2;

/** At most `size` runs at once; the others wait their turn, first come first served. */
class WalkSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await fn();
    } finally {
      // The slot passes to the next in line as it is, or frees up.
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

export async function verifyChain(orm: MikroORM, orgId: string): Promise<TAuditChainVerification> {
  const knex = orm.em.getConnection().getKnex();
  const broken = (
    checked: number,
    seq: number,
    reason: TAuditChainBreak,
  ): TAuditChainVerification => ({ ok: false, checked, firstBrokenSeq: seq, reason });
  let checked = 0;
  let prevSeq = 0;
  let prevHash: string | null = null;
  for (;;) {
    const rows = (await knex('audit_entry')
      .withSchema('audit')
      .where('org_id', orgId)
      .andWhere('seq', '>', prevSeq)
      .orderBy('seq', 'asc')
      .limit(BATCH)
      .select('*')) as TAuditEntryRow[];
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== prevSeq + 1) return broken(checked, prevSeq + 1, 'missing_entry');
      if (row.prev_hash !== prevHash) return broken(checked, seq, 'prev_hash_mismatch');
      if (linkHash(chainContentOfRow(row), prevHash) !== row.hash)
        return broken(checked, seq, 'hash_mismatch');
      checked += 1;
      prevSeq = seq;
      prevHash = row.hash;
    }
    if (rows.length < BATCH) break;
  }
  const head = (await knex('chain_head')
    .withSchema('audit')
    .where('org_id', orgId)
    .first('seq', 'hash')) as { seq: string; hash: string } | undefined;
  const headSeq = head ? Number(head.seq) : 0;
  const headHash = head && head.hash !== '' ? head.hash : null;
  if (headSeq !== prevSeq || headHash !== prevHash) {
    // Tail cut (head ahead): the first missing position. Entries past the head: the first of them. Same
    // length, other last hash: the last entry was replaced (with a recomputed hash).
    const at = headSeq === prevSeq ? prevSeq : Math.min(headSeq, prevSeq) + 1;
    return broken(checked, at, 'head_mismatch');
  }
  return { ok: true, checked, firstBrokenSeq: null, reason: null };
}
