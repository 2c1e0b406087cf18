import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@otesse/testing';
import { connectOAuth, startHarness, type THarness } from './e2e-harness';

/**
 * A change of user unlocks the connection once it recorded the new account (step 3), then revokes the previous
 * account's tokens (step 4). A disconnect that comes in between — the saga stopped there, or slow — destroys every
 * credential of the connection: it must revoke the previous account's tokens first, or that grant stays alive at the
 * provider (ServiceNow: a refresh token for ~100 days) with nothing left in Otesse to revoke it.
 */
describe('a disconnect after a change of user stopped before revoking the old tokens (whole stack as processes)', () => {
  let h: THarness;
  beforeAll(async () => {
    h = await startHarness();
    await h.admin.client.integrations.configureInstance.mutate({
      vendor: 'servicenow',
      subdomain: 'acme',
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The vault fails every revocation by credential id (a reconnect's, not a disconnect's) until the fix. */
  const failRevocationsById = async () => {
    await h.db
      .query(`create function public.refuse_revocation_by_id() returns trigger language plpgsql as $$
        begin if not new.blocks_refresh then raise exception 'revocation store unavailable'; end if;
        return new; end $$`);
    await h.db.query(`create trigger refuse_revocation_by_id before insert on vault.revocation_claim
        for each row execute function public.refuse_revocation_by_id()`);
    let fixed = false;
    return async () => {
      if (fixed) return;
      fixed = true;
      await h.db.query('drop trigger refuse_revocation_by_id on vault.revocation_claim');
      await h.db.query('drop function public.refuse_revocation_by_id()');
    };
  };

  it("revokes the previous account's tokens at the provider, each once, before destroying them; the resumed change of user does not revoke them again", async () => {
    await h.fakeClient.consentAs('u-alice');
    const { connectionId } = await connectOAuth(h, h.admin, 'servicenow', 'app');
    const alice = (await h.fakeClient.listTokens({ userId: 'u-alice' })).filter(
      (t) => t.status === 'active',
    );
    expect(alice.map((t) => t.type).sort()).toEqual(['access', 'refresh']);

    const fix = await failRevocationsById();
    let sagaId: string;
    try {
      const { outcome } = await connectOAuth(h, h.admin, 'servicenow', 'app', {
        action: 'changeUser',
        consentAs: 'u-bob',
      });
      expect(outcome).toBe('refused:stopped_part_way');
      const conn = (await h.admin.client.integrations.list.query()).find(
        (i) => i.provider.key === 'servicenow',
      )!.appConnection!;
      // The new account is recorded and the connection unlocked; the old tokens are retired, not revoked.
      expect(conn).toMatchObject({ id: connectionId, externalAccountId: 'u-bob' });
      expect(conn.operation).toMatchObject({
        type: 'change-user',
        status: 'failed',
        error: { step: 'revoke-old-tokens' },
      });
      sagaId = conn.operation!.sagaId;
      for (const t of alice)
        expect((await h.fakeClient.tokenStatus(t.token)).status).toBe('active');
    } finally {
      await fix();
    }

    const { saga } = await h.admin.client.disconnect.start.mutate({
      connectionId: connectionId!,
      confirm: true,
      waitMs: 20_000,
    });
    expect(saga.status).toBe('completed');
    const [left] = await h.db.query<{ n: number }>(
      `select count(*)::int as n from vault.credential where connection_id = $1 and ciphertext <> ''`,
      [connectionId],
    );
    expect(left!.n).toBe(0);
    // Before, only u-bob's (current) tokens were revoked: u-alice's grant outlived the connection.
    for (const t of alice) expect((await h.fakeClient.tokenStatus(t.token)).status).toBe('revoked');
    const revokedAlice = async () =>
      (await h.fakeClient.getState()).revocations.filter((r) =>
        alice.some((t) => t.token === r.token),
      ).length;
    expect(await revokedAlice()).toBe(2);

    // The stopped change of user, resumed, finds them revoked: no second call, no failure.
    const { saga: resumed } = await h.admin.client.operations.resume.mutate({
      sagaId,
      waitMs: 15_000,
    });
    expect(resumed.status).toBe('completed');
    expect(resumed.result).toMatchObject({
      'revoke-old-tokens': { supported: true, succeeded: true, warnings: [] },
      'destroy-old-credentials': { destroyed: 0 },
    });
    expect(await revokedAlice()).toBe(2);
    // The account did change (step 3), but the connection is revoked now: the entry says so rather than reading
    // as a change of user that left u-bob connected.
    const changed = await waitFor(async () => {
      const { entries } = await h.admin.client.audit.list.query({
        filters: { action: 'connection.user_changed' },
      });
      return entries.find((e) => e.targets.sagaId === sagaId);
    });
    expect(changed).toMatchObject({
      outcome: 'partial',
      details: {
        previousExternalAccount: 'u-alice',
        newExternalAccount: 'u-bob',
        connectionStatus: 'revoked',
        warnings: [
          'a disconnect of the connection began before the change of user finished: it is revoked now',
        ],
      },
    });
  });
});
