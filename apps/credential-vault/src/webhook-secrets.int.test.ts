import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { WEBHOOK_MAX_BODY_BYTES, type TRequestInput } from '@otesse/contracts';
import type { Bus } from '@otesse/messaging';
import { loadCatalogue, signWebhook, type TWebhookSignature } from '@otesse/providers';
import type { TTestDatabase } from '@otesse/testing';
import type { TWebhookSecretRow } from './webhook-secret-rows';
import type { TMasterKey } from './crypto/master-keys';
import { masterKey, startVaultBed, type TVaultBed } from './test/vault-test-bed';
import { errorOf } from '@otesse/testing';

/** Every secret handed to the vault in this file. */
const secrets: string[] = [];
function newSecret(): string {
  const s = `whsec_${randomBytes(24).toString('base64url')}`;
  secrets.push(s);
  return s;
}
// The catalogue the vault runs with (built-in, no environment overrides): the tests sign with its schemes.
const catalogue = loadCatalogue({ env: {} });
const schemeOf = (vendor: string): TWebhookSignature => {
  const scheme = catalogue.get(vendor).webhooks?.signature;
  if (!scheme) throw new Error(`${vendor} has no webhook scheme`);
  return scheme;
};
const unixNow = () => String(Math.floor(Date.now() / 1000));

/** As `pg` reads it: timestamptz as Date. */
type TSecretRow = TWebhookSecretRow & { created_at: Date; updated_at: Date };

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('webhook secrets (real Postgres + NATS)', () => {
  let bed: TVaultBed;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let bus: Bus;
  const k1 = masterKey('k1');
  const start = (masterKeys: TMasterKey[]): Promise<void> => bed.restart(masterKeys);

  beforeAll(async () => {
    bed = await startVaultBed('webhook-secrets', {
      logLevel: 'trace',
      catalogue,
      masterKeys: [k1],
    });
    ({ db, nc, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  const set = (input: TRequestInput<'vault.webhook-secrets.set'>) =>
    bus.request('vault.webhook-secrets.set', input);
  const describeSecret = (orgId: string, instanceId: string) =>
    bus.request('vault.webhook-secrets.describe', { orgId, instanceId });
  /** Verifies a delivery signed (by default) with `signedWith` under `vendor`'s catalogue scheme: the reply. */
  const verifyReply = async (
    input: Omit<
      TRequestInput<'vault.webhook-signatures.verify'>,
      'signature' | 'timestamp' | 'bodyBase64'
    > & {
      body: string;
      signature?: string;
      timestamp?: string | null;
      signedWith?: string;
    },
  ) => {
    const { signedWith, body, ...req } = input;
    const timestamp = req.timestamp ?? null;
    const signature =
      req.signature ??
      signWebhook(schemeOf(req.vendor), signedWith ?? 'unused-secret', body, timestamp);
    return bus.request('vault.webhook-signatures.verify', {
      ...req,
      bodyBase64: b64(body),
      signature,
      timestamp,
    });
  };
  /** The same, its outcome alone. */
  const verify = async (input: Parameters<typeof verifyReply>[0]) =>
    (await verifyReply(input)).outcome;
  const previousRowOf = async (instanceId: string): Promise<TSecretRow | undefined> =>
    (
      await db.query<TSecretRow>(
        'select * from vault.webhook_secret_previous where instance_id = $1',
        [instanceId],
      )
    )[0];
  const rowOf = async (instanceId: string): Promise<TSecretRow | undefined> =>
    (
      await db.query<TSecretRow>('select * from vault.webhook_secret where instance_id = $1', [
        instanceId,
      ])
    )[0];
  const count = async () =>
    (await db.query<{ n: number }>('select count(*)::int as n from vault.webhook_secret'))[0]!.n;

  it('sets a secret and verifies a QuickBooks delivery (body only) as valid', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const secret = newSecret();
    const reply = await set({ orgId, instanceId, vendor: 'quickbooks', secret });
    expect(reply).toEqual({ configured: true, updatedAt: expect.any(String), previous: null });
    expect(JSON.stringify(reply)).not.toContain(secret);

    const body = JSON.stringify({ eventNotifications: [{ realmId: '123', dataChangeEvent: {} }] });
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: secret }),
    ).resolves.toBe('valid');
    // Surrounding whitespace in the header is tolerated (webhookSignatureMatches trims).
    const sig = signWebhook(schemeOf('quickbooks'), secret, body, null);
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signature: ` ${sig} ` }),
    ).resolves.toBe('valid');

    // A wrong signature, a body that is not the signed one, a signature made with another secret.
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signature: 'bm90IGl0' }),
    ).resolves.toBe('mismatch');
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body: `${body} `, signature: sig }),
    ).resolves.toBe('mismatch');
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: 'another-secret-1234' }),
    ).resolves.toBe('mismatch');
  });

  it('verifies a Slack delivery over its timestamp and body', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const secret = newSecret();
    await set({ orgId, instanceId, vendor: 'slack', secret });
    const body = 'token=x&team_id=T1&event=%7B%7D';
    const timestamp = unixNow();
    const signature = signWebhook(schemeOf('slack'), secret, body, timestamp);
    expect(signature).toMatch(/^v0=[0-9a-f]{64}$/);
    await expect(
      verify({ orgId, instanceId, vendor: 'slack', body, timestamp, signature }),
    ).resolves.toBe('valid');
    // The timestamp is signed: another one (a replayed signature with a fresh timestamp), or none, fails.
    await expect(
      verify({
        orgId,
        instanceId,
        vendor: 'slack',
        body,
        timestamp: String(Number(timestamp) + 1),
        signature,
      }),
    ).resolves.toBe('mismatch');
    await expect(
      verify({ orgId, instanceId, vendor: 'slack', body, timestamp: null, signature }),
    ).resolves.toBe('mismatch');
    // A body at the contract's limit still verifies.
    // The worst case as JSON text (control characters escape to six bytes each) travels as base64.
    const big = '\u0001'.repeat(WEBHOOK_MAX_BODY_BYTES);
    await expect(
      verify({
        orgId,
        instanceId,
        vendor: 'slack',
        body: big,
        timestamp,
        signature: signWebhook(schemeOf('slack'), secret, big, timestamp),
      }),
    ).resolves.toBe('valid');
  });

  it('answers no_secret for an instance without one, and for another org asking about it', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const body = '{"a":1}';
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: 'whatever-secret-1' }),
    ).resolves.toBe('no_secret');
    await expect(describeSecret(orgId, instanceId)).resolves.toEqual({
      configured: false,
      updatedAt: null,
      previous: null,
    });

    const secret = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret });
    const otherOrg = randomUUID();
    // Even a correctly signed delivery: the instance is not the other org's.
    await expect(
      verify({ orgId: otherOrg, instanceId, vendor: 'quickbooks', body, signedWith: secret }),
    ).resolves.toBe('no_secret');
    await expect(describeSecret(otherOrg, instanceId)).resolves.toEqual({
      configured: false,
      updatedAt: null,
      previous: null,
    });
    // Nor may another org overwrite it: refused, the owner's secret untouched.
    const before = await rowOf(instanceId);
    await expect(
      errorOf(set({ orgId: otherOrg, instanceId, vendor: 'quickbooks', secret: newSecret() })),
    ).resolves.toMatchObject({ code: 'BAD_REQUEST', reason: 'instance_mismatch' });
    expect(await rowOf(instanceId)).toEqual(before);
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: secret }),
    ).resolves.toBe('valid');
  });

  it('refuses a provider without webhook signatures on set, and answers unsupported on verify', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const before = await count();
    for (const vendor of ['google', 'no-such-provider']) {
      const err = await errorOf(set({ orgId, instanceId, vendor, secret: newSecret() }));
      expect(err).toMatchObject({ code: 'BAD_REQUEST', reason: 'unsupported_provider' });
      for (const s of secrets) expect(err.message).not.toContain(s);
    }
    expect(await count()).toBe(before);
    await expect(describeSecret(orgId, instanceId)).resolves.toMatchObject({ configured: false });

    // The instance has a (QuickBooks) secret; a delivery claimed for a provider that signs nothing is unsupported.
    await set({ orgId, instanceId, vendor: 'quickbooks', secret: newSecret() });
    for (const vendor of ['google', 'no-such-provider'])
      await expect(
        bus.request('vault.webhook-signatures.verify', {
          orgId,
          instanceId,
          vendor,
          bodyBase64: b64('{}'),
          signature: 'sig',
          timestamp: null,
        }),
      ).resolves.toEqual({ outcome: 'unsupported', secret: null });
  });

  it("answers mismatch when the secret is another provider's, even for a signature it would match", async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const secret = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret });
    const body = '{"events":[]}';
    // Xero signs exactly as QuickBooks does (base64 HMAC of the body): the HMAC alone would pass.
    expect(signWebhook(schemeOf('xero'), secret, body, null)).toBe(
      signWebhook(schemeOf('quickbooks'), secret, body, null),
    );
    await expect(
      verify({ orgId, instanceId, vendor: 'xero', body, signedWith: secret }),
    ).resolves.toBe('mismatch');
  });

  it('replacing the secret makes the old one fail; describe shows when it changed', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const body = '{"n":1}';
    const first = newSecret();
    const setFirst = await set({ orgId, instanceId, vendor: 'quickbooks', secret: first });
    await expect(describeSecret(orgId, instanceId)).resolves.toEqual({
      configured: true,
      updatedAt: setFirst.updatedAt,
      previous: null,
    });
    const firstRow = (await rowOf(instanceId))!;
    expect(firstRow.created_at.toISOString()).toBe(setFirst.updatedAt);

    await new Promise((r) => setTimeout(r, 5));
    const second = newSecret();
    const setSecond = await set({ orgId, instanceId, vendor: 'quickbooks', secret: second });
    expect(Date.parse(setSecond.updatedAt)).toBeGreaterThan(Date.parse(setFirst.updatedAt));
    await expect(describeSecret(orgId, instanceId)).resolves.toEqual({
      configured: true,
      updatedAt: setSecond.updatedAt,
      previous: null,
    });
    expect(setSecond.previous).toBeNull();
    expect(await previousRowOf(instanceId)).toBeUndefined();
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: first }),
    ).resolves.toBe('mismatch');
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: second }),
    ).resolves.toBe('valid');

    // Still one row, re-encrypted in place under a fresh data key; created_at kept.
    const rows = await db.query<TSecretRow>(
      'select * from vault.webhook_secret where instance_id = $1',
      [instanceId],
    );
    expect(rows).toHaveLength(1);
    const secondRow = rows[0]!;
    expect(secondRow.created_at).toEqual(firstRow.created_at);
    expect(secondRow.updated_at.toISOString()).toBe(setSecond.updatedAt);
    expect(secondRow.wrapped_data_key).not.toBe(firstRow.wrapped_data_key);
    expect(secondRow.ciphertext).not.toBe(firstRow.ciphertext);
  });

  it('keeps a replaced secret accepted for its grace, says when it was last used, and forgets it after', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const body = '{"grace":1}';
    const first = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret: first });
    const firstRow = (await rowOf(instanceId))!;
    const second = newSecret();
    const before = Date.now();
    const setSecond = await set({
      orgId,
      instanceId,
      vendor: 'quickbooks',
      secret: second,
      keepPreviousSeconds: 3600,
    });
    expect(setSecond.previous).toEqual({ validUntil: expect.any(String), lastUsedAt: null });
    const validUntil = Date.parse(setSecond.previous!.validUntil);
    expect(validUntil - before).toBeGreaterThanOrEqual(3_599_000);
    expect(validUntil - before).toBeLessThanOrEqual(3_660_000);

    // Both sign now, and the reply says which one did.
    await expect(
      verifyReply({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: second }),
    ).resolves.toEqual({ outcome: 'valid', secret: 'current' });
    await expect(describeSecret(orgId, instanceId)).resolves.toMatchObject({
      previous: { validUntil: setSecond.previous!.validUntil, lastUsedAt: null },
    });
    await expect(
      verifyReply({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: first }),
    ).resolves.toEqual({ outcome: 'valid', secret: 'previous' });
    const described = await describeSecret(orgId, instanceId);
    expect(Date.now() - Date.parse(described.previous!.lastUsedAt!)).toBeLessThan(60_000);
    // Another org's instance id sees none of it.
    await expect(
      verify({ orgId: randomUUID(), instanceId, vendor: 'quickbooks', body, signedWith: first }),
    ).resolves.toBe('no_secret');

    // Moved as it was, sealed under its own data key: nothing re-encrypted, nothing in plaintext.
    const moved = (await previousRowOf(instanceId))!;
    expect(moved).toMatchObject({
      ciphertext: firstRow.ciphertext,
      iv: firstRow.iv,
      auth_tag: firstRow.auth_tag,
      wrapped_data_key: firstRow.wrapped_data_key,
      key_id: firstRow.key_id,
    });
    expect(JSON.stringify(moved)).not.toContain(first);

    // A third secret: the second becomes the previous one, the first is gone for good.
    const third = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret: third, keepPreviousSeconds: 600 });
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: first }),
    ).resolves.toBe('mismatch');
    await expect(
      verifyReply({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: second }),
    ).resolves.toEqual({ outcome: 'valid', secret: 'previous' });
    expect((await describeSecret(orgId, instanceId)).previous?.lastUsedAt).not.toBeNull();

    // Its grace over (the clock moved on): refused at once, and destroyed by the vault's housekeeping.
    await db.query(
      "update vault.webhook_secret_previous set expires_at = now() - interval '1 second' where instance_id = $1",
      [instanceId],
    );
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: second }),
    ).resolves.toBe('mismatch');
    expect((await describeSecret(orgId, instanceId)).previous).toBeNull();
    await start([k1]);
    expect(await previousRowOf(instanceId)).toBeUndefined();
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: third }),
    ).resolves.toBe('valid');
  });

  it('stops accepting the previous secret on request, or when replaced without a grace', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const body = '{"expire":1}';
    const old = newSecret();
    await set({ orgId, instanceId, vendor: 'xero', secret: old });
    await set({
      orgId,
      instanceId,
      vendor: 'xero',
      secret: newSecret(),
      keepPreviousSeconds: 86_400,
    });
    await expect(
      verify({ orgId, instanceId, vendor: 'xero', body, signedWith: old }),
    ).resolves.toBe('valid');
    // Another org cannot expire it.
    await expect(
      bus.request('vault.webhook-secrets.expire-previous', { orgId: randomUUID(), instanceId }),
    ).resolves.toEqual({ expired: false });
    expect(await previousRowOf(instanceId)).toBeDefined();
    await expect(
      bus.request('vault.webhook-secrets.expire-previous', { orgId, instanceId }),
    ).resolves.toEqual({ expired: true });
    expect(await previousRowOf(instanceId)).toBeUndefined();
    await expect(
      verify({ orgId, instanceId, vendor: 'xero', body, signedWith: old }),
    ).resolves.toBe('mismatch');
    await expect(
      bus.request('vault.webhook-secrets.expire-previous', { orgId, instanceId }),
    ).resolves.toEqual({ expired: false });

    // Kept, then replaced again without a grace: no previous secret is left at all.
    const kept = newSecret();
    await set({ orgId, instanceId, vendor: 'xero', secret: kept });
    await set({ orgId, instanceId, vendor: 'xero', secret: newSecret(), keepPreviousSeconds: 60 });
    expect(await previousRowOf(instanceId)).toBeDefined();
    await set({ orgId, instanceId, vendor: 'xero', secret: newSecret() });
    expect(await previousRowOf(instanceId)).toBeUndefined();
    await expect(
      verify({ orgId, instanceId, vendor: 'xero', body, signedWith: kept }),
    ).resolves.toBe('mismatch');
  });

  it('removes a secret with its previous one: every delivery is refused until a new one is set', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const body = '{"remove":1}';
    const old = newSecret();
    const current = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret: old });
    await set({
      orgId,
      instanceId,
      vendor: 'quickbooks',
      secret: current,
      keepPreviousSeconds: 600,
    });
    const remove = (org: string) =>
      bus.request('vault.webhook-secrets.remove', { orgId: org, instanceId });
    // Not another org's to remove.
    await expect(remove(randomUUID())).resolves.toEqual({ removed: false });
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: current }),
    ).resolves.toBe('valid');

    await expect(remove(orgId)).resolves.toEqual({ removed: true });
    expect(await rowOf(instanceId)).toBeUndefined();
    expect(await previousRowOf(instanceId)).toBeUndefined();
    for (const signedWith of [current, old])
      await expect(
        verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith }),
      ).resolves.toBe('no_secret');
    await expect(describeSecret(orgId, instanceId)).resolves.toEqual({
      configured: false,
      updatedAt: null,
      previous: null,
    });
    await expect(remove(orgId)).resolves.toEqual({ removed: false });
    // A new one works again.
    const next = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret: next });
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: next }),
    ).resolves.toBe('valid');
  });

  it("checks Postmark's basic credentials (its deliveries are not signed)", async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const password = newSecret();
    await set({ orgId, instanceId, vendor: 'postmark', secret: password });
    const body = '{"RecordType":"Bounce","MessageID":"m-1"}';
    const basic = (v: string) => `Basic ${Buffer.from(v).toString('base64')}`;
    await expect(
      verify({
        orgId,
        instanceId,
        vendor: 'postmark',
        body,
        signature: basic(`otesse:${password}`),
      }),
    ).resolves.toBe('valid');
    for (const wrong of [
      basic(`otesse:${password}x`),
      basic(`someone:${password}`),
      basic(password),
      `Bearer ${password}`,
    ]) {
      await expect(
        verify({ orgId, instanceId, vendor: 'postmark', body, signature: wrong }),
      ).resolves.toBe('mismatch');
    }
  });

  it('stores no plaintext: every column of the table, in any encoding', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    await set({ orgId, instanceId, vendor: 'zendesk', secret: newSecret() });
    const secret = newSecret();
    await set({ orgId, instanceId, vendor: 'zendesk', secret, keepPreviousSeconds: 60 });
    const row = (await rowOf(instanceId))!;
    expect(row).toMatchObject({ org_id: orgId, vendor: 'zendesk', key_id: 'k1' });
    expect(Buffer.from(row.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(row.auth_tag, 'base64')).toHaveLength(16);
    expect(Buffer.from(row.wrapped_data_key, 'base64')).toHaveLength(60);

    const columns = await db.query<{ column_name: string }>(
      `select column_name from information_schema.columns
        where table_schema = 'vault' and table_name = 'webhook_secret' order by ordinal_position`,
    );
    expect(columns.map((c) => c.column_name)).toEqual([
      'instance_id',
      'org_id',
      'vendor',
      'ciphertext',
      'iv',
      'auth_tag',
      'wrapped_data_key',
      'key_id',
      'created_at',
      'updated_at',
    ]);
    // The replaced secret kept for a grace is read the same way.
    const all = (
      await Promise.all(
        ['webhook_secret', 'webhook_secret_previous'].map(async (table) =>
          (await db.query<{ v: string }>(`select t::text as v from vault.${table} as t`)).map(
            (r) => r.v,
          ),
        ),
      )
    )
      .flat()
      .join('\n');
    expect(all).toContain(row.ciphertext);
    expect(await db.query('select 1 from vault.webhook_secret_previous')).not.toEqual([]);
    expect(all.length).toBeGreaterThan(0);
    for (const s of secrets) {
      const buf = Buffer.from(s, 'utf8');
      for (const encoded of [
        s,
        buf.toString('base64'),
        buf.toString('base64url'),
        buf.toString('hex'),
      ])
        expect(all).not.toContain(encoded);
    }
  });

  it('a row copied to another instance or org, or relabelled, cannot be opened', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const secret = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret });
    const body = '{"moved":true}';
    const expectUnreadable = async (o: string, i: string, vendor = 'quickbooks') => {
      const err = await errorOf(
        bus.request('vault.webhook-signatures.verify', {
          orgId: o,
          instanceId: i,
          vendor,
          bodyBase64: b64(body),
          signature: signWebhook(schemeOf(vendor), secret, body, null),
          timestamp: null,
        }),
      );
      expect(err).toMatchObject({ code: 'INTERNAL', reason: 'decrypt_failed' });
      expect(err.message).not.toContain(secret);
    };

    // Another instance of the same org gets a copy of the row (all its key material).
    const copy = randomUUID();
    await db.query(
      `insert into vault.webhook_secret
       select $2, org_id, vendor, ciphertext, iv, auth_tag, wrapped_data_key, key_id, created_at, updated_at
         from vault.webhook_secret where instance_id = $1`,
      [instanceId, copy],
    );
    await expectUnreadable(orgId, copy);

    // The row is moved to another org.
    const otherOrg = randomUUID();
    await db.query('update vault.webhook_secret set org_id = $2 where instance_id = $1', [
      copy,
      otherOrg,
    ]);
    await expectUnreadable(otherOrg, copy);
    await db.query('update vault.webhook_secret set org_id = $2 where instance_id = $1', [
      instanceId,
      otherOrg,
    ]);
    await expectUnreadable(otherOrg, instanceId);
    await db.query('update vault.webhook_secret set org_id = $2 where instance_id = $1', [
      instanceId,
      orgId,
    ]);

    // Relabelled as another provider's (one with the same scheme, so only the binding stops it).
    await db.query("update vault.webhook_secret set vendor = 'xero' where instance_id = $1", [
      instanceId,
    ]);
    await expectUnreadable(orgId, instanceId, 'xero');
    await db.query("update vault.webhook_secret set vendor = 'quickbooks' where instance_id = $1", [
      instanceId,
    ]);

    // The original is intact.
    await expect(
      verify({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: secret }),
    ).resolves.toBe('valid');
    await db.query('delete from vault.webhook_secret where instance_id = $1', [copy]);
  });

  it('bad input gets a typed BAD_REQUEST on every webhook subject and changes nothing', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const leaked = newSecret();
    const json = (v: unknown) => JSON.stringify(v);
    const set0 = { orgId, instanceId, vendor: 'quickbooks', secret: leaked };
    const verify0 = {
      orgId,
      instanceId,
      vendor: 'quickbooks',
      bodyBase64: b64('{}'),
      signature: 'sig',
      timestamp: null,
    };
    const bodies: Record<string, string[]> = {
      'vault.webhook-secrets.set': [
        'not json',
        json({ ...set0, secret: 'too-short' }),
        json({ ...set0, secret: `${leaked} ${leaked}` }),
        json({ ...set0, secret: `${leaked}\u00e9` }),
        json({ ...set0, secret: 'x'.repeat(513) }),
        json({ ...set0, orgId: 'not-a-uuid' }),
        json({ ...set0, vendor: 'Not A Slug' }),
        json({ ...set0, extra: 1 }),
      ],
      'vault.webhook-secrets.describe': [json({ orgId }), json({ orgId, instanceId: 'x' })],
      'vault.webhook-signatures.verify': [
        json({ ...verify0, signature: '' }),
        json({ ...verify0, timestamp: undefined }),
        json({ ...verify0, bodyBase64: b64('x'.repeat(WEBHOOK_MAX_BODY_BYTES + 3)) }),
        json({ ...verify0, bodyBase64: 'not base64!' }),
        json({ ...verify0, body: '{}', bodyBase64: undefined }),
        json({ ...verify0, secret: leaked }),
      ],
    };
    const before = await db.query('select * from vault.webhook_secret order by instance_id');
    for (const [subject, list] of Object.entries(bodies)) {
      for (const body of list) {
        const msg = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5_000 });
        const text = new TextDecoder().decode(msg.data);
        expect(msg.headers?.get('Nats-Service-Error-Code'), `${subject} ${body.slice(0, 80)}`).toBe(
          '400',
        );
        expect(JSON.parse(text)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
        expect(text).not.toContain(leaked);
      }
    }
    expect(await db.query('select * from vault.webhook_secret order by instance_id')).toEqual(
      before,
    );
    await expect(describeSecret(orgId, instanceId)).resolves.toMatchObject({ configured: false });
  });

  it('key rotation re-wraps webhook secrets too; they verify under the new key alone', async () => {
    const orgId = randomUUID();
    const instanceId = randomUUID();
    const secret = newSecret();
    await set({ orgId, instanceId, vendor: 'quickbooks', secret });
    // Replaced, still in its grace: the previous secret is re-wrapped as well.
    const replacement = newSecret();
    await set({
      orgId,
      instanceId,
      vendor: 'quickbooks',
      secret: replacement,
      keepPreviousSeconds: 3600,
    });
    // A credential too: rotation counts both.
    await bus.request('vault.credentials.store', {
      orgId,
      connectionId: randomUUID(),
      vendor: 'quickbooks',
      credentials: [{ kind: 'access_token', value: newSecret() }],
    });
    const underK1 = (
      await db.query<{ n: number }>(
        `select (select count(*)::int from vault.webhook_secret where key_id = 'k1')
              + (select count(*)::int from vault.webhook_secret_previous where key_id = 'k1')
              + (select count(*)::int from vault.credential where key_id = 'k1' and not is_deleted) as n`,
      )
    )[0]!.n;
    const secretsUnderK1 = (
      await db.query<{ n: number }>(
        "select count(*)::int as n from vault.webhook_secret where key_id = 'k1'",
      )
    )[0]!.n;
    expect(secretsUnderK1).toBeGreaterThan(5);
    const before = (await rowOf(instanceId))!;

    const k2 = masterKey('k2');
    await start([k2, k1]);
    await expect(bus.request('vault.keys.rotate', {})).resolves.toEqual({
      activeKeyId: 'k2',
      rewrapped: underK1,
      remaining: 0,
    });
    expect(await db.query("select 1 from vault.webhook_secret where key_id <> 'k2'")).toEqual([]);
    expect(
      await db.query("select 1 from vault.webhook_secret_previous where key_id <> 'k2'"),
    ).toEqual([]);
    const after = (await rowOf(instanceId))!;
    // Only the data key's wrapping changed: the secret's ciphertext is untouched.
    expect(after).toMatchObject({ ciphertext: before.ciphertext, iv: before.iv, key_id: 'k2' });
    expect(after.wrapped_data_key).not.toBe(before.wrapped_data_key);

    // k1 retired: the secret still verifies, and new secrets are sealed under k2.
    await start([k2]);
    const body = '{"rotated":true}';
    await expect(
      verifyReply({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: replacement }),
    ).resolves.toEqual({ outcome: 'valid', secret: 'current' });
    await expect(
      verifyReply({ orgId, instanceId, vendor: 'quickbooks', body, signedWith: secret }),
    ).resolves.toEqual({ outcome: 'valid', secret: 'previous' });
    const later = randomUUID();
    await set({ orgId, instanceId: later, vendor: 'xero', secret: newSecret() });
    expect((await rowOf(later))!.key_id).toBe('k2');

    // A ring that lost the key the secrets are sealed under: the vault refuses to start, naming it (it used to
    // start and fail every verification of those instances).
    await expect(errorOf(start([masterKey('k3')]))).resolves.toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'master_key_mismatch',
      details: { missingKeyIds: ['k2'] },
    });
    await start([k2]);
  });

  it('never wrote a secret to a log line', () => {
    expect(bed.logLines.join('')).toContain('webhook secret set');
    const all = bed.logLines.join('');
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
