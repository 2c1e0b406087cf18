import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, waitFor, type TTcpProxy } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';
import { expectDisconnectedOnce, sagaOf, sagaStepOf, untilSagaStatus } from './disconnect-helpers';

/**
 * A network partition between one service and NATS while everything else keeps running (the chaos run restarts NATS
 * for everyone; this cuts one process off): the vault's path to NATS goes through a TCP proxy that the test cuts
 * while the vault is revoking a disconnect's tokens at the provider, and restores two seconds later. The vault is
 * not restarted: it keeps its state, finishes the provider calls it started, and reconnects.
 */
describe('a service cut off from NATS mid-saga (services as processes)', () => {
  let h: THarness;
  let proxy: TTcpProxy | undefined;
  /** Set once the proxy exists: the vault's next start goes through it. */
  let vaultNatsUrl: string | undefined;

  beforeAll(async () => {
    h = await startHarness({
      envFor: (s) => (s === 'credential-vault' && vaultNatsUrl ? { NATS_URL: vaultNatsUrl } : {}),
    });
    const nats = new URL(h.nats.url);
    proxy = await startTcpProxy({ host: nats.hostname, port: Number(nats.port) });
    vaultNatsUrl = proxy.via(h.nats.url);
    await h.stack.kill('credential-vault', 'SIGTERM');
    await h.stack.start('credential-vault');
  });
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
  });

  const connectionStatus = async (id: string) =>
    (
      await h.db.query<{ status: string }>(
        `select status from connection.integration_connection where id = $1`,
        [id],
      )
    )[0]?.status;

  it('the vault partitioned from NATS at the pivot: the saga waits, and once it is back the disconnect completes once, each token revoked once', async () => {
    expect(proxy!.open()).toBeGreaterThan(0);
    await h.fakeClient.consentAs('u-alice');
    const before = new Set((await h.fakeClient.listTokens()).map((t) => t.token));
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    const tokens = (await h.fakeClient.listTokens())
      .map((t) => t.token)
      .filter((t): t is string => t !== null && !before.has(t));
    expect(tokens).toHaveLength(2);
    const vault = h.stack.processes.get('credential-vault')!;
    const vaultPid = vault.child.proc.pid;
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
      // The vault is calling the provider when its link to NATS goes: its answer cannot reach the edge.
      proxy!.cut();
      const retried = await waitFor(
        async () => {
          const step = await sagaStepOf(h, sagaId, 'revoke-tokens');
          return step && step.attempts >= 2 ? step : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      // Between attempts: the edge found no vault to answer (or its request timed out with the answer lost).
      expect(retried.error).toMatchObject({
        code: expect.stringMatching(/^(UNAVAILABLE|TIMEOUT)$/),
        reason: expect.stringMatching(/^(no_responders|timeout)$/),
      });
      // The pivot's outcome is unknown: nothing is undone, the connection stays locked.
      expect((await sagaOf(h, sagaId)).status).toBe('running');
      expect(await connectionStatus(connectionId!)).toBe('disconnecting');
      await new Promise((r) => setTimeout(r, 1_500));
      proxy!.restore();
      restored = true;
      const done = await untilSagaStatus(h, sagaId, 'completed');
      expect(done.result).toMatchObject({ credentialsDeleted: 2 });
    } finally {
      if (!restored) proxy!.restore();
      await h.fakeClient.configure({ revokeDelayMs: 0 });
    }
    expect(await connectionStatus(connectionId!)).toBe('revoked');
    await expectDisconnectedOnce(h, connectionId!);
    // The provider saw each token once: the retries after the partition replayed the vault's stored report.
    const calls = (await h.fakeClient.getState()).revocations.filter(
      (r) => r.token !== null && tokens.includes(r.token),
    );
    expect(calls.map((c) => c.tokenTypeHint).sort()).toEqual(['access_token', 'refresh_token']);
    for (const t of tokens) expect((await h.fakeClient.tokenStatus(t)).status).toBe('revoked');
    // The same vault process rode it out.
    expect(vault.child.proc.pid).toBe(vaultPid);
    expect(vault.child.proc.exitCode).toBeNull();
    expect(h.stack.output('credential-vault')).not.toMatch(/handler failed/);
  });
});
