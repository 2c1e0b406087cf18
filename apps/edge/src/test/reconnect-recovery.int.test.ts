import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { expectAuditedAndAnnouncedOnce } from './disconnect-helpers';

/**
 * Seed 003 under an edge crash: the new tokens of a reconnect or change of user are staged in the vault before the
 * saga starts (they never enter the saga log, nor live only in the memory of the edge that received the OAuth
 * callback). The edge that recovers the saga swaps them in by their stage id, whatever step the dead edge reached.
 */
describe('a change of user whose edge dies while the vault swaps (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) =>
        s === 'edge' ? { SAGA_LEASE_MS: '1500', SAGA_RECOVERY_INTERVAL_MS: '250' } : {},
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const sagaOf = async (type: string, connectionId: string) =>
    (
      await h.db.query<{ id: string; status: string; swap: string | null }>(
        `select s.id, s.status, st.status as swap from edge.saga s
           left join edge.saga_step st on st.saga_id = s.id and st.name = 'swap-credentials'
          where s.type = $1 and s.input->>'connectionId' = $2 order by s.created_at desc limit 1`,
        [type, connectionId],
      )
    )[0];

  /** The connection's newest change of user, once it ended. */
  const changeOfUserEnded = (connectionId: string) =>
    waitFor(
      async () => {
        const s = await sagaOf('change-user', connectionId);
        return s && ['completed', 'compensated', 'failed'].includes(s.status) ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the change of user to end' },
    );

  /**
   * A change of user to Bob whose edge is SIGKILLed once `killWhen` holds, while a trigger (`name`, on `on`, whose
   * body is `body`) slows a step down so that the saga is caught in it; then the trigger is dropped (waiting for the
   * transaction it slowed) and a new edge started. The browser's callback dies with the edge that answers it.
   */
  const changeUserKillingTheEdge = async (o: {
    who: typeof h.admin;
    flow: 'app' | 'user';
    connectionId: string;
    trigger: { name: string; on: string; body: string };
    killWhen: () => Promise<boolean>;
    waitAfterMs?: number;
  }) => {
    const { name, on, body } = o.trigger;
    await h.db.query(`create function public.${name}() returns trigger language plpgsql as $$
        begin ${body} return new; end $$`);
    await h.db.query(`create trigger ${name} ${on} for each row execute function public.${name}()`);
    const table = on.replace(/^.* on /, '');
    let slow = true;
    const unslow = async () => {
      if (!slow) return;
      slow = false;
      await h.db.query(`drop trigger ${name} on ${table}`);
      await h.db.query(`drop function public.${name}()`);
    };
    try {
      const browser = connectOAuth(h, o.who, 'salesforce', o.flow, {
        action: 'changeUser',
        consentAs: 'u-bob',
      }).catch((e: unknown) => e);
      await waitFor(o.killWhen, { timeoutMs: 15_000, intervalMs: 50, what: 'the saga caught' });
      if (o.waitAfterMs) await new Promise((r) => setTimeout(r, o.waitAfterMs));
      await h.stack.kill('edge', 'SIGKILL');
      await browser;
      await unslow();
      await h.stack.start('edge');
    } finally {
      await unslow();
    }
    return changeOfUserEnded(o.connectionId);
  };

  it('is finished by the edge that takes it over: the user changed once, the old tokens revoked and destroyed', async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    const aliceTokens = (await h.fakeClient.listTokens({ userId: 'u-alice' })).filter(
      (t) => t.status === 'active',
    );
    expect(aliceTokens.length).toBeGreaterThan(0);
    // The vault's swap takes a while (each new credential row waits in a trigger): the edge is killed inside the
    // vault's transaction (the first row's 1.5 s wait).
    const ended = await changeUserKillingTheEdge({
      who: h.admin,
      flow: 'app',
      connectionId: connectionId!,
      trigger: {
        name: 'slow_credential_insert',
        on: 'before insert on vault.credential',
        body: 'perform pg_sleep(1.5);',
      },
      killWhen: async () => (await sagaOf('change-user', connectionId!))?.swap === 'running',
      waitAfterMs: 500,
    });
    // Before: the recovered saga found no tokens, took "authorization lost" for nothing done and compensated,
    // although the vault had swapped — bob's tokens active, the connection still alice's, hers never revoked.
    expect(ended.status).toBe('completed');
    const conn = (await h.admin.client.integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    )!.appConnection!;
    expect(conn).toMatchObject({
      id: connectionId,
      externalAccountId: 'u-bob',
      status: 'connected',
      operation: null,
    });
    const active = await h.db.query<{ kind: string }>(
      `select kind from vault.credential where connection_id = $1 and is_active order by kind`,
      [connectionId],
    );
    expect(active.map((r) => r.kind)).toEqual(['access_token', 'refresh_token']);
    const [left] = await h.db.query<{ n: string }>(
      `select count(*) as n from vault.credential where connection_id = $1 and retired_at is not null and ciphertext <> ''`,
      [connectionId],
    );
    expect(left!.n).toBe('0');
    for (const t of aliceTokens)
      expect((await h.fakeClient.tokenStatus(t.token)).status).toBe('revoked');
    await expectAuditedAndAnnouncedOnce(h, {
      connectionId: connectionId!,
      action: 'connection.user_changed',
      subject: 'integrations.connection.user_changed',
    });
  });

  it('an edge that dies before the swap was sent: the edge that takes the saga over swaps the staged tokens in', async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.member, 'salesforce', 'user');
    // The connection service's lock takes a while (its row update waits in a trigger): the edge dies in it.
    const ended = await changeUserKillingTheEdge({
      who: h.member,
      flow: 'user',
      connectionId: connectionId!,
      trigger: {
        name: 'slow_lock',
        on: 'before update on connection.integration_connection',
        body: 'if new.lock_saga_id is not null and old.lock_saga_id is null then perform pg_sleep(2); end if;',
      },
      killWhen: async () => (await sagaOf('change-user', connectionId!)) !== undefined,
    });
    // Before: the tokens were in the dead edge's memory; the saga compensated and bob's new tokens stayed live at
    // the provider, held by nobody.
    expect(ended.status).toBe('completed');
    const [conn] = await h.db.query<{ external_account_id: string; status: string }>(
      `select external_account_id, status from connection.integration_connection where id = $1`,
      [connectionId],
    );
    expect(conn).toEqual({ external_account_id: 'u-bob', status: 'connected' });
    // The staged copy is destroyed; the connection holds the new tokens, which are live at the provider.
    const [stage] = await h.db.query<{ stage_id: string }>(
      `select input->>'stageId' as stage_id from edge.saga where id = $1`,
      [ended.id],
    );
    expect(stage!.stage_id).toMatch(/^[0-9a-f-]{36}$/);
    const staged = await h.db.query<{ ciphertext: string; is_deleted: boolean }>(
      `select ciphertext, is_deleted from vault.credential where connection_id = $1`,
      [stage!.stage_id],
    );
    expect(staged.length).toBeGreaterThan(0);
    expect(staged.every((r) => r.is_deleted && r.ciphertext === '')).toBe(true);
    const bobs = (await h.fakeClient.listTokens({ userId: 'u-bob' })).filter(
      (t) => t.clientId.includes('salesforce') && t.status === 'active',
    );
    expect(bobs.length).toBeGreaterThan(0);
  });
});
