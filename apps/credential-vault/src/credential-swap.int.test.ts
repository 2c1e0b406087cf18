import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TRequestInput } from '@otesse/contracts';
import { EventPublisher, type Bus } from '@otesse/messaging';
import type { TFakeProvider } from '@otesse/fake-provider';
import type { TTestDatabase } from '@otesse/testing';
import { startVaultTestBed, type TVaultTestBed } from './test/vault-test-bed';
import { errorOf, failUpdatesWhere, waitFor } from '@otesse/testing';

type TVendor = 'servicenow' | 'confluence' | 'google' | 'salesforce';

/**
 * Seed 003 in the vault: the atomic swap of a connection's credentials (reconnect / change user), then the
 * revocation and destruction of the retired ones by id. No connection service runs here on purpose: none of this
 * may need it (the edge also revokes tokens stored under a throwaway connection id).
 */
describe('credential swap, revoke and destroy by id (real Postgres + NATS, fake provider over HTTP)', () => {
  let bed: TVaultTestBed;
  let db: TTestDatabase;
  let fake: TFakeProvider;
  let bus: Bus;
  const issued: string[] = [];

  beforeAll(async () => {
    // The discard sweep often and soon, so a test can watch it finish what the first run could not.
    bed = await startVaultTestBed('swap', {
      discard: { sweepIntervalMs: 200, staleAfterMs: 1_000 },
    });
    ({ db, fake, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });
  beforeEach(() => {
    fake.state.reset();
  });

  /** Tokens the fake provider issues to a user (as an OAuth callback would get them). */
  const tokensFor = (vendor: TVendor, userId: string) => {
    const { access, refresh } = fake.state.issueTokens({
      clientId: `otesse-dev-${vendor}`,
      user: fake.state.findUser(userId)!,
      instance: vendor === 'servicenow' ? 'acme' : undefined,
      scope: '',
      familyId: randomUUID(),
    });
    issued.push(access.token, refresh.token);
    return {
      access: access.token,
      refresh: refresh.token,
      credentials: [
        {
          kind: 'access_token' as const,
          value: access.token,
          expiresAt: new Date(access.expiresAt).toISOString(),
        },
        { kind: 'refresh_token' as const, value: refresh.token },
      ],
    };
  };
  /** A connection whose tokens (of u-alice) the vault holds. */
  const connected = async (vendor: TVendor) => {
    const c = { orgId: randomUUID(), connectionId: randomUUID(), vendor };
    const old = tokensFor(vendor, 'u-alice');
    const { credentialIds } = await bus.request('vault.credentials.store', {
      ...c,
      credentials: old.credentials,
    });
    return { ...c, old, oldIds: credentialIds };
  };
  const stage = (
    orgId: string,
    vendor: string,
    credentials: TRequestInput<'vault.tokens.stage'>['credentials'],
    idempotencyKey = `stage:saga-${randomUUID()}`,
  ) =>
    bus.request('vault.tokens.stage', {
      orgId,
      vendor,
      ...(vendor === 'servicenow' ? { subdomain: 'acme' } : {}),
      credentials,
      idempotencyKey,
    });
  /** A swap of the connection's credentials for the tokens staged under `stageId` (`vault.tokens.stage`). */
  const swapStaged = (
    c: { orgId: string; connectionId: string; vendor: string },
    stageId: string,
    idempotencyKey = `saga-${randomUUID()}:swap`,
  ) =>
    bus.request('vault.credentials.swap', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      vendor: c.vendor,
      stageId,
      idempotencyKey,
    });
  /**
   * A swap of the connection's credentials for new ones, as a reconnect makes it: its callback stages them, its
   * saga swaps them in by `stageId`. The stage's key follows the swap's, so a replay sends the same `stageId`, as a
   * resumed saga does.
   */
  const swap = async (
    c: { orgId: string; connectionId: string; vendor: string },
    credentials: TRequestInput<'vault.tokens.stage'>['credentials'],
    idempotencyKey = `saga-${randomUUID()}:swap`,
  ) => {
    const { stageId } = await stage(
      c.orgId,
      c.vendor,
      credentials,
      `stage:${c.connectionId}:${idempotencyKey}`,
    );
    return swapStaged(c, stageId, idempotencyKey);
  };
  const get = (c: { orgId: string; connectionId: string }) =>
    bus.request('vault.access-tokens.get', { orgId: c.orgId, connectionId: c.connectionId });
  const revoke = (
    c: { orgId: string; connectionId: string; vendor: string },
    over: Partial<TRequestInput<'vault.tokens.revoke'>> = {},
  ) =>
    bus.request('vault.tokens.revoke', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      vendor: c.vendor,
      ...(c.vendor === 'servicenow' ? { subdomain: 'acme' } : {}),
      idempotencyKey: `saga-${randomUUID()}:revoke`,
      ...over,
    });
  const destroy = (
    c: { orgId: string; connectionId: string },
    over: Partial<TRequestInput<'vault.credentials.destroy'>> = {},
  ) =>
    bus.request('vault.credentials.destroy', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      idempotencyKey: `saga-${randomUUID()}:destroy`,
      ...over,
    });
  const describeAll = async (c: { orgId: string; connectionId: string }) =>
    (
      await bus.request('vault.credentials.describe', {
        orgId: c.orgId,
        connectionId: c.connectionId,
        includeDeleted: true,
      })
    ).credentials;
  const rowsOf = (connectionId: string) =>
    db.query<{
      id: string;
      ciphertext: string;
      wrapped_data_key: string;
      is_active: boolean;
      is_deleted: boolean;
    }>('select * from vault.credential where connection_id = $1 order by created_at, id', [
      connectionId,
    ]);

  it('ServiceNow: swaps atomically, revokes exactly the retired tokens at the instance, destroys them by id; replays change nothing', async () => {
    const c = await connected('servicenow');
    const fresh = tokensFor('servicenow', 'u-bob');

    const swapKey = `saga-${randomUUID()}:swap`;
    const swapped = await swap(c, fresh.credentials, swapKey);
    expect(swapped.credentialIds).toHaveLength(2);
    expect(swapped.retiredCredentialIds).toEqual(c.oldIds);
    // New ones active; old ones retired: inactive, not destroyed, still encrypted.
    const described = await describeAll(c);
    const byId = new Map(described.map((d) => [d.id, d]));
    for (const id of swapped.credentialIds)
      expect(byId.get(id)).toMatchObject({ isActive: true, isDeleted: false, retiredAt: null });
    for (const id of c.oldIds) {
      expect(byId.get(id)).toMatchObject({ isActive: false, isDeleted: false });
      expect(byId.get(id)!.retiredAt).not.toBeNull();
    }
    for (const r of await rowsOf(c.connectionId))
      expect(r.ciphertext === '' || r.wrapped_data_key === '').toBe(false);
    // Callers now get the new token.
    await expect(get(c)).resolves.toMatchObject({
      accessToken: fresh.access,
      kind: 'access_token',
    });
    // A replay answers the same ids and adds nothing; the key for another connection is refused.
    await expect(swap(c, fresh.credentials, swapKey)).resolves.toEqual(swapped);
    expect(await rowsOf(c.connectionId)).toHaveLength(4);
    const other = await connected('servicenow');
    expect(await errorOf(swap(other, fresh.credentials, swapKey))).toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });

    // Revoke the retired tokens by id: the old ones die at the provider, the new ones stay active.
    const revokeKey = `saga-${randomUUID()}:revoke-old`;
    const report = await revoke(c, {
      credentialIds: swapped.retiredCredentialIds,
      idempotencyKey: revokeKey,
    });
    expect(report).toEqual({
      supported: true,
      succeeded: true,
      results: [
        { kind: 'refresh_token', outcome: 'revoked', httpStatus: 200 },
        { kind: 'access_token', outcome: 'revoked', httpStatus: 200 },
      ],
      warnings: [],
    });
    expect(fake.state.revocations.map((r) => [r.instance, r.token]).sort()).toEqual(
      [
        ['acme', c.old.access],
        ['acme', c.old.refresh],
      ].sort(),
    );
    expect(fake.state.tokenStatus(c.old.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(c.old.access).status).toBe('revoked');
    expect(fake.state.tokenStatus(fresh.refresh).status).toBe('active');
    expect(fake.state.tokenStatus(fresh.access).status).toBe('active');
    await expect(
      revoke(c, { credentialIds: c.oldIds, idempotencyKey: revokeKey }),
    ).resolves.toEqual(report);
    expect(fake.state.revocations).toHaveLength(2);

    // Destroy the retired ones by id: the new ones stay intact and usable.
    const destroyKey = `saga-${randomUUID()}:destroy-old`;
    await expect(
      destroy(c, { credentialIds: swapped.retiredCredentialIds, idempotencyKey: destroyKey }),
    ).resolves.toEqual({ destroyed: 2 });
    await expect(
      destroy(c, { credentialIds: swapped.retiredCredentialIds, idempotencyKey: destroyKey }),
    ).resolves.toEqual({ destroyed: 2 });
    // Another connection's ids are not touched, even when listed.
    await expect(destroy(c, { credentialIds: other.oldIds })).resolves.toEqual({ destroyed: 0 });
    expect((await describeAll(other)).every((d) => d.isActive && !d.isDeleted)).toBe(true);
    for (const r of await rowsOf(c.connectionId)) {
      if (c.oldIds.includes(r.id)) {
        expect(r).toMatchObject({ ciphertext: '', wrapped_data_key: '', is_deleted: true });
      } else {
        expect(r).toMatchObject({ is_active: true, is_deleted: false });
        expect(r.ciphertext).not.toBe('');
      }
    }
    await expect(get(c)).resolves.toMatchObject({
      accessToken: fresh.access,
    });
    // The current (new) tokens are what a default revoke would revoke now.
    await expect(revoke(c)).resolves.toMatchObject({ succeeded: true });
    expect(fake.state.tokenStatus(fresh.refresh).status).toBe('revoked');
  });

  it('settles a swap whose tokens its saga lost: the swap made under the key, or none ever under it', async () => {
    const settle = (c: { orgId: string; connectionId: string; vendor: string }, key: string) =>
      bus.request('vault.credentials.swap', {
        orgId: c.orgId,
        connectionId: c.connectionId,
        vendor: c.vendor,
        idempotencyKey: key,
      });
    // The swap had reached the vault: settling answers its ids, and changes nothing.
    const made = await connected('google');
    const madeKey = `saga-${randomUUID()}:swap`;
    const swapped = await swap(made, tokensFor('google', 'u-bob').credentials, madeKey);
    const states = async (connectionId: string) =>
      (await rowsOf(connectionId)).map((r) => ({
        id: r.id,
        active: r.is_active,
        deleted: r.is_deleted,
        destroyed: r.ciphertext === '',
      }));
    const before = await states(made.connectionId);
    await expect(settle(made, madeKey)).resolves.toEqual(swapped);
    expect(await states(made.connectionId)).toEqual(before);

    // It had not: the key is closed. The lost request arriving late changes nothing and gets the same answer.
    const lost = await connected('google');
    const lostKey = `saga-${randomUUID()}:swap`;
    expect(await errorOf(settle(lost, lostKey))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'swap_not_applied',
    });
    const late = tokensFor('google', 'u-bob');
    expect(await errorOf(swap(lost, late.credentials, lostKey))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'swap_not_applied',
    });
    const rows = await rowsOf(lost.connectionId);
    expect(rows.map((r) => r.id).sort()).toEqual([...lost.oldIds].sort());
    expect(rows.every((r) => r.is_active && !r.is_deleted)).toBe(true);
    expect((await get(lost)).accessToken).toBe(lost.old.access);
    // Settling again is the same answer; the key of another connection is still refused as reused.
    expect(await errorOf(settle(lost, lostKey))).toMatchObject({ reason: 'swap_not_applied' });
    expect(await errorOf(settle(made, lostKey))).toMatchObject({
      code: 'CONFLICT',
      reason: 'idempotency_key_reused',
    });
  });

  const discard = (
    orgId: string,
    vendor: TVendor,
    credentials: TRequestInput<'vault.tokens.discard'>['credentials'],
    idempotencyKey = `refused:${randomUUID()}`,
  ) =>
    bus.request('vault.tokens.discard', {
      orgId,
      vendor,
      ...(vendor === 'servicenow' ? { subdomain: 'acme' } : {}),
      credentials,
      idempotencyKey,
    });
  /** Every row of a discard destroyed (ciphertext and wrapped key gone, soft-deleted). */
  const destroyedAll = async (discardId: string) => {
    const rows = await rowsOf(discardId);
    return (
      rows.length > 0 &&
      rows.every((r) => r.is_deleted && r.ciphertext === '' && r.wrapped_data_key === '')
    );
  };

  /** For each of `ids` (credentials of the connection), whether it is destroyed: soft-deleted, its value and key gone. */
  const destroyedAmong = async (connectionId: string, ids: readonly string[]) => {
    const rows = await rowsOf(connectionId);
    return ids.map((id) => {
      const r = rows.find((x) => x.id === id);
      return r !== undefined && r.is_deleted && r.ciphertext === '' && r.wrapped_data_key === '';
    });
  };

  it('takes over a refused authorization: stored retired, each token revoked at the instance, destroyed; a replay stores nothing', async () => {
    const orgId = randomUUID();
    const refused = tokensFor('servicenow', 'u-bob');
    const key = `refused:${randomUUID()}`;
    const { discardId, finished } = await discard(orgId, 'servicenow', refused.credentials, key);
    // Revoked and destroyed before the answer.
    expect(finished).toBe(true);
    expect(await destroyedAll(discardId)).toBe(true);
    await expect(discard(orgId, 'servicenow', refused.credentials, key)).resolves.toEqual({
      discardId,
      finished: true,
    });
    expect(
      await errorOf(discard(randomUUID(), 'servicenow', refused.credentials, key)),
    ).toMatchObject({ code: 'CONFLICT', reason: 'idempotency_key_reused' });
    // A key another command used: refused the same way (not an internal error), nothing stored.
    const storeKey = `store:${randomUUID()}`;
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId: randomUUID(),
      vendor: 'servicenow',
      credentials: tokensFor('servicenow', 'u-bob').credentials,
      idempotencyKey: storeKey,
    });
    expect(
      await errorOf(discard(orgId, 'servicenow', refused.credentials, storeKey)),
    ).toMatchObject({ code: 'CONFLICT', reason: 'idempotency_key_reused' });
    const rows = await db.query<{ is_active: boolean; retired_at: Date | null }>(
      'select is_active, retired_at from vault.credential where connection_id = $1',
      [discardId],
    );
    expect(rows).toHaveLength(2);
    // Never one of a connection's current credentials: never handed out, never refreshed with.
    expect(rows.every((r) => !r.is_active && r.retired_at !== null)).toBe(true);
    expect(fake.state.revocations.map((r) => [r.instance, r.token]).sort()).toEqual(
      [
        ['acme', refused.access],
        ['acme', refused.refresh],
      ].sort(),
    );
    expect(fake.state.tokenStatus(refused.refresh).status).toBe('revoked');
  });

  it('finishes a discard the first run could not, at its next sweep, without calling the provider again', async () => {
    // The destruction fails for a while (a bad deploy, a database refusing): the revocation is done, then stuck.
    const fix = await failUpdatesWhere(db, {
      name: 'refuse_destroy',
      table: 'vault.credential',
      when: `new.is_deleted and old.discard_requested_at is not null`,
      message: 'simulated failure of the destruction',
    });
    let discardId: string;
    try {
      const refused = tokensFor('google', 'u-bob');
      const answer = await discard(randomUUID(), 'google', refused.credentials);
      discardId = answer.discardId;
      expect(answer.finished).toBe(false);
      expect(fake.state.revocations).toHaveLength(2);
      // Past the age the sweep waits for, still there while the destruction fails.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await destroyedAll(discardId)).toBe(false);
    } finally {
      await fix();
    }
    await waitFor(() => destroyedAll(discardId), {
      timeoutMs: 10_000,
      what: 'the sweep to destroy them',
    });
    // The sweep replayed the stored revocation report: the provider was called once per token.
    expect(fake.state.revocations).toHaveLength(2);
  });

  /** The stage's hold as if it had ended (the smallest hold is 10 s): claimable no more, its discard due. */
  const endHold = (stageId: string) =>
    db.query(
      `update vault.credential set staged_until = now() - interval '1 minute',
              discard_requested_at = now() - interval '1 minute' where connection_id = $1`,
      [stageId],
    );

  it('holds staged tokens for a swap from any process: moved into the connection, sealed for it, the staged copy destroyed', async () => {
    const c = await connected('servicenow');
    const fresh = tokensFor('servicenow', 'u-bob');
    const stageKey = `stage:saga-${randomUUID()}`;
    const { stageId } = await stage(c.orgId, 'servicenow', fresh.credentials, stageKey);
    // A replay stores nothing more.
    await expect(stage(c.orgId, 'servicenow', fresh.credentials, stageKey)).resolves.toEqual({
      stageId,
    });
    const staged = await rowsOf(stageId);
    expect(staged).toHaveLength(2);
    // Never a connection's: nothing hands them out.
    expect(staged.every((r) => !r.is_active && !r.is_deleted && r.ciphertext !== '')).toBe(true);
    for (const r of staged) {
      expect(r.ciphertext).not.toContain(fresh.access);
      expect(r.ciphertext).not.toContain(fresh.refresh);
    }
    const key = `saga-${randomUUID()}:swap`;
    const swapped = await swapStaged(c, stageId, key);
    expect([...swapped.retiredCredentialIds].sort()).toEqual([...c.oldIds].sort());
    // The connection now hands out the staged access token, with the expiry it was staged with.
    const got = await get(c);
    expect(got.accessToken).toBe(fresh.access);
    expect(await destroyedAll(stageId)).toBe(true);
    // A replay answers the same ids; the same stage under another key finds nothing left to claim.
    await expect(swapStaged(c, stageId, key)).resolves.toEqual(swapped);
    expect(await errorOf(swapStaged(c, stageId))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'swap_not_applied',
    });
    expect((await get(c)).accessToken).toBe(fresh.access);
    // Moved, not discarded: nothing was revoked at the provider.
    expect(fake.state.revocations).toEqual([]);
    expect(fake.state.tokenStatus(fresh.refresh).status).toBe('active');
  });

  it('discards staged tokens no swap claimed once their hold ends: revoked and destroyed; a late swap changes nothing', async () => {
    const c = await connected('servicenow');
    const fresh = tokensFor('servicenow', 'u-bob');
    const { stageId } = await stage(c.orgId, 'servicenow', fresh.credentials);
    await endHold(stageId);
    await waitFor(() => destroyedAll(stageId), {
      timeoutMs: 10_000,
      what: 'the sweep to discard the staged tokens',
    });
    expect(fake.state.revocations.map((r) => r.token).sort()).toEqual(
      [fresh.access, fresh.refresh].sort(),
    );
    expect(await errorOf(swapStaged(c, stageId))).toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'swap_not_applied',
    });
    expect((await get(c)).accessToken).toBe(c.old.access);
  });

  it("destroys without revoking a grant-wide provider's staged tokens whose hold ended: a live connection may share the grant", async () => {
    const orgId = randomUUID();
    const fresh = tokensFor('google', 'u-bob');
    const { stageId } = await stage(orgId, 'google', fresh.credentials);
    await endHold(stageId);
    await waitFor(() => destroyedAll(stageId), {
      timeoutMs: 10_000,
      what: 'the sweep to destroy the staged tokens',
    });
    expect(fake.state.revocations).toEqual([]);
  });

  it('discards staged tokens at once when asked by stage id (revoked, or only destroyed), once per key', async () => {
    const c = await connected('servicenow');
    const fresh = tokensFor('servicenow', 'u-bob');
    const { stageId } = await stage(c.orgId, 'servicenow', fresh.credentials);
    const key = `saga-${randomUUID()}:on-compensated`;
    const dropStage = (id: string, k: string, revoke?: boolean) =>
      bus.request('vault.tokens.discard', {
        orgId: c.orgId,
        vendor: 'servicenow',
        subdomain: 'acme',
        stageId: id,
        ...(revoke === undefined ? {} : { revoke }),
        idempotencyKey: k,
      });
    await expect(dropStage(stageId, key)).resolves.toEqual({ discardId: stageId, finished: true });
    expect(await destroyedAll(stageId)).toBe(true);
    expect(fake.state.revocations.map((r) => r.token).sort()).toEqual(
      [fresh.access, fresh.refresh].sort(),
    );
    await expect(dropStage(stageId, key)).resolves.toEqual({ discardId: stageId, finished: true });
    expect(fake.state.revocations).toHaveLength(2);
    // The swap its saga might still send finds nothing to claim.
    expect(await errorOf(swapStaged(c, stageId))).toMatchObject({ reason: 'swap_not_applied' });
    // revoke: false destroys only.
    const other = tokensFor('servicenow', 'u-bob');
    const second = await stage(c.orgId, 'servicenow', other.credentials);
    await dropStage(second.stageId, `k-${randomUUID()}`, false);
    expect(await destroyedAll(second.stageId)).toBe(true);
    expect(fake.state.revocations).toHaveLength(2);
    expect(fake.state.tokenStatus(other.refresh).status).toBe('active');
    // Another org's stage id is none of this org's: nothing to discard.
    const theirs = await stage(
      randomUUID(),
      'servicenow',
      tokensFor('servicenow', 'u-bob').credentials,
    );
    await expect(dropStage(theirs.stageId, `k-${randomUUID()}`)).resolves.toEqual({
      discardId: theirs.stageId,
      finished: true,
    });
    expect(await destroyedAll(theirs.stageId)).toBe(false);
  });

  it("stores a connect's staged tokens by stage id: moved into the connection, once; a stage gone, another org's or another provider's is refused and changes nothing", async () => {
    const orgId = randomUUID();
    const fresh = tokensFor('salesforce', 'u-bob');
    const { stageId } = await stage(orgId, 'salesforce', fresh.credentials);
    const connectionId = randomUUID();
    const storeStaged = (over: Partial<TRequestInput<'vault.credentials.store'>> = {}) =>
      bus.request('vault.credentials.store', {
        orgId,
        connectionId,
        vendor: 'salesforce',
        stageId,
        idempotencyKey: `store:${stageId}`,
        ...over,
      });
    // Another org's connect cannot claim this org's stage, nor another provider's connect.
    expect(
      await errorOf(storeStaged({ orgId: randomUUID(), connectionId: randomUUID() })),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'stage_gone' });
    expect(
      await errorOf(storeStaged({ vendor: 'google', connectionId: randomUUID() })),
    ).toMatchObject({ code: 'BAD_REQUEST', reason: 'vendor_mismatch' });
    // Both or neither of credentials and stageId: the contract refuses it.
    expect(
      await errorOf(storeStaged({ credentials: fresh.credentials, connectionId: randomUUID() })),
    ).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await rowsOf(stageId)).toHaveLength(2);
    expect(await destroyedAll(stageId)).toBe(false);

    const stored = await storeStaged();
    expect(stored.credentialIds).toHaveLength(2);
    // The connection hands out the staged access token; the staged copy is destroyed, nothing revoked.
    expect((await get({ orgId, connectionId })).accessToken).toBe(fresh.access);
    expect(await destroyedAll(stageId)).toBe(true);
    const rows = await rowsOf(connectionId);
    expect(rows.map((r) => r.id).sort()).toEqual([...stored.credentialIds].sort());
    expect(rows.every((r) => r.is_active && !r.is_deleted)).toBe(true);
    for (const r of rows) expect(r.ciphertext).not.toContain(fresh.access);
    // A replay answers the same ids; another key (a second connect) finds the stage gone, as does a swap.
    await expect(storeStaged()).resolves.toEqual(stored);
    expect(
      await errorOf(
        storeStaged({ idempotencyKey: `store:${randomUUID()}`, connectionId: randomUUID() }),
      ),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'stage_gone' });
    expect(
      await errorOf(swapStaged({ orgId, connectionId, vendor: 'salesforce' }, stageId)),
    ).toMatchObject({ reason: 'swap_not_applied' });
    expect(fake.state.revocations).toEqual([]);
    expect(fake.state.tokenStatus(fresh.refresh).status).toBe('active');

    // A stage past its hold is not stored: the sweep revokes it instead.
    const late = tokensFor('salesforce', 'u-bob');
    const { stageId: lateId } = await stage(orgId, 'salesforce', late.credentials);
    await endHold(lateId);
    expect(
      await errorOf(
        storeStaged({
          stageId: lateId,
          idempotencyKey: `store:${lateId}`,
          connectionId: randomUUID(),
        }),
      ),
    ).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'stage_gone' });
    await waitFor(() => destroyedAll(lateId), {
      timeoutMs: 10_000,
      what: 'the sweep to discard the late stage',
    });
    expect(fake.state.tokenStatus(late.refresh).status).toBe('revoked');
  });

  it('revokes at the provider, then destroys, what an abandoned connect stored', async () => {
    // A provider whose revocation ends one token (Google's would first ask the connection service whether a live
    // connection shares the grant: the whole stack's reconnect-shared-grant test covers it).
    const c = await connected('salesforce');
    const event = {
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      orgId: c.orgId,
      vendor: 'salesforce',
      instanceId: randomUUID(),
      connectionId: c.connectionId,
      level: 'app' as const,
      userId: randomUUID(),
      reason: 'connect_expired',
    };
    await new EventPublisher(bed.nc).publish('integrations.connection.abandoned', event, {
      msgId: event.eventId,
    });
    await waitFor(() => destroyedAll(c.connectionId), {
      what: 'the abandoned credentials destroyed',
    });
    // Before, they were only destroyed: the authorization stayed live at the provider until it expired.
    expect(fake.state.tokenStatus(c.old.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(c.old.access).status).toBe('revoked');
    expect(fake.state.revocations).toHaveLength(2);
  });

  it('a store with replace revokes the tokens it replaces, then destroys them, before it answers; a replay calls the provider no more', async () => {
    const c = await connected('salesforce');
    const newer = tokensFor('salesforce', 'u-alice');
    const idempotencyKey = `reauth:${randomUUID()}`;
    const store = () =>
      bus.request('vault.credentials.store', {
        orgId: c.orgId,
        connectionId: c.connectionId,
        vendor: 'salesforce',
        credentials: newer.credentials,
        replace: true,
        idempotencyKey,
      });
    const { credentialIds } = await store();
    // Before, they were only destroyed: the replaced authorization stayed live at the provider.
    expect(fake.state.tokenStatus(c.old.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(c.old.access).status).toBe('revoked');
    expect(fake.state.tokenStatus(newer.access).status).toBe('active');
    expect(await destroyedAmong(c.connectionId, c.oldIds)).toEqual(c.oldIds.map(() => true));
    await expect(get(c)).resolves.toMatchObject({ accessToken: newer.access });
    await expect(store()).resolves.toEqual({ credentialIds });
    expect(fake.state.revocations).toHaveLength(2);
    // A plain store (no replace) leaves the current credentials alone.
    await bus.request('vault.credentials.store', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      vendor: 'salesforce',
      credentials: [{ kind: 'api_key', value: 'k'.repeat(24) }],
    });
    expect(fake.state.revocations).toHaveLength(2);
    expect(fake.state.tokenStatus(newer.refresh).status).toBe('active');
  });

  it("a store with replace of a grant-wide provider's tokens (Google) destroys the old ones without revoking: the new ones share the grant", async () => {
    // Reset by beforeEach.
    fake.state.applyConfig({ revokeScope: 'grant' });
    const c = await connected('google');
    const newer = tokensFor('google', 'u-alice');
    await bus.request('vault.credentials.store', {
      orgId: c.orgId,
      connectionId: c.connectionId,
      vendor: 'google',
      credentials: newer.credentials,
      replace: true,
      idempotencyKey: `reauth:${randomUUID()}`,
    });
    // Before, the old refresh token's revocation ended the whole grant: the new tokens were revoked with it.
    expect(fake.state.revocations).toEqual([]);
    expect(fake.state.tokenStatus(newer.refresh).status).toBe('active');
    expect(fake.state.tokenStatus(newer.access).status).toBe('active');
    expect(await destroyedAmong(c.connectionId, c.oldIds)).toEqual(c.oldIds.map(() => true));
    await expect(get(c)).resolves.toMatchObject({ accessToken: newer.access });
  });

  it.each([
    ['salesforce', 2],
    // Google's revocation ends the whole grant, which the new tokens share: neither the store nor the sweep revokes.
    ['google', 0],
  ] as const)(
    'a replace whose destruction failed is finished by the sweep, the provider called once per token (%s: %i revocations)',
    async (vendor, revocations) => {
      fake.state.applyConfig({ revokeScope: vendor === 'google' ? 'grant' : 'token' });
      const c = await connected(vendor);
      const fix = await failUpdatesWhere(db, {
        name: 'refuse_replaced_destroy',
        table: 'vault.credential',
        when: `new.is_deleted and old.discard_id is not null`,
        message: 'simulated failure of the destruction',
      });
      const newer = tokensFor(vendor, 'u-alice');
      try {
        // The new credentials are stored whatever happens to the old ones.
        await bus.request('vault.credentials.store', {
          orgId: c.orgId,
          connectionId: c.connectionId,
          vendor,
          credentials: newer.credentials,
          replace: true,
        });
        await expect(get(c)).resolves.toMatchObject({ accessToken: newer.access });
        expect(fake.state.revocations).toHaveLength(revocations);
        await new Promise((r) => setTimeout(r, 1_500));
        const rows = await rowsOf(c.connectionId);
        expect(rows.filter((r) => c.oldIds.includes(r.id)).map((r) => r.is_deleted)).toEqual([
          false,
          false,
        ]);
      } finally {
        await fix();
      }
      await waitFor(
        async () =>
          (await rowsOf(c.connectionId))
            .filter((r) => c.oldIds.includes(r.id))
            .every((r) => r.is_deleted && r.ciphertext === ''),
        { timeoutMs: 10_000, what: 'the sweep to destroy the replaced credentials' },
      );
      expect(fake.state.revocations).toHaveLength(revocations);
      // The new ones untouched by the sweep.
      await expect(get(c)).resolves.toMatchObject({ accessToken: newer.access });
    },
  );

  it('Confluence: swap, then revoking the retired tokens is recorded "not supported", destroy by id', async () => {
    const c = await connected('confluence');
    const fresh = tokensFor('confluence', 'u-bob');
    const swapped = await swap(c, fresh.credentials);
    const report = await revoke(c, { credentialIds: swapped.retiredCredentialIds });
    expect(report).toMatchObject({
      supported: false,
      succeeded: false,
      results: [
        { kind: 'refresh_token', outcome: 'not_supported' },
        { kind: 'access_token', outcome: 'not_supported' },
      ],
    });
    expect(report.warnings).toEqual([expect.stringMatching(/not supported.*Connected apps/)]);
    expect(fake.state.revocations).toHaveLength(0);
    await expect(destroy(c, { credentialIds: swapped.retiredCredentialIds })).resolves.toEqual({
      destroyed: 2,
    });
    await expect(get(c)).resolves.toMatchObject({
      accessToken: fresh.access,
    });
  });

  it('serialises concurrent swaps and reads: one set active at any time, every retired id retired once', async () => {
    const c = await connected('google');
    const a = tokensFor('google', 'u-bob');
    const b = tokensFor('google', 'u-alice');
    const reads = Promise.all(Array.from({ length: 20 }, () => get(c)));
    const [sa, sb] = await Promise.all([swap(c, a.credentials), swap(c, b.credentials)]);
    // Every read got one whole set's token, never an error.
    for (const r of await reads)
      expect([c.old.access, a.access, b.access]).toContain(r.accessToken);
    const retired = [...sa.retiredCredentialIds, ...sb.retiredCredentialIds];
    expect(new Set(retired).size).toBe(retired.length);
    // The later swap retired the original set plus the earlier swap's set, or just the earlier swap's.
    const [first, second] = sa.retiredCredentialIds.every((id) => c.oldIds.includes(id))
      ? [sa, sb]
      : [sb, sa];
    expect(first.retiredCredentialIds).toEqual(c.oldIds);
    expect(second.retiredCredentialIds).toEqual(first.credentialIds);
    const active = (await describeAll(c)).filter((d) => d.isActive).map((d) => d.id);
    expect(active.sort()).toEqual([...second.credentialIds].sort());
    const winner = second === sa ? a : b;
    await expect(get(c)).resolves.toMatchObject({
      accessToken: winner.access,
    });
  });

  it('a swap retires a dead (deactivated) refresh token too, and a swap without refresh token leaves none current', async () => {
    const c = await connected('google');
    // The provider declared the refresh token dead earlier (what a refresh on invalid_grant leaves).
    await db.query(
      `update vault.credential set is_active = false where connection_id = $1 and kind = 'refresh_token'`,
      [c.connectionId],
    );
    const fresh = tokensFor('google', 'u-alice');
    const swapped = await swap(c, [fresh.credentials[0]!]);
    expect([...swapped.retiredCredentialIds].sort()).toEqual([...c.oldIds].sort());
    // The saga revokes the retired ones by id; then "the current ones" are the new access token only: the retired
    // refresh token is not current (and, revoked, not taken again).
    await revoke(c, { credentialIds: swapped.retiredCredentialIds });
    const before = fake.state.revocations.length;
    const report = await revoke(c);
    expect(report.results).toEqual([
      { kind: 'refresh_token', outcome: 'no_token', httpStatus: null },
      { kind: 'access_token', outcome: 'revoked', httpStatus: 200 },
    ]);
    expect(fake.state.revocations.slice(before).map((r) => r.token)).toEqual([fresh.access]);
  });

  it('revokes and destroys a refused authorization stored under a throwaway id, without any connection lookup', async () => {
    // The connection service does not run here: any lookup would fail.
    const throwaway = { orgId: randomUUID(), connectionId: randomUUID(), vendor: 'servicenow' };
    const refused = tokensFor('servicenow', 'u-carol');
    const { credentialIds } = await bus.request('vault.credentials.store', {
      ...throwaway,
      credentials: refused.credentials,
    });
    const report = await revoke(throwaway, { credentialIds, subdomain: 'acme' });
    expect(report).toMatchObject({ supported: true, succeeded: true, warnings: [] });
    expect(fake.state.tokenStatus(refused.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(refused.access).status).toBe('revoked');
    await expect(destroy(throwaway)).resolves.toEqual({ destroyed: 2 });
    await expect(get(throwaway)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it("skips ids of another connection (with a warning) and never sends another provider's token", async () => {
    const c = await connected('google');
    const other = await connected('google');
    const report = await revoke(c, { credentialIds: [other.oldIds[0]!, c.oldIds[1]!] });
    expect(report.results).toEqual([
      { kind: 'refresh_token', outcome: 'revoked', httpStatus: 200 },
      { kind: 'access_token', outcome: 'no_token', httpStatus: null },
    ]);
    expect(report.warnings).toEqual([expect.stringMatching(/1 of the credential ids/)]);
    expect(fake.state.revocations.map((r) => r.token)).toEqual([c.old.refresh]);
    expect(fake.state.tokenStatus(other.old.access).status).toBe('active');

    expect(
      await errorOf(revoke({ ...c, vendor: 'slack' }, { credentialIds: c.oldIds })),
    ).toMatchObject({ code: 'BAD_REQUEST', reason: 'vendor_mismatch' });
    expect(
      await errorOf(swap({ ...c, vendor: 'slack' }, [{ kind: 'api_key', value: 'x'.repeat(20) }])),
    ).toMatchObject({ code: 'BAD_REQUEST', reason: 'vendor_mismatch' });
    // Malformed new tokens are refused where they enter the vault, the stage: nothing to swap in.
    expect(
      await errorOf(
        swap(c, [
          { kind: 'access_token', value: 'a'.repeat(20) },
          { kind: 'access_token', value: 'b'.repeat(20) },
        ]),
      ),
    ).toMatchObject({
      code: 'BAD_REQUEST',
      details: [{ path: ['credentials'], message: 'at most one credential of each kind' }],
    });
    expect(
      await errorOf(
        swap(c, [
          {
            kind: 'access_token',
            value: 'a'.repeat(20),
            expiresAt: new Date().toISOString(),
            expiresInSec: 3_600,
          },
        ]),
      ),
    ).toMatchObject({
      code: 'BAD_REQUEST',
      details: [
        {
          path: ['credentials', 0, 'expiresInSec'],
          message: 'expiresAt or expiresInSec, not both',
        },
      ],
    });
    // Refused swaps changed nothing.
    expect((await describeAll(c)).map((d) => [d.id, d.isActive])).toEqual(
      c.oldIds.map((id) => [id, true]),
    );
    expect(fake.state.revocations).toHaveLength(1);
  });

  /** The tokens the provider was asked to revoke, sorted, one line per call. */
  const revokedAtProvider = () => fake.state.revocations.map((r) => r.token).sort();

  it("a disconnect after a change of user whose revocation has not run revokes the retired tokens too, each once; the change of user's revocation then reports them revoked without calling again", async () => {
    const c = await connected('servicenow');
    const fresh = tokensFor('servicenow', 'u-bob');
    // The change of user's swap retired u-alice's tokens; its revocation of them (a later step) has not run.
    const swapped = await swap(c, fresh.credentials);

    // The disconnect's revocation (no ids), then its destruction of every row.
    const report = await revoke(c, { idempotencyKey: `saga-${randomUUID()}:revoke-tokens` });
    expect(report).toMatchObject({ supported: true, succeeded: true, warnings: [] });
    expect(report.results.map((r) => [r.kind, r.outcome])).toEqual([
      ['refresh_token', 'revoked'],
      ['refresh_token', 'revoked'],
      ['access_token', 'revoked'],
      ['access_token', 'revoked'],
    ]);
    // Before, only u-bob's (current) tokens were revoked: u-alice's grant stayed alive at the provider.
    expect(revokedAtProvider()).toEqual(
      [c.old.access, c.old.refresh, fresh.access, fresh.refresh].sort(),
    );
    for (const t of [c.old.access, c.old.refresh, fresh.access, fresh.refresh])
      expect(fake.state.tokenStatus(t).status).toBe('revoked');
    await expect(destroy(c)).resolves.toEqual({ destroyed: 4 });

    // The change of user resumes: its revocation of the retired ids finds them revoked, and says so, quietly.
    await expect(
      revoke(c, {
        credentialIds: swapped.retiredCredentialIds,
        idempotencyKey: `saga-${randomUUID()}:revoke-old-tokens`,
      }),
    ).resolves.toEqual({
      supported: true,
      succeeded: true,
      results: [
        { kind: 'refresh_token', outcome: 'revoked', httpStatus: null },
        { kind: 'access_token', outcome: 'revoked', httpStatus: null },
      ],
      warnings: [],
    });
    expect(revokedAtProvider()).toHaveLength(4);
    expect(bed.logLines.join('')).not.toMatch(/could not be read/);
    await expect(destroy(c, { credentialIds: swapped.retiredCredentialIds })).resolves.toEqual({
      destroyed: 0,
    });
  });

  it('a disconnect after the retired tokens were revoked sends only the current ones; a failed revocation is tried again by the disconnect, and reported as failed after it', async () => {
    const c = await connected('servicenow');
    const fresh = tokensFor('servicenow', 'u-bob');
    const swapped = await swap(c, fresh.credentials);
    // The change of user revoked its retired tokens, but was stopped before destroying them.
    await expect(revoke(c, { credentialIds: swapped.retiredCredentialIds })).resolves.toMatchObject(
      { succeeded: true },
    );
    expect(revokedAtProvider()).toEqual([c.old.access, c.old.refresh].sort());
    await expect(revoke(c)).resolves.toMatchObject({
      succeeded: true,
      results: [
        { kind: 'refresh_token', outcome: 'revoked', httpStatus: 200 },
        { kind: 'access_token', outcome: 'revoked', httpStatus: 200 },
      ],
    });
    expect(revokedAtProvider()).toEqual(
      [c.old.access, c.old.refresh, fresh.access, fresh.refresh].sort(),
    );

    // Another change of user whose own revocation failed at the provider (a 500): the disconnect tries again.
    fake.state.reset();
    const d = await connected('servicenow');
    const next = tokensFor('servicenow', 'u-bob');
    const swappedD = await swap(d, next.credentials);
    fake.state.applyConfig({ revokeMode: '500' });
    await expect(
      revoke(d, { credentialIds: swappedD.retiredCredentialIds }),
    ).resolves.toMatchObject({ succeeded: false });
    fake.state.applyConfig({ revokeMode: 'ok' });
    await expect(revoke(d)).resolves.toMatchObject({ succeeded: true });
    expect(fake.state.tokenStatus(d.old.refresh).status).toBe('revoked');
    expect(fake.state.tokenStatus(d.old.access).status).toBe('revoked');
    expect(revokedAtProvider()).toHaveLength(6);

    // A third whose tokens the disconnect could not revoke either: destroyed, and its later step says so.
    const e = await connected('servicenow');
    const swappedE = await swap(e, tokensFor('servicenow', 'u-bob').credentials);
    fake.state.applyConfig({ revokeMode: '500' });
    await expect(revoke(e)).resolves.toMatchObject({ succeeded: false });
    fake.state.applyConfig({ revokeMode: 'ok' });
    await destroy(e);
    const calls = fake.state.revocations.length;
    const late = await revoke(e, { credentialIds: swappedE.retiredCredentialIds });
    expect(late).toMatchObject({
      succeeded: false,
      results: [
        { kind: 'refresh_token', outcome: 'failed', httpStatus: null },
        { kind: 'access_token', outcome: 'failed', httpStatus: null },
      ],
    });
    expect(late.warnings.join(' ')).toMatch(/destroyed after its revocation failed/);
    expect(fake.state.revocations).toHaveLength(calls);
  });

  it('never wrote a token to a log line', () => {
    expect(bed.logLines.length).toBeGreaterThan(5);
    const all = bed.logLines.join('');
    for (const t of issued) expect(all).not.toContain(t);
  });
});
