import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { migrateUp, openOrm } from '@otesse/persistence';
import { createTestDatabase, type TTestDatabase } from '@otesse/testing';
import type { TMessageContext } from '@otesse/messaging';
import { AUDIT_SCHEMA, auditOrmConfig } from '../db/orm.config';
import { verifyChain, verifyChainHandler } from './verify-chain.handler';

/** The chain walk is the audit service's heaviest read: asked again, it is joined; other orgs' take turns. */
describe('audit.chain.verify walks (real Postgres)', () => {
  let db: TTestDatabase;
  let orm: MikroORM;
  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await openOrm(auditOrmConfig(db.migrationsUrlFor('audit')));
    await migrateUp(orm, AUDIT_SCHEMA.schema);
  });
  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it('joins the walk in progress for an org, and runs other orgs’ two at a time, in turn', async () => {
    const walks: string[] = [];
    const gates = new Map<string, () => void>();
    let running = 0;
    let most = 0;
    // The real walk, held open until the test lets it finish.
    const handler = verifyChainHandler(orm, {
      concurrency: 2,
      verify: async (o, orgId) => {
        walks.push(orgId);
        running += 1;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => gates.set(orgId, resolve));
        running -= 1;
        return verifyChain(o, orgId);
      },
    });
    const ctx = {} as TMessageContext;
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const asks = [a, a, a, b, c, a, b].map((orgId) => handler({ orgId }, ctx));
    await new Promise((r) => setTimeout(r, 50));
    // a and b walk; c waits for a slot; the repeated asks joined.
    expect(walks).toEqual([a, b]);
    gates.get(a)!();
    await asks[0];
    await new Promise((r) => setTimeout(r, 50));
    expect(walks).toEqual([a, b, c]);
    gates.get(b)!();
    gates.get(c)!();
    const answers = await Promise.all(asks);
    expect(answers).toEqual(
      Array.from({ length: 7 }, () => ({
        ok: true,
        checked: 0,
        firstBrokenSeq: null,
        reason: null,
      })),
    );
    expect(most).toBe(2);
    // Once a walk ended, asking again walks again (a fresh answer, not a remembered one).
    const again = handler({ orgId: a }, ctx);
    await new Promise((r) => setTimeout(r, 20));
    gates.get(a)!();
    await again;
    expect(walks).toEqual([a, b, c, a]);
  });
});
