import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { NATS_CONFIG_FILE, NATS_DEV_USERS, waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';

/** Least privilege on NATS (issue 8 slice): every service as its own user, and the whole flow still works. */
describe('NATS permissions (tools/nats/nats-server.conf)', () => {
  let h: THarness;
  const extra: NatsConnection[] = [];
  beforeAll(async () => {
    h = await startHarness({
      natsConfigFile: NATS_CONFIG_FILE,
      envFor: (s) => ({
        NATS_USER: NATS_DEV_USERS[s].user,
        NATS_PASSWORD: NATS_DEV_USERS[s].password,
      }),
    });
  });
  afterAll(async () => {
    await Promise.all(extra.map((nc) => nc.close().catch(() => undefined)));
    await h?.close();
  });

  const as = async (service: keyof typeof NATS_DEV_USERS) => {
    const nc = await connect({
      servers: h.nats.url,
      user: NATS_DEV_USERS[service].user,
      pass: NATS_DEV_USERS[service].password,
      inboxPrefix:
        service === 'sync-scheduler'
          ? '_INBOX_sync_scheduler'
          : `_INBOX_${NATS_DEV_USERS[service].user}`,
    });
    extra.push(nc);
    return nc;
  };

  it('connects, syncs and disconnects with every service under its own user', async () => {
    const { outcome, connectionId } = await connectOAuth(h, h.admin, 'google', 'app');
    expect(outcome).toBe('connected');
    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.disconnected' },
      });
      return entries.some((e) => e.targets.connectionId === connectionId);
    });
  });

  it("the sync-scheduler cannot call the vault's destroy; nothing is destroyed", async () => {
    const { connectionId } = await connectOAuth(h, h.member, 'google', 'user');
    const nc = await as('sync-scheduler');
    const payload = new TextEncoder().encode(
      JSON.stringify({ orgId: h.orgId, connectionId, idempotencyKey: 'attack-1' }),
    );
    await expect(
      nc.request('vault.credentials.destroy', payload, { timeout: 1_000 }),
    ).rejects.toThrow();
    const live = await h.db.query(
      `select 1 from vault.credential where connection_id = $1 and is_active`,
      [connectionId],
    );
    expect(live.length).toBe(2);
  });

  it("the edge cannot subscribe to the vault's subjects nor read another service's replies", async () => {
    const nc = await as('edge');
    const errors: string[] = [];
    // A denied subscription reports the server's permissions violation to its callback.
    const onError = (err: Error | null) => {
      if (err) errors.push(err.message);
    };
    nc.subscribe('vault.>', { callback: onError });
    nc.subscribe('_INBOX_vault.>', { callback: onError });
    await waitFor(() => errors.length >= 2, { timeoutMs: 5_000 });
    expect(errors.every((e) => /permissions violation/i.test(e))).toBe(true);
    expect(errors.join('\n')).toMatch(/vault\.>/);
    expect(errors.join('\n')).toMatch(/_INBOX_vault/);
  });
});
