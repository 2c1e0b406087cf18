import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { expectAuditedAndAnnouncedOnce } from './disconnect-helpers';

/**
 * Seed 003 under an edge crash: the new tokens of a reconnect or change of user live only in the memory of the edge
 * that received the OAuth callback (they never enter the saga log). The edge that recovers its saga cannot send the
 * swap again; it settles the swap's key with the vault instead.
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

  it('is finished by the edge that takes it over: the user changed once, the old tokens revoked and destroyed', async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'salesforce', 'app');
    const aliceTokens = (await h.fakeClient.listTokens({ userId: 'u-alice' })).filter(
      (t) => t.status === 'active',
    );
    expect(aliceTokens.length).toBeGreaterThan(0);
    // The vault's swap takes a while (each new credential row waits in a trigger): time to kill the edge.
    await h.db
      .query(`create function public.slow_credential_insert() returns trigger language plpgsql as $$
        begin perform pg_sleep(1.5); return new; end $$`);
    await h.db.query(`create trigger slow_credential_insert before insert on vault.credential
        for each row execute function public.slow_credential_insert()`);
    let slow = true;
    const unslow = async () => {
      if (!slow) return;
      slow = false;
      // Waits for the swap's transaction, which holds the table.
      await h.db.query('drop trigger slow_credential_insert on vault.credential');
      await h.db.query('drop function public.slow_credential_insert()');
    };
    try {
      // The browser's callback dies with the edge that answers it.
      const browser = connectOAuth(h, h.admin, 'salesforce', 'app', {
        action: 'changeUser',
        consentAs: 'u-bob',
      }).catch((e: unknown) => e);
      await waitFor(async () => (await sagaOf('change-user', connectionId!))?.swap === 'running', {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: 'the swap sent to the vault',
      });
      // Inside the vault's transaction (the first row's 1.5 s wait), then the edge is gone.
      await new Promise((r) => setTimeout(r, 500));
      await h.stack.kill('edge', 'SIGKILL');
      await browser;
      await unslow();
      await h.stack.start('edge');
    } finally {
      await unslow();
    }
    const ended = await waitFor(
      async () => {
        const s = await sagaOf('change-user', connectionId!);
        return s && ['completed', 'compensated', 'failed'].includes(s.status) ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the change of user to end' },
    );
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
});
