import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MikroORM } from '@mikro-orm/postgresql';
import { AppError } from '@otesse/contracts';
import { createLogger } from '@otesse/logging';
import { waitFor, type TTestDatabase } from '@otesse/testing';
import { SagaEngine } from './saga-engine';
import { openSagaLogDatabase, openSagaLogOrm, sagaLogDdl } from './test/saga-log-database';
import type { TSagaDefinition } from './saga-definition';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const logger = createLogger({ name: 'saga-test', level: 'silent' });
const ORG = '00000000-0000-4000-8000-000000000001';
const ACTOR = '00000000-0000-4000-8000-000000000002';

type TIn = { n: number };

/** A recorder of what the "services" saw, keyed by idempotency key (they dedupe on it, as real ones do). */
class Effects {
  calls: string[] = [];
  done = new Map<string, unknown>();
  once<T>(key: string, label: string, fn: () => T): T {
    this.calls.push(label);
    if (this.done.has(key)) return this.done.get(key) as T;
    const r = fn();
    this.done.set(key, r);
    return r;
  }
}

describe('SagaEngine (real Postgres)', () => {
  let db: TTestDatabase;
  let orm: MikroORM;
  const engines: SagaEngine[] = [];
  const engine = (opts: Partial<ConstructorParameters<typeof SagaEngine>[0]> = {}) => {
    const e = new SagaEngine({
      orm,
      schema: 'edge',
      logger,
      recoveryIntervalMs: 0,
      backoff: { baseMs: 5, maxMs: 20 },
      ...opts,
    });
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    ({ db, orm } = await openSagaLogDatabase());
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.stop()));
    await orm?.close(true);
    await db?.drop();
  });

  /** Starts a saga of `def` for `subjectKey` in the test org, by the test actor, with input `{ n: 1 }`. */
  const startSaga = (e: SagaEngine, def: TSagaDefinition<TIn>, subjectKey: string) =>
    e.start(def, { subjectKey, orgId: ORG, actorUserId: ACTOR, input: { n: 1 } });

  /** Starts a saga of `def` for `subjectKey` and waits (5 s at most) until it is terminal. */
  const startAndWait = async (e: SagaEngine, def: TSagaDefinition<TIn>, subjectKey: string) => {
    const { sagaId } = await startSaga(e, def, subjectKey);
    return { sagaId, v: await e.waitFor(sagaId, 5_000) };
  };

  function definition(
    fx: Effects,
    behaviour: Record<string, (attempt: number) => void> = {},
  ): TSagaDefinition<TIn> {
    const step = (
      name: string,
      kind: 'compensatable' | 'pivot' | 'retriable',
      compensate = kind === 'compensatable',
    ) => ({
      name,
      kind,
      timeoutMs: 500,
      maxAttempts: 3,
      run: async ({ idempotencyKey, attempt }: { idempotencyKey: string; attempt: number }) => {
        behaviour[name]?.(attempt);
        return fx.once(idempotencyKey, `run:${name}`, () => ({ did: name }));
      },
      ...(compensate
        ? {
            compensate: async ({ idempotencyKey }: { idempotencyKey: string }) => {
              fx.once(idempotencyKey, `undo:${name}`, () => true);
            },
          }
        : {}),
    });
    return {
      type: `t-${randomUUID().slice(0, 8)}`,
      version: 1,
      steps: [
        step('a', 'compensatable'),
        step('b', 'compensatable'),
        step('pivot', 'pivot'),
        step('c', 'retriable'),
      ],
      onCompensated: async ({ error }) => {
        fx.calls.push(`compensated:${error.step}:${error.code}`);
      },
    };
  }

  it('runs every step in order and records each outcome', async () => {
    const fx = new Effects();
    const e = engine();
    const def = definition(fx);
    e.register(def);
    const { v } = await startAndWait(e, def, 'c1');
    expect(v?.status).toBe('completed');
    expect(fx.calls).toEqual(['run:a', 'run:b', 'run:pivot', 'run:c']);
    expect(v?.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['a', 'succeeded', 1],
      ['b', 'succeeded', 1],
      ['pivot', 'succeeded', 1],
      ['c', 'succeeded', 1],
    ]);
  });

  it('compensates in reverse order on a business error before the pivot', async () => {
    const fx = new Effects();
    const e = engine();
    const def = definition(fx, {
      pivot: () => {
        throw new AppError('CONFLICT', 'nope');
      },
    });
    e.register(def);
    const { v } = await startAndWait(e, def, 'c2');
    expect(v?.status).toBe('compensated');
    expect(v?.error).toMatchObject({ step: 'pivot', code: 'CONFLICT' });
    expect(fx.calls).toEqual(['run:a', 'run:b', 'undo:b', 'undo:a', 'compensated:pivot:CONFLICT']);
  });

  it('retries "no responders", then compensates only what may have taken effect', async () => {
    const fx = new Effects();
    const e = engine({ unavailableRetryMs: 0 });
    const def = definition(fx, {
      b: () => {
        throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
      },
    });
    e.register(def);
    const { v } = await startAndWait(e, def, 'c3');
    expect(v?.status).toBe('compensated');
    expect(v?.steps.find((s) => s.name === 'b')?.attempts).toBe(3);
    expect(fx.calls).toEqual(['run:a', 'undo:a', 'compensated:b:UNAVAILABLE']);
  });

  it('before the pivot, a service away is waited for (unavailableRetryMs) past maxAttempts: a restart delays the saga, not undo it', async () => {
    const fx = new Effects();
    const e = engine({ unavailableRetryMs: 2_000 });
    const awayUntil = Date.now() + 400;
    const def = definition(fx, {
      b: () => {
        // A restart: no responders, then its database not reachable yet, then up.
        if (Date.now() < awayUntil - 200)
          throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
        if (Date.now() < awayUntil)
          throw new AppError('UNAVAILABLE', 'db', { reason: 'database_unavailable' });
      },
    });
    e.register(def);
    const { v } = await startAndWait(e, def, 'away1');
    expect(v?.status).toBe('completed');
    expect(v?.steps.find((s) => s.name === 'b')?.attempts).toBeGreaterThan(3);
    expect(fx.calls).toEqual(['run:a', 'run:b', 'run:pivot', 'run:c']);
  });

  it('a service away for longer than unavailableRetryMs compensates; a timeout (maybe a hang) keeps to maxAttempts', async () => {
    const fx = new Effects();
    const e = engine({ unavailableRetryMs: 300 });
    const def = definition(fx, {
      a: () => {
        throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
      },
    });
    e.register(def);
    const started = Date.now();
    const { v } = await startAndWait(e, def, 'away2');
    expect(v?.status).toBe('compensated');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(v?.steps.find((s) => s.name === 'a')?.attempts).toBeGreaterThan(3);
    expect(fx.calls).toEqual(['compensated:a:UNAVAILABLE']);

    const fx2 = new Effects();
    const hung = definition(fx2, {
      b: () => {
        throw new AppError('TIMEOUT', 'no answer in time');
      },
    });
    e.register(hung);
    const { v: v2 } = await startAndWait(e, hung, 'away3');
    expect(v2?.status).toBe('compensated');
    expect(v2?.steps.find((s) => s.name === 'b')?.attempts).toBe(3);
  });

  it('a pivot whose timed-out attempt may have acted compensates once its receiver proves it did nothing', async () => {
    const pivotTimesOutThenIsSettled = {
      pivot: (attempt: number) => {
        if (attempt === 1) throw new AppError('TIMEOUT', 'no reply in time');
        throw new AppError('PRECONDITION_FAILED', 'settled without effect', { reason: 'gone' });
      },
    };
    const e = engine();
    const fx = new Effects();
    const base = definition(fx, pivotTimesOutThenIsSettled);
    const def: TSagaDefinition<TIn> = {
      ...base,
      steps: base.steps.map((s) =>
        s.kind === 'pivot' ? { ...s, provesNoEffect: (err) => err.reason === 'gone' } : s,
      ),
    };
    e.register(def);
    const { v } = await startAndWait(e, def, 'c3b');
    expect(v?.status).toBe('compensated');
    expect(v?.error).toMatchObject({ step: 'pivot', reason: 'gone' });
    const pivot = v?.steps.find((s) => s.name === 'pivot');
    expect(pivot).toMatchObject({ attempts: 2, status: 'failed' });
    expect(fx.calls).toEqual([
      'run:a',
      'run:b',
      'undo:b',
      'undo:a',
      'compensated:pivot:PRECONDITION_FAILED',
    ]);
  });

  it('after the pivot only moves forward, retrying until done', async () => {
    const fx = new Effects();
    const e = engine();
    const def = definition(fx, {
      c: (attempt) => {
        if (attempt < 6) throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
      },
    });
    e.register(def);
    const { v } = await startAndWait(e, def, 'c4');
    expect(v?.status).toBe('completed');
    expect(v?.steps.find((s) => s.name === 'c')?.attempts).toBe(6);
  });

  it('past the pivot, an outage is retried with a delay that doubles up to its long cap, and the saga then completes', async () => {
    // Base 50 ms, doubling to 400 ms: retry n waits between half and all of min(400, 50 × 2^(n-1)).
    const baseMs = 50;
    const capMs = 400;
    const e = engine({ backoff: { baseMs, maxMs: baseMs, untilDoneMaxMs: capMs } });
    const at: number[] = [];
    let down = true;
    const def = definition(new Effects(), {
      c: () => {
        at.push(performance.now());
        if (down) throw new AppError('UNAVAILABLE', 'vault out', { reason: 'no_responders' });
      },
    });
    e.register(def);
    const { sagaId } = await startSaga(e, def, 'outage1');
    await waitFor(async () => at.length > 0 || undefined, { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 3_000));
    const upper = (n: number) => Math.min(capMs, baseMs * 2 ** (n - 1));
    const window = at.at(-1)! - at[0]!;
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Each gap follows its schedule: at least half its delay, at most all of it plus the log's two statements.
    for (const [i, gap] of gaps.entries()) {
      expect(gap).toBeGreaterThanOrEqual(upper(i + 1) / 2 - 5);
      expect(gap).toBeLessThan(upper(i + 1) + 250);
    }
    // From the fourth retry on, the delay is at the cap: never again one every base interval.
    expect(gaps.length).toBeGreaterThanOrEqual(7);
    for (const gap of gaps.slice(3)) expect(gap).toBeGreaterThanOrEqual(capMs / 2 - 5);
    // As many attempts as the schedule allows in the window (a delay of 50 ms throughout would make ~80).
    let fastest = 0;
    for (let n = 1, t = 0; t + upper(n) / 2 <= window + 5; n += 1) {
      t += upper(n) / 2;
      fastest = n;
    }
    expect(at.length - 1).toBeLessThanOrEqual(fastest);
    expect(at.length).toBeLessThanOrEqual(18);
    // The outage ends: the next attempt succeeds and the saga completes.
    down = false;
    const v = await e.waitFor(sagaId, 5_000);
    expect(v?.status).toBe('completed');
    expect(v?.steps.find((s) => s.name === 'c')?.attempts).toBe(at.length);
  });

  it('a stop during a long retry delay past the pivot returns at once; the saga is recovered and completes', async () => {
    const at: number[] = [];
    let down = true;
    const def = definition(new Effects(), {
      c: () => {
        at.push(Date.now());
        if (down) throw new AppError('UNAVAILABLE', 'vault out', { reason: 'no_responders' });
      },
    });
    // The first retry waits 1.5 to 3 s.
    const first = engine({
      owner: 'long-delay',
      backoff: { baseMs: 3_000, maxMs: 3_000, untilDoneMaxMs: 30_000 },
    });
    first.register(def);
    const { sagaId } = await startSaga(first, def, 'outage2');
    await waitFor(
      async () => (await first.view(sagaId))?.steps.find((s) => s.status === 'failed'),
      { timeoutMs: 5_000 },
    );
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).toBeLessThan(1_000);
    expect(at).toHaveLength(1);
    down = false;
    const next = engine({ owner: 'long-delay-next' });
    next.register(def);
    expect(await next.recoverOnce()).toBe(1);
    expect((await next.waitFor(sagaId, 5_000))?.status).toBe('completed');
  });

  it('a stop while onCompensated keeps failing (JetStream down) returns promptly; recovery runs the hook and ends the saga', async () => {
    const fx = new Effects();
    let auditDown = true;
    const hookCalls: string[] = [];
    const def: TSagaDefinition<TIn> = {
      ...definition(fx, {
        pivot: () => {
          throw new AppError('CONFLICT', 'nope');
        },
      }),
      onCompensated: async ({ sagaId }) => {
        hookCalls.push(sagaId);
        if (auditDown) throw new AppError('UNAVAILABLE', 'jetstream down');
      },
    };
    const first = engine({ owner: 'hook-first' });
    first.register(def);
    const { sagaId } = await startSaga(first, def, 'hook1');
    await waitFor(async () => hookCalls.length >= 3 || undefined, { timeoutMs: 5_000 });
    const stopping = Date.now();
    const stopped = await Promise.race([
      first.stop().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 2_000)),
    ]);
    expect(stopped).toBe(true);
    expect(Date.now() - stopping).toBeLessThan(2_000);
    // Left compensating, every step undone, its lease handed over.
    expect((await first.view(sagaId))?.status).toBe('compensating');
    auditDown = false;
    const next = engine({ owner: 'hook-next' });
    next.register(def);
    expect(await next.recoverOnce()).toBe(1);
    const v = await next.waitFor(sagaId, 5_000);
    expect(v?.status).toBe('compensated');
    expect(v?.error).toMatchObject({ step: 'pivot', code: 'CONFLICT' });
    // Nothing undone twice; the hook ran again until it went through.
    expect(fx.calls).toEqual(['run:a', 'run:b', 'undo:b', 'undo:a']);
    expect(hookCalls.length).toBeGreaterThan(3);
  });

  it('stops past its pivot after a business error repeats (onFailed first), and resumes from that step with a fresh budget', async () => {
    const fx = new Effects();
    const e = engine();
    let broken = true;
    const stops: string[] = [];
    const def: TSagaDefinition<TIn> = {
      ...definition(fx, {
        c: () => {
          if (broken) throw new AppError('INTERNAL', 'relation missing');
        },
      }),
      onFailed: async ({ error, resumedCount }) => {
        stops.push(`${error.step}:${error.code}:${resumedCount}`);
      },
      onResumed: async ({ resumedBy, resumedCount, stoppedAtStep, firstStepResult }) => {
        stops.push(`resumed:${resumedBy?.userId ?? 'auto'}:${stoppedAtStep}:${resumedCount}`);
        expect(firstStepResult).toEqual({ did: 'a' });
      },
    };
    def.steps = def.steps.map((st) => (st.name === 'c' ? { ...st, maxAttempts: 4 } : st));
    e.register(def);
    const { sagaId, v } = await startAndWait(e, def, 'f1');
    expect(v?.status).toBe('failed');
    expect(v?.error).toMatchObject({ step: 'c', code: 'INTERNAL' });
    expect(v?.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['a', 'succeeded', 1],
      ['b', 'succeeded', 1],
      ['pivot', 'succeeded', 1],
      ['c', 'failed', 4],
    ]);
    expect(stops).toEqual(['c:INTERNAL:0']);
    // Still broken: the resumed saga tries c four times more (its own budget), then stops again, audited again.
    const by = { userId: ACTOR, ip: '203.0.113.9' };
    expect(await e.resume(sagaId, by)).toBe(true);
    const again = await waitFor(async () => {
      const x = await e.view(sagaId);
      return x?.status === 'failed' && x.resumedCount === 1 ? x : undefined;
    });
    expect(again.steps.find((s) => s.name === 'c')?.attempts).toBe(8);
    expect(stops).toEqual(['c:INTERNAL:0', `resumed:${ACTOR}:c:1`, 'c:INTERNAL:1']);
    // Fixed: the next resume completes it, running only c again; nothing before it runs twice.
    broken = false;
    expect(await e.resume(sagaId, by)).toBe(true);
    const done = await e.waitFor(sagaId, 5_000);
    expect(done?.status).toBe('completed');
    expect(done?.error).toBeNull();
    expect(done?.resumedCount).toBe(2);
    expect(fx.calls.filter((c) => c.startsWith('run:') && c !== 'run:c')).toEqual([
      'run:a',
      'run:b',
      'run:pivot',
    ]);
    // Only a stopped saga resumes.
    expect(await e.resume(sagaId, by)).toBe(false);
    expect(await e.resume(randomUUID(), by)).toBe(false);
    expect(stops.filter((x) => x.startsWith('resumed:'))).toHaveLength(2);
  });

  it('resumes a stopped saga on its own once its wait is over (autoResume), waiting longer after each stop', async () => {
    const fx = new Effects();
    const e = engine({ autoResume: { afterMs: 1_000, maxDelayMs: 60_000 } });
    let failing = 2;
    const resumes: string[] = [];
    const def: TSagaDefinition<TIn> = {
      ...definition(fx, {
        // One attempt per pass (maxAttempts 1): the first pass and the first automatic resume fail.
        c: () => {
          if (failing > 0) {
            failing -= 1;
            throw new AppError('INTERNAL', 'broken');
          }
        },
      }),
      onResumed: async ({ resumedBy, resumedCount }) => {
        resumes.push(`${resumedBy === null ? 'auto' : 'user'}:${resumedCount}`);
      },
    };
    def.steps = def.steps.map((st) => (st.name === 'c' ? { ...st, maxAttempts: 1 } : st));
    e.register(def);
    const { sagaId, v } = await startAndWait(e, def, 'auto1');
    expect(v?.status).toBe('failed');
    // Not yet due: nothing happens.
    expect(await e.autoResumeOnce()).toBe(0);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await e.autoResumeOnce()).toBe(1);
    const again = await waitFor(async () => {
      const x = await e.view(sagaId);
      return x?.status === 'failed' && x.resumedCount === 1 ? x : undefined;
    });
    expect(again.error?.step).toBe('c');
    // The second wait is twice the first: not due at once, due after 2 s.
    expect(await e.autoResumeOnce()).toBe(0);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await e.autoResumeOnce()).toBe(0);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await e.autoResumeOnce()).toBe(1);
    const done = await e.waitFor(sagaId, 5_000);
    expect(done).toMatchObject({ status: 'completed', resumedCount: 2 });
    expect(resumes).toEqual(['auto:1', 'auto:2']);
    // Without autoResume, a stopped saga waits for resume().
    expect(await engine().autoResumeOnce()).toBe(0);
  });

  it("a new start may return the subject's stopped saga (reuseFailed) instead of starting another", async () => {
    const fx = new Effects();
    const e = engine();
    const def: TSagaDefinition<TIn> = definition(fx, {
      c: () => {
        throw new AppError('INTERNAL', 'broken');
      },
    });
    def.steps = def.steps.map((st) => (st.name === 'c' ? { ...st, maxAttempts: 1 } : st));
    e.register(def);
    const { sagaId, v } = await startAndWait(e, def, 'f2');
    expect(v?.status).toBe('failed');
    const args = { subjectKey: 'f2', orgId: ORG, actorUserId: ACTOR, input: { n: 2 } };
    expect(await e.start(def, { ...args, reuseFailed: true })).toEqual({ sagaId, created: false });
    // Without it, a new saga starts (the subject has no open one).
    const fresh = await e.start(def, args);
    expect(fresh.created).toBe(true);
    await e.waitFor(fresh.sagaId, 5_000);
  });

  it("lists an org's sagas newest first with filters and pages, and each subject's unfinished one", async () => {
    const fx = new Effects();
    const e = engine();
    const org = randomUUID();
    const other = randomUUID();
    const ok = definition(fx);
    const broken: TSagaDefinition<TIn> = definition(fx, {
      c: () => {
        throw new AppError('INTERNAL', 'broken');
      },
    });
    broken.type = ok.type;
    broken.version = 2;
    broken.steps = broken.steps.map((st) => (st.name === 'c' ? { ...st, maxAttempts: 1 } : st));
    e.register(ok);
    e.register(broken);
    const run = async (def: TSagaDefinition<TIn>, subjectKey: string, actorUserId = ACTOR) => {
      const { sagaId } = await e.start(def, {
        subjectKey,
        orgId: org,
        actorUserId,
        input: { n: 1 },
        reuseCompleted: false,
      });
      await e.waitFor(sagaId, 5_000);
      return sagaId;
    };
    const s1 = await run(ok, 'l1');
    const s2 = await run(broken, 'l2');
    const s3 = await run(ok, 'l3', other);
    const s4 = await run(broken, 'l1');
    const all = await e.list({ orgId: org, limit: 10 });
    expect(all.map((x) => x.id)).toEqual([s4, s3, s2, s1]);
    expect(all[0]).toMatchObject({
      status: 'failed',
      error: { step: 'c' },
      firstStepResult: { did: 'a' },
    });
    expect(
      (await e.list({ orgId: org, limit: 10, statuses: ['failed'] })).map((x) => x.id),
    ).toEqual([s4, s2]);
    expect(
      (await e.list({ orgId: org, limit: 10, participantUserId: other })).map((x) => x.id),
    ).toEqual([s3]);
    expect(await e.list({ orgId: org, limit: 10, types: ['nope'] })).toEqual([]);
    expect(await e.list({ orgId: randomUUID(), limit: 10 })).toEqual([]);
    const page1 = await e.list({ orgId: org, limit: 3 });
    const last = page1.at(-1)!;
    const page2 = await e.list({
      orgId: org,
      limit: 3,
      before: { createdAt: last.createdAt, id: last.id },
    });
    expect([...page1, ...page2].map((x) => x.id)).toEqual([s4, s3, s2, s1]);
    // Per subject, its newest saga if unfinished: l1's newest stopped, l2 stopped, l3 completed.
    const keys = ['l1', 'l2', 'l3'].map((subjectKey) => ({ type: ok.type, subjectKey }));
    expect((await e.unfinished(org, keys)).map((x) => x.id).sort()).toEqual([s2, s4].sort());
    expect(await e.unfinished(randomUUID(), keys)).toEqual([]);
    expect(await e.unfinished(org, [])).toEqual([]);
    // Someone who did not start it but owns what it acts on (named in its input) takes part in it too.
    const owner = randomUUID();
    const { sagaId: s5 } = await e.start(ok, {
      subjectKey: 'l5',
      orgId: org,
      actorUserId: ACTOR,
      input: { n: 1, ownerUserId: owner } as TIn,
    });
    await e.waitFor(s5, 5_000);
    expect(
      (await e.list({ orgId: org, limit: 10, participantUserId: owner })).map((x) => x.id),
    ).toEqual([s5]);
    expect(
      (await e.list({ orgId: org, limit: 10, participantUserId: ACTOR })).map((x) => x.id),
    ).toEqual([s5, s4, s2, s1]);
    // One that learns whose subject it acts on from its first step's result (a disconnect's lock) takes them in
    // too; a participant's pages merge the sagas they started and those on what is theirs in one order.
    const learned = randomUUID();
    const learns = definition(fx);
    learns.type = ok.type;
    learns.version = 3;
    learns.steps = learns.steps.map((st) =>
      st.name === 'a'
        ? { ...st, run: async () => ({ did: 'a', target: { ownerUserId: learned } }) }
        : st,
    );
    e.register(learns);
    const s6 = await run(learns, 'l6');
    const s7 = await run(ok, 'l7', learned);
    const s8 = await run(learns, 'l8');
    expect(
      (await e.list({ orgId: org, limit: 10, participantUserId: learned })).map((x) => x.id),
    ).toEqual([s8, s7, s6]);
    const paged: string[] = [];
    let before: { createdAt: string; id: string } | undefined;
    for (;;) {
      const page = await e.list({
        orgId: org,
        limit: 2,
        participantUserId: learned,
        ...(before ? { before } : {}),
      });
      paged.push(...page.map((x) => x.id));
      if (page.length < 2) break;
      before = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id };
    }
    expect(paged).toEqual([s8, s7, s6]);
    // Two stopped (s2, s4), none open; a participant counts only theirs.
    expect(await e.countFor({ orgId: org })).toEqual({ open: 0, stopped: 2 });
    expect(await e.countFor({ orgId: org, participantUserId: other })).toEqual({
      open: 0,
      stopped: 0,
    });
    expect(await e.countFor({ orgId: randomUUID() })).toEqual({ open: 0, stopped: 0 });
  });

  /** a → pivot → (c ∥ d) → e: c and d form one stage after the pivot. */
  function stagedDefinition(
    fx: Effects,
    behaviour: Record<string, (attempt: number) => Promise<void> | void> = {},
  ): TSagaDefinition<TIn> {
    const step = (
      name: string,
      kind: 'compensatable' | 'pivot' | 'retriable',
      concurrent = false,
    ) => ({
      name,
      kind,
      timeoutMs: 2_000,
      maxAttempts: 3,
      ...(concurrent ? { concurrent: true } : {}),
      run: async ({ idempotencyKey, attempt }: { idempotencyKey: string; attempt: number }) => {
        fx.calls.push(`start:${name}`);
        await behaviour[name]?.(attempt);
        return fx.once(idempotencyKey, `run:${name}`, () => ({ did: name }));
      },
    });
    return {
      type: `s-${randomUUID().slice(0, 8)}`,
      version: 1,
      steps: [
        step('a', 'compensatable'),
        step('pivot', 'pivot'),
        step('c', 'retriable'),
        step('d', 'retriable', true),
        step('e', 'retriable'),
      ],
    };
  }

  it('runs a concurrent stage at once, retries its failing step alone, and starts the next stage after both', async () => {
    const fx = new Effects();
    const e = engine();
    let releaseC: () => void = () => undefined;
    const cHeld = new Promise<void>((r) => {
      releaseC = r;
    });
    const def = stagedDefinition(fx, {
      // c is held until d has started: only possible if both run at the same time.
      c: () => cHeld,
      d: (attempt) => {
        releaseC();
        if (attempt < 3) throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
      },
    });
    e.register(def);
    const { sagaId, v } = await startAndWait(e, def, 'st1');
    expect(v?.status).toBe('completed');
    // The waiter got the view the saga's end statement returned: the same as a fresh read.
    expect(v).toEqual(await e.view(sagaId));
    expect(v?.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['a', 'succeeded', 1],
      ['pivot', 'succeeded', 1],
      ['c', 'succeeded', 1],
      ['d', 'succeeded', 3],
      ['e', 'succeeded', 1],
    ]);
    expect(fx.calls.filter((c) => c.startsWith('run:'))).toHaveLength(5);
    // e starts only once the whole stage succeeded.
    expect(fx.calls.indexOf('start:e')).toBeGreaterThan(fx.calls.lastIndexOf('run:d'));
    expect(fx.calls.indexOf('start:e')).toBeGreaterThan(fx.calls.indexOf('run:c'));
    const c = v!.steps.find((s) => s.name === 'c')!;
    const d = v!.steps.find((s) => s.name === 'd')!;
    expect(Date.parse(d.startedAt!)).toBeLessThanOrEqual(Date.parse(c.completedAt!));
  });

  it('resumes a stage without running again the step of it that already succeeded', async () => {
    const fx = new Effects();
    let hang = true;
    const def = stagedDefinition(fx, {
      d: () => {
        if (hang) throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
      },
    });
    const dying = engine({ leaseMs: 600, owner: 'stage-dying' });
    dying.register(def);
    const { sagaId } = await startSaga(dying, def, 'st2');
    await waitFor(
      async () =>
        ((await dying.view(sagaId))?.steps.find((s) => s.name === 'd')?.attempts ?? 0) >= 2,
      { timeoutMs: 5_000 },
    );
    await dying.stop();
    expect((await dying.view(sagaId))?.steps.find((s) => s.name === 'c')?.status).toBe('succeeded');
    hang = false;
    const rescuer = engine({ leaseMs: 600, owner: 'stage-rescuer' });
    rescuer.register(def);
    await waitFor(async () => (await rescuer.recoverOnce()) > 0, { timeoutMs: 5_000 });
    const v = await rescuer.waitFor(sagaId, 5_000);
    expect(v?.status).toBe('completed');
    expect(fx.calls.filter((c) => c === 'start:c')).toHaveLength(1);
    expect(fx.calls.filter((c) => c === 'run:e')).toHaveLength(1);
  });

  /** The staged definition plus `f`, run only when c's result says so; `g` concurrent with e. */
  function conditionalDefinition(fx: Effects, runF: boolean): TSagaDefinition<TIn> {
    const def = stagedDefinition(fx);
    const c = def.steps[2]!;
    def.steps[2] = {
      ...c,
      run: async (ctx) => ({ ...(await c.run(ctx)), wantF: runF }),
    };
    def.steps.push(
      {
        ...def.steps[4]!,
        name: 'f',
        when: ({ results }) => (results['c'] as { wantF?: boolean }).wantF === true,
        run: async ({ idempotencyKey }) => fx.once(idempotencyKey, 'run:f', () => ({ did: 'f' })),
      },
      {
        ...def.steps[4]!,
        name: 'g',
        concurrent: true,
        when: () => false,
        run: async ({ idempotencyKey }) => fx.once(idempotencyKey, 'run:g', () => ({ did: 'g' })),
      },
    );
    return def;
  }

  it.each([true, false])(
    'a conditional step runs or is recorded skipped, from the results before it (runs: %s)',
    async (runF) => {
      const fx = new Effects();
      const e = engine();
      const def = conditionalDefinition(fx, runF);
      e.register(def);
      const { sagaId, v } = await startAndWait(e, def, `cond-${runF}`);
      expect(v?.status).toBe('completed');
      expect(v).toEqual(await e.view(sagaId));
      const f = v!.steps.find((s) => s.name === 'f')!;
      const g = v!.steps.find((s) => s.name === 'g')!;
      expect([f.status, f.attempts, f.startedAt === null]).toEqual(
        runF ? ['succeeded', 1, false] : ['skipped', 0, true],
      );
      expect([g.status, g.attempts, g.startedAt, g.completedAt !== null]).toEqual([
        'skipped',
        0,
        null,
        true,
      ]);
      expect(fx.calls.includes('run:f')).toBe(runF);
      expect(fx.calls.includes('run:g')).toBe(false);
    },
  );

  it('refuses a conditional step before or at the pivot', () => {
    const def = stagedDefinition(new Effects());
    def.steps[1] = { ...def.steps[1]!, when: () => true };
    expect(() => engine().register(def)).toThrow(/conditional step pivot/);
  });

  it('refuses a proof of no effect on a step other than the pivot', () => {
    const def = definition(new Effects());
    def.steps[3] = { ...def.steps[3]!, provesNoEffect: () => true };
    expect(() => engine().register(def)).toThrow(/only the pivot may say/);
  });

  it('refuses a concurrent step before or at the pivot', () => {
    const def = stagedDefinition(new Effects());
    def.steps[1] = { ...def.steps[1]!, concurrent: true };
    expect(() => engine().register(def)).toThrow(/concurrent step pivot/);
  });

  it('group-commits concurrent sagas: each gets its own log and final view, whatever shared a statement', async () => {
    const fx = new Effects();
    const e = engine();
    const def = conditionalDefinition(fx, true);
    e.register(def);
    const started = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        e.start(def, { subjectKey: `gc-${i}`, orgId: ORG, actorUserId: ACTOR, input: { n: i } }),
      ),
    );
    const views = await Promise.all(started.map((s) => e.waitFor(s.sagaId, 10_000)));
    for (const [i, v] of views.entries()) {
      expect(v?.id).toBe(started[i]!.sagaId);
      expect(v?.status).toBe('completed');
      expect(v?.input).toEqual({ n: i });
      expect(v?.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
        ['a', 'succeeded', 1],
        ['pivot', 'succeeded', 1],
        ['c', 'succeeded', 1],
        ['d', 'succeeded', 1],
        ['e', 'succeeded', 1],
        ['f', 'succeeded', 1],
        ['g', 'skipped', 0],
      ]);
      expect(v).toEqual(await e.view(v!.id));
    }
    // Every step of every saga ran once.
    expect(fx.calls.filter((c) => c.startsWith('run:'))).toHaveLength(40 * 6);
  });

  it('records a result carrying a NUL character (which jsonb refuses) as U+FFFD, and finishes', async () => {
    const fx = new Effects();
    const e = engine();
    const def = definition(fx);
    def.steps[3] = { ...def.steps[3]!, run: async () => ({ warning: 'bad\u0000reply' }) };
    e.register(def);
    const { v } = await startAndWait(e, def, 'nul');
    expect(v?.status).toBe('completed');
    expect(v?.steps.find((s) => s.name === 'c')?.result).toEqual({ warning: 'bad\ufffdreply' });
  });

  it('keeps one saga per subject under 20 concurrent starts', async () => {
    const fx = new Effects();
    const e = engine();
    const def = definition(fx);
    e.register(def);
    const results = await Promise.all(Array.from({ length: 20 }, () => startSaga(e, def, 'c5')));
    expect(new Set(results.map((r) => r.sagaId)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    await e.waitFor(results[0]!.sagaId, 5_000);
    expect(fx.calls.filter((c) => c === 'run:pivot')).toHaveLength(1);
  });

  it('is resumed by another engine when its owner stops renewing the lease', async () => {
    const fx = new Effects();
    let hang = true;
    const def = definition(fx, {
      c: () => {
        if (hang) throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
      },
    });
    const dying = engine({ leaseMs: 600, owner: 'dying' });
    dying.register(def);
    const { sagaId } = await startSaga(dying, def, 'c6');
    await waitFor(
      async () => (await dying.view(sagaId))?.steps.find((s) => s.name === 'c')?.attempts,
      { timeoutMs: 5_000 },
    );
    await dying.stop(); // the process "dies": no more renewals
    hang = false;
    const rescuer = engine({ leaseMs: 600, owner: 'rescuer' });
    rescuer.register(def);
    await waitFor(async () => (await rescuer.recoverOnce()) > 0, { timeoutMs: 5_000 });
    const v = await rescuer.waitFor(sagaId, 5_000);
    expect(v?.status).toBe('completed');
    expect(fx.calls.filter((c) => c === 'run:pivot')).toHaveLength(1);
  });

  it('tells a step whether its pass started the saga or took it over (resumed), so it can re-read what is old', async () => {
    const seen: string[] = [];
    let hang = true;
    const step = (name: string, kind: 'compensatable' | 'pivot' | 'retriable') => ({
      name,
      kind,
      timeoutMs: 500,
      maxAttempts: 3,
      run: async ({ resumed, attempt }: { resumed: boolean; attempt: number }) => {
        seen.push(`${name}:${attempt}:${resumed ? 'resumed' : 'fresh'}`);
        if (name === 'c' && hang)
          throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
        return {};
      },
    });
    const def: TSagaDefinition<TIn> = {
      type: `t-${randomUUID().slice(0, 8)}`,
      version: 1,
      steps: [step('a', 'compensatable'), step('pivot', 'pivot'), step('c', 'retriable')],
    };
    const dying = engine({ leaseMs: 600, owner: 'dying-pass' });
    dying.register(def);
    const { sagaId } = await startSaga(dying, def, 'pass1');
    await waitFor(async () => seen.includes('c:1:fresh') || undefined, { timeoutMs: 5_000 });
    await dying.stop();
    hang = false;
    const rescuer = engine({ leaseMs: 600, owner: 'rescuer-pass' });
    rescuer.register(def);
    await waitFor(async () => (await rescuer.recoverOnce()) > 0, { timeoutMs: 5_000 });
    expect((await rescuer.waitFor(sagaId, 5_000))?.status).toBe('completed');
    // The starting pass ran a and the pivot fresh; the rescuer's attempt at c knows it took the saga over.
    expect(seen.slice(0, 3)).toEqual(['a:1:fresh', 'pivot:1:fresh', 'c:1:fresh']);
    expect(seen.at(-1)).toMatch(/^c:\d+:resumed$/);
  });

  it("an engine without a saga's definition version never claims it (recovery), nor reopens it (resume, autoResume)", async () => {
    const fx = new Effects();
    let hang = true;
    let broken = true;
    const resumes: string[] = [];
    const v1 = definition(fx);
    // The same type at version 2: c hangs (open, lease runs out) or fails for good (stopped past the pivot).
    const v2: TSagaDefinition<TIn> = {
      ...definition(fx, {
        c: () => {
          if (hang) throw new AppError('UNAVAILABLE', 'down', { reason: 'no_responders' });
          if (broken) throw new AppError('INTERNAL', 'broken');
        },
      }),
      type: v1.type,
      version: 2,
      onResumed: async ({ resumedBy }) => {
        resumes.push(resumedBy === null ? 'auto' : 'user');
      },
    };
    v2.steps = v2.steps.map((st) => (st.name === 'c' ? { ...st, maxAttempts: 1 } : st));
    const auto = { afterMs: 1, maxDelayMs: 1 };
    const newer = engine({ leaseMs: 600, owner: 'newer', autoResume: auto });
    newer.register(v1);
    newer.register(v2);
    const { sagaId } = await startSaga(newer, v2, 'mixed1');
    await waitFor(
      async () => (await newer.view(sagaId))?.steps.find((s) => s.name === 'c')?.attempts,
      { timeoutMs: 5_000 },
    );
    await newer.stop(); // its lease is handed over at once
    const row = async () =>
      (
        await db.query<{ status: string; owner: string; resumed_count: number }>(
          'select status, owner, resumed_count from edge.saga where id = $1',
          [sagaId],
        )
      )[0];
    // An older edge (v1 only) leaves it where it is, and says so once.
    const older = engine({ leaseMs: 600, owner: 'older', autoResume: auto });
    older.register(v1);
    expect(await older.recoverOnce()).toBe(0);
    expect(await row()).toMatchObject({ status: 'running', owner: 'newer' });
    expect(await older.reportUnknownDefinitions()).toContain(sagaId);
    expect(await older.reportUnknownDefinitions()).not.toContain(sagaId);
    // An edge that has v2 claims it at once (no lease to wait out); c now fails for good: stopped past the pivot.
    hang = false;
    const other = engine({ leaseMs: 600, owner: 'other', autoResume: auto });
    other.register(v1);
    other.register(v2);
    expect(await other.recoverOnce()).toBe(1);
    expect((await other.waitFor(sagaId, 5_000))?.status).toBe('failed');
    await new Promise((r) => setTimeout(r, 20));
    // The older edge neither reopens it on its own nor on request: it stays stopped, unaudited.
    expect(await older.autoResumeOnce()).toBe(0);
    await expect(older.resume(sagaId, { userId: ACTOR, ip: null })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'unknown_definition',
    });
    expect(await row()).toMatchObject({ status: 'failed', resumed_count: 0 });
    expect(resumes).toEqual([]);
    // An edge with v2 resumes it (audited) and finishes it.
    broken = false;
    expect(await other.autoResumeOnce()).toBe(1);
    expect(await other.waitFor(sagaId, 5_000)).toMatchObject({
      status: 'completed',
      resumedCount: 1,
    });
    expect(resumes).toEqual(['auto']);
  });

  it('a driver whose lease another engine took stops at its next step and never ends the saga itself', async () => {
    const fx = new Effects();
    let release: () => void = () => undefined;
    const stalled = new Promise<void>((r) => {
      release = r;
    });
    const def = definition(fx);
    const b = def.steps[1]!;
    const runB = b.run.bind(b);
    b.run = async (ctx) => {
      await stalled; // the first driver stalls here (a long GC pause, a frozen VM)
      return runB(ctx);
    };
    const stale = engine({ owner: 'stale' });
    stale.register(def);
    const { sagaId } = await startSaga(stale, def, 'c7');
    await waitFor(async () => (await stale.view(sagaId))?.currentStep === 'b', {
      timeoutMs: 5_000,
    });
    // Its lease ran out meanwhile and another edge claimed the saga.
    await db.query(
      `update edge.saga set lease_expires_at = now() - interval '1 second' where id = $1`,
      [sagaId],
    );
    const fresh = engine({ owner: 'fresh' });
    fresh.register(def);
    expect(await fresh.recoverOnce()).toBe(1);
    release();
    const v = await fresh.waitFor(sagaId, 5_000);
    expect(v?.status).toBe('completed');
    const [row] = await db.query<{ owner: string }>('select owner from edge.saga where id = $1', [
      sagaId,
    ]);
    expect(row?.owner).toBe('fresh');
    // Each step's effect happened once (the services dedupe on the key); no step ran after the stale driver stopped.
    expect(fx.calls.filter((c) => c === 'run:pivot')).toHaveLength(1);
    expect(fx.calls.filter((c) => c === 'run:c')).toHaveLength(1);
  });

  it('keeps every saga it drives leased through a long step (one renewal for all), so no other engine takes one', async () => {
    const fx = new Effects();
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const def = definition(fx);
    const b = def.steps[1]!;
    const runB = b.run.bind(b);
    b.run = async (ctx) => {
      await slow; // longer than three leases
      return runB(ctx);
    };
    (b as { timeoutMs: number }).timeoutMs = 30_000;
    const keeper = engine({ leaseMs: 600, owner: 'keeper' });
    keeper.register(def);
    const ids: string[] = [];
    for (const key of ['k1', 'k2', 'k3']) {
      const { sagaId } = await startSaga(keeper, def, key);
      ids.push(sagaId);
    }
    const other = engine({ leaseMs: 600, owner: 'other' });
    other.register(def);
    for (let i = 0; i < 10; i += 1) {
      await new Promise((r) => setTimeout(r, 200));
      expect(await other.recoverOnce()).toBe(0);
    }
    const leases = await db.query<{ owner: string; ahead: boolean }>(
      `select owner, lease_expires_at > now() as ahead from edge.saga where id = any($1::uuid[])`,
      [ids],
    );
    expect(leases).toEqual(ids.map(() => ({ owner: 'keeper', ahead: true })));
    // Renewed together: one statement, one transaction time (a timer per saga renewed each at its own moment).
    const renewed = await db.query<{ n: number }>(
      `select count(distinct updated_at)::int as n from edge.saga where id = any($1::uuid[])`,
      [ids],
    );
    expect(renewed).toEqual([{ n: 1 }]);
    release();
    for (const id of ids) expect((await keeper.waitFor(id, 5_000))?.status).toBe('completed');
  });

  it("writes a saga's transitions and end by primary key however many sagas the log holds (no scan of the log)", async () => {
    // A log of its own, which no other test's connection touches: its scan counters are this saga's alone.
    const schema = 'edge_pk';
    const role = decodeURIComponent(new URL(db.urlFor('edge')).username);
    await db.query(`create schema ${schema} authorization "${role}"`);
    const pkOrm = await openSagaLogOrm(db, schema);
    try {
      const ddl = await sagaLogDdl(pkOrm);
      // A few thousand ended sagas: the size where a jsonb recordset's join made the planner scan them all. Written
      // by a connection that then ends, so what it scanned (building the indexes) is counted before we look.
      const setup = new pg.Client({ connectionString: db.urlFor('edge') });
      await setup.connect();
      const pid = (await setup.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!
        .pid;
      await setup.query(`set search_path = ${schema}`);
      await setup.query(ddl);
      await setup.query(
        `insert into saga (id, type, subject_key, status, definition_version, org_id, actor_user_id, input,
                           created_at, updated_at, completed_at)
         select gen_random_uuid(), 'history', 'h-' || g, 'completed', 1, $1, $2, '{}', now(), now(), now()
           from generate_series(1, 5000) g`,
        [ORG, ACTOR],
      );
      await setup.query('analyze saga');
      await setup.end();
      await waitFor(
        async () =>
          (await db.query('select 1 from pg_stat_activity where pid = $1', [pid])).length === 0,
        { what: 'the setup connection gone' },
      );
      const scans = async () =>
        (
          await db.query<{ seq: string; idx: string }>(
            `select seq_scan as seq, coalesce(idx_scan, 0) as idx from pg_stat_user_tables
              where schemaname = $1 and relname = 'saga'`,
            [schema],
          )
        ).map((r) => ({ seq: Number(r.seq), idx: Number(r.idx) }))[0]!;
      const before = await scans();

      const fx = new Effects();
      const e = engine({ orm: pkOrm, schema });
      const def = definition(fx);
      e.register(def);
      const { v } = await startAndWait(e, def, `pk-${randomUUID()}`);
      expect(v?.status).toBe('completed');
      // Three transitions and the end each look the saga up; a backend reports its scans once idle (within
      // seconds): wait for those lookups, then no scan may be among what it reported.
      const after = await waitFor(
        async () => {
          const now = await scans();
          return now.idx - before.idx >= 4 ? now : false;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'the lookups reported' },
      );
      expect(after.seq - before.seq).toBe(0);
      await e.stop();
    } finally {
      await pkOrm.close(true);
    }
  });
});
