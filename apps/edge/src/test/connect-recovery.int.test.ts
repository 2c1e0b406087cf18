import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';

/**
 * A new connect's tokens from the code exchange on: the callback stages them in the vault before it reads the
 * identity or creates anything, and the connect stores them by their stage id. An edge SIGKILLed in between leaves
 * nothing only it held: the vault's sweep revokes and destroys the stage once its hold ends. Before, the tokens lived
 * in that edge's memory until the store, and stayed live at the provider, held by nobody.
 */
describe('a connect whose edge dies between the code exchange and the store (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) => {
        if (s === 'edge') return { EDGE_TOKEN_STAGE_HOLD_SEC: '10' };
        // The sweep takes a discard as soon as it is due; the killed connect's pending row frees its slot soon.
        if (s === 'credential-vault')
          return { VAULT_DISCARD_SWEEP_MS: '500', VAULT_DISCARD_STALE_MS: '0' };
        if (s === 'connection') return { PENDING_CONNECT_STALE_MS: '5000' };
        return {};
      },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The vault's rows of stages still held (neither claimed nor discarded). */
  const liveStages = async () =>
    (
      await h.db.query<{ n: string }>(
        `select count(*) as n from vault.credential where staged_until is not null and not is_deleted`,
      )
    )[0]!.n;
  const salesforceTokensOf = async (userId: string) =>
    (await h.fakeClient.listTokens({ userId })).filter((t) => t.clientId.endsWith('salesforce'));

  it('revokes and destroys the tokens once their hold ends; connecting again works, and leaves no stage behind', async () => {
    await h.fakeClient.consentAs('u-alice');
    const before = new Set((await salesforceTokensOf('u-alice')).map((t) => t.token));
    // The connection service's create waits in a trigger: the edge is caught after the stage, before the store.
    await h.db.query(`create function public.slow_connect() returns trigger language plpgsql as $$
        begin perform pg_sleep(2); return new; end $$`);
    await h.db.query(
      `create trigger slow_connect before insert on connection.integration_connection
         for each row execute function public.slow_connect()`,
    );
    try {
      const browser = connectOAuth(h, h.admin, 'salesforce', 'app').catch((e: unknown) => e);
      await waitFor(async () => (await liveStages()) === '2', {
        timeoutMs: 15_000,
        intervalMs: 50,
        what: "the callback's tokens staged",
      });
      await h.stack.kill('edge', 'SIGKILL');
      await browser;
    } finally {
      await h.db.query(`drop trigger slow_connect on connection.integration_connection`);
      await h.db.query(`drop function public.slow_connect()`);
    }
    const issued = (await salesforceTokensOf('u-alice')).filter((t) => !before.has(t.token));
    expect(issued.map((t) => t.type).sort()).toEqual(['access', 'refresh']);
    // Nothing is stored for a connection: the tokens are only the stage's.
    const [stored] = await h.db.query<{ n: string }>(
      `select count(*) as n from vault.credential c
         join connection.integration_connection ic on ic.id = c.connection_id`,
    );
    expect(stored!.n).toBe('0');

    // No edge runs: the vault alone finishes them, once the 10 s hold has ended.
    await waitFor(
      async () => {
        const now = await salesforceTokensOf('u-alice');
        return issued.every((t) => now.find((n) => n.token === t.token)?.status === 'revoked');
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "the unclaimed stage's tokens revoked" },
    );
    await waitFor(async () => (await liveStages()) === '0', {
      timeoutMs: 10_000,
      what: 'the stage destroyed',
    });
    const rows = await h.db.query<{ ciphertext: string; wrapped_data_key: string }>(
      `select ciphertext, wrapped_data_key from vault.credential where staged_until is not null`,
    );
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.ciphertext === '' && r.wrapped_data_key === '')).toBe(true);
    // Counted for the operator: a callback's tokens nothing claimed in time.
    const metrics = await (
      await fetch(
        h.stack.processes.get('credential-vault')!.healthUrl.replace(/\/readyz$/, '/metrics'),
      )
    ).text();
    expect(metrics).toMatch(/^otesse_vault_unclaimed_stages_total 1$/m);

    // A new edge, a new connect: the slot's stale pending connect is abandoned, the new one connects, and its
    // staged copy is destroyed as the store moves the tokens in (nothing revoked).
    await h.stack.start('edge');
    const revokedBefore = (await salesforceTokensOf('u-alice')).filter(
      (t) => t.status === 'revoked',
    ).length;
    const again = await connectOAuth(h, h.admin, 'salesforce', 'app');
    expect(again.outcome).toBe('connected');
    expect(await liveStages()).toBe('0');
    const active = await h.db.query<{ kind: string }>(
      `select kind from vault.credential where connection_id = $1 and is_active order by kind`,
      [again.connectionId],
    );
    expect(active.map((r) => r.kind)).toEqual(['access_token', 'refresh_token']);
    expect(
      (await salesforceTokensOf('u-alice')).filter((t) => t.status === 'revoked'),
    ).toHaveLength(revokedBefore);
  });
});
