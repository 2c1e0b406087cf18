import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, waitFor, type TTcpProxy } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { expectDisconnectedOnce, sagaOf, sagaStepOf, untilSagaStatus } from './disconnect-helpers';

/**
 * A network partition between one process and NATS while everything else keeps running (the chaos run restarts NATS
 * for everyone; this cuts one process off): the vault's and the edge's paths to NATS go through TCP proxies that the
 * test cuts while the vault is revoking a disconnect's tokens at the provider, and restores a few seconds later.
 * Neither is restarted: each keeps its state and reconnects — the vault finishes the provider calls it started, the
 * edge goes on driving the saga from its log.
 */
describe('a process cut off from NATS mid-saga (services as processes)', () => {
  let h: THarness;
  /** Each one's own path to NATS, set up once the harness runs: their next start goes through it. */
  const proxies = new Map<'credential-vault' | 'edge', TTcpProxy>();
  const proxy = (s: 'credential-vault' | 'edge'): TTcpProxy => proxies.get(s)!;

  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) => {
        const p = proxies.get(s as 'credential-vault' | 'edge');
        return p ? { NATS_URL: p.via(h.nats.url) } : {};
      },
    });
    const nats = new URL(h.nats.url);
    for (const s of ['credential-vault', 'edge'] as const) {
      proxies.set(s, await startTcpProxy({ host: nats.hostname, port: Number(nats.port) }));
      await h.stack.kill(s, 'SIGTERM');
      await h.stack.start(s);
    }
  });
  afterAll(async () => {
    await h?.close();
    for (const p of proxies.values()) await p.close();
  });

  /** A member's OAuth connection of `vendor`, with the two tokens the provider issued for it. */
  const connected = async (vendor: string) => {
    const before = new Set((await h.fakeClient.listTokens()).map((t) => t.token));
    const { connectionId } = await connectOAuth(h, h.member, vendor, 'user');
    const tokens = (await h.fakeClient.listTokens())
      .map((t) => t.token)
      .filter((t): t is string => t !== null && !before.has(t));
    expect(tokens).toHaveLength(2);
    return { connectionId, tokens };
  };
  /** Each token revoked at the provider, with one call each. */
  const expectRevokedOnce = async (tokens: string[]) => {
    const calls = (await h.fakeClient.getState()).revocations.filter(
      (r) => r.token !== null && tokens.includes(r.token),
    );
    expect(calls.map((c) => c.tokenTypeHint).sort()).toEqual(['access_token', 'refresh_token']);
    for (const t of tokens) expect((await h.fakeClient.tokenStatus(t)).status).toBe('revoked');
  };
  const connectionStatus = async (id: string) =>
    (
      await h.db.query<{ status: string }>(
        `select status from connection.integration_connection where id = $1`,
        [id],
      )
    )[0]?.status;

  /**
   * A member's connection of `vendor` disconnected while `who`'s path to NATS is cut, from the moment the revocation
   * (the pivot) is out until `whileCut` returns; then the disconnect must complete once, each token revoked once,
   * by the same process.
   */
  const disconnectAcrossPartition = async (
    who: 'credential-vault' | 'edge',
    vendor: string,
    whileCut: (o: { sagaId: string; connectionId: string }) => Promise<void>,
  ): Promise<void> => {
    expect(proxy(who).open()).toBeGreaterThan(0);
    await h.fakeClient.consentAs('u-alice');
    const { connectionId, tokens } = await connected(vendor);
    const proc = h.stack.processes.get(who)!;
    const pid = proc.child.proc.pid;
    await h.fakeClient.configure({ revokeDelayMs: 1_000 });
    let restored = false;
    try {
      const { sagaId } = await h.member.client.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(
        async () => (await sagaStepOf(h, sagaId, 'revoke-tokens'))?.status === 'running',
      );
      proxy(who).cut();
      await whileCut({ sagaId, connectionId: connectionId! });
      // Past the pivot, or not knowing whether it was passed: nothing is undone, the connection stays locked.
      expect((await sagaOf(h, sagaId)).status).toBe('running');
      expect(await connectionStatus(connectionId!)).toBe('disconnecting');
      await h.fakeClient.configure({ revokeDelayMs: 0 });
      proxy(who).restore();
      restored = true;
      const done = await untilSagaStatus(h, sagaId, 'completed');
      expect(done.result).toMatchObject({ credentialsDeleted: 2 });
    } finally {
      if (!restored) proxy(who).restore();
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
    expect(await connectionStatus(connectionId!)).toBe('revoked');
    await expectDisconnectedOnce(h, connectionId!);
    // The provider saw each token once: the command sent before the cut and its retries after it came to one call.
    await expectRevokedOnce(tokens);
    // The same process rode it out.
    expect(proc.child.proc.pid).toBe(pid);
    expect(proc.child.proc.exitCode).toBeNull();
    expect(h.stack.output(who)).not.toMatch(/handler failed/);
  };

  it('the vault partitioned from NATS at the pivot: the saga waits, and once it is back the disconnect completes once, each token revoked once', async () => {
    await disconnectAcrossPartition('credential-vault', 'google', async ({ sagaId }) => {
      // The vault was calling the provider when its link went: its answer cannot reach the edge, which retries.
      const retried = await waitFor(
        async () => {
          // A retry that failed too, read before the next one starts (each attempt clears the last one's error).
          const step = await sagaStepOf(h, sagaId, 'revoke-tokens');
          return step && step.attempts >= 2 && step.error ? step : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      // Between attempts: the edge found no vault to answer (or its request timed out with the answer lost).
      expect(retried.error).toMatchObject({
        code: expect.stringMatching(/^(UNAVAILABLE|TIMEOUT)$/),
        reason: expect.stringMatching(/^(no_responders|timeout)$/),
      });
      await new Promise((r) => setTimeout(r, 1_500));
    });
  });

  it('the edge, which drives the saga, partitioned from NATS mid-saga: once it is back the saga goes on from its log and completes once', async () => {
    // The revocation is out; its answer, and every command after it, need the link that is gone for 2.5 s. The log
    // (in Postgres, still reachable) says where the saga stands meanwhile.
    await disconnectAcrossPartition(
      'edge',
      'slack',
      () => new Promise((r) => setTimeout(r, 2_500)),
    );
  });
});
