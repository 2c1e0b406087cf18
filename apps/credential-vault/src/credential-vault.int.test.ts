import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import pg from 'pg';
import type { TCredentialKind, TRequestInput, TRequestSubject } from '@otesse/contracts';
import { ensureStreams, EventPublisher, type Bus } from '@otesse/messaging';
import { errorOf, waitFor, type TTestDatabase } from '@otesse/testing';
import { metricsText } from '@otesse/telemetry';
import type { TMasterKey } from './crypto/master-keys';
import { masterKey, startVaultBed, type TVaultBed } from './test/vault-test-bed';

/** Every plaintext handed to the vault in this file. */
const plaintexts: string[] = [];
function secret(prefix: string): string {
  const s = `${prefix}_${randomBytes(32).toString('base64url')}`;
  plaintexts.push(s);
  return s;
}
describe('credential vault (real Postgres + NATS)', () => {
  let bed: TVaultBed;
  let db: TTestDatabase;
  let nc: NatsConnection;
  let bus: Bus;
  const k1 = masterKey('k1');
  /** The active key once the rotation test ran (the tests after it start the vault with it). */
  const k2 = masterKey('k2');
  const start = (masterKeys: TMasterKey[]): Promise<void> => bed.restart(masterKeys);

  beforeAll(async () => {
    bed = await startVaultBed('vault', { logLevel: 'trace', masterKeys: [k1] });
    ({ db, nc, bus } = bed);
  });
  afterAll(async () => {
    await bed?.close();
  });

  const store = (
    input: Partial<TRequestInput<'vault.credentials.store'>> & {
      credentials: { kind: TCredentialKind; value: string; expiresAt?: string | null }[];
    },
  ) =>
    bus.request('vault.credentials.store', {
      orgId: randomUUID(),
      connectionId: randomUUID(),
      vendor: 'servicenow',
      ...input,
    });
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
  const rowsOf = (connectionId: string) =>
    db.query<{
      id: string;
      kind: string;
      ciphertext: string;
      iv: string;
      auth_tag: string;
      wrapped_data_key: string;
      key_id: string;
      is_active: boolean;
      is_deleted: boolean;
      deleted_at: Date | null;
    }>('select * from vault.credential where connection_id = $1 order by created_at, id', [
      connectionId,
    ]);
  const counts = async () =>
    (
      await db.query<{ credentials: number; commands: number; webhookSecrets: number }>(
        `select (select count(*)::int from vault.credential) as credentials,
                (select count(*)::int from vault.processed_command) as commands,
                (select count(*)::int from vault.webhook_secret) as "webhookSecrets"`,
      )
    )[0]!;

  it('stores, describes without values, and hands the access token back', async () => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    const access = secret('fpa');
    const refresh = secret('fpr');
    const expiresAt = inAnHour();
    const { credentialIds } = await store({
      orgId,
      connectionId,
      credentials: [
        { kind: 'access_token', value: access, expiresAt },
        { kind: 'refresh_token', value: refresh },
      ],
    });
    expect(credentialIds).toHaveLength(2);

    const described = await bus.request('vault.credentials.describe', { orgId, connectionId });
    expect(
      described.credentials.map((c) => [c.id, c.kind, c.isActive, c.isDeleted, c.keyId]),
    ).toEqual([
      [credentialIds[0], 'access_token', true, false, 'k1'],
      [credentialIds[1], 'refresh_token', true, false, 'k1'],
    ]);
    expect(described.credentials[0]!.expiresAt).toBe(new Date(expiresAt).toISOString());
    const raw = JSON.stringify(described);
    for (const v of [access, refresh]) expect(raw).not.toContain(v);
    expect(raw).not.toMatch(/ciphertext|wrapped|authTag|"iv"/i);

    await expect(bus.request('vault.access-tokens.get', { orgId, connectionId })).resolves.toEqual({
      accessToken: access,
      expiresAt: new Date(expiresAt).toISOString(),
      kind: 'access_token',
      // Names the token without being derived from it (what a caller sends back when the provider refuses it).
      fingerprint: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    // Another org asking for the same connection id sees nothing.
    await expect(
      errorOf(bus.request('vault.access-tokens.get', { orgId: randomUUID(), connectionId })),
    ).resolves.toMatchObject({ code: 'NOT_FOUND', reason: 'no_active_credential' });
    expect(
      (await bus.request('vault.credentials.describe', { orgId: randomUUID(), connectionId }))
        .credentials,
    ).toEqual([]);
  });

  it('returns the API key for an API-key provider, NOT_FOUND or access_token_expired otherwise', async () => {
    const orgId = randomUUID();
    const postmark = randomUUID();
    const key = secret('pm');
    await store({
      orgId,
      connectionId: postmark,
      vendor: 'postmark',
      credentials: [{ kind: 'api_key', value: key }],
    });
    const got = await bus.request('vault.access-tokens.get', { orgId, connectionId: postmark });
    expect(got).toEqual({
      accessToken: key,
      expiresAt: null,
      kind: 'api_key',
      fingerprint: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    // A refused API key has nothing to renew it: answered as it is, the same fingerprint telling the caller so.
    await expect(
      bus.request('vault.access-tokens.get', {
        orgId,
        connectionId: postmark,
        refusedFingerprint: got.fingerprint,
      }),
    ).resolves.toEqual(got);

    const none = await errorOf(
      bus.request('vault.access-tokens.get', { orgId, connectionId: randomUUID() }),
    );
    expect(none).toMatchObject({ code: 'NOT_FOUND', reason: 'no_active_credential' });

    // Expired with nothing to refresh it with (refresh is covered in token-refresh.int.test.ts).
    const expired = randomUUID();
    const stale = secret('fpa');
    await store({
      orgId,
      connectionId: expired,
      credentials: [
        {
          kind: 'access_token',
          value: stale,
          expiresAt: new Date(Date.now() - 1_000).toISOString(),
        },
      ],
    });
    const err = await errorOf(
      bus.request('vault.access-tokens.get', { orgId, connectionId: expired }),
    );
    expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'access_token_expired' });
    expect(err.message).not.toContain(stale);
  });

  it('keeps no plaintext in the database, in any text column, in any encoding', async () => {
    // Several credentials of every kind so every column has content.
    for (const kind of [
      'access_token',
      'refresh_token',
      'api_key',
      'client_secret',
      'id_token',
    ] as const)
      await store({ credentials: [{ kind, value: secret(kind) }] });
    const columns = await db.query<{ table_name: string; column_name: string }>(
      `select table_name, column_name from information_schema.columns
        where table_schema = 'vault' and data_type in ('text', 'character varying', 'jsonb', 'json')`,
    );
    expect(columns.map((c) => `${c.table_name}.${c.column_name}`)).toEqual(
      expect.arrayContaining(['credential.ciphertext', 'credential.wrapped_data_key']),
    );
    let scanned = 0;
    for (const { table_name, column_name } of columns) {
      const values = (
        await db.query<{ v: string | null }>(
          `select "${column_name}"::text as v from vault."${table_name}"`,
        )
      ).map((r) => r.v ?? '');
      const all = values.join('\n');
      scanned += values.length;
      for (const p of plaintexts) {
        const buf = Buffer.from(p, 'utf8');
        for (const encoded of [
          p,
          buf.toString('base64'),
          buf.toString('base64url'),
          buf.toString('hex'),
        ])
          expect(all, `${table_name}.${column_name}`).not.toContain(encoded);
      }
    }
    expect(scanned).toBeGreaterThan(20);
  });

  it('refuses to decrypt a ciphertext moved to another row', async () => {
    const orgA = randomUUID();
    const orgB = randomUUID();
    const connA = randomUUID();
    const connB = randomUUID();
    const valueA = secret('fpa');
    await store({
      orgId: orgA,
      connectionId: connA,
      credentials: [{ kind: 'access_token', value: valueA }],
    });
    await store({
      orgId: orgB,
      connectionId: connB,
      credentials: [{ kind: 'access_token', value: secret('fpa') }],
    });
    // An attacker with write access copies org A's encrypted token (all its key material) into org B's row.
    await db.query(
      `update vault.credential b set ciphertext = a.ciphertext, iv = a.iv, auth_tag = a.auth_tag,
              wrapped_data_key = a.wrapped_data_key, key_id = a.key_id
         from vault.credential a where a.connection_id = $1 and b.connection_id = $2`,
      [connA, connB],
    );
    const err = await errorOf(
      bus.request('vault.access-tokens.get', { orgId: orgB, connectionId: connB }),
    );
    expect(err).toMatchObject({ code: 'INTERNAL', reason: 'decrypt_failed' });
    expect(err.message).not.toContain(valueA);
    await expect(
      bus.request('vault.access-tokens.get', { orgId: orgA, connectionId: connA }),
    ).resolves.toMatchObject({ accessToken: valueA });
    await bus.request('vault.credentials.destroy', {
      orgId: orgB,
      connectionId: connB,
      idempotencyKey: randomUUID(),
    });
  });

  it('replace destroys the previous credentials in the same store', async () => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    const first = await store({
      orgId,
      connectionId,
      credentials: [
        { kind: 'access_token', value: secret('fpa'), expiresAt: inAnHour() },
        { kind: 'refresh_token', value: secret('fpr') },
      ],
    });
    const newer = secret('fpa');
    const second = await store({
      orgId,
      connectionId,
      replace: true,
      credentials: [
        { kind: 'access_token', value: newer, expiresAt: inAnHour() },
        { kind: 'refresh_token', value: secret('fpr') },
      ],
    });
    await expect(
      bus.request('vault.access-tokens.get', { orgId, connectionId }),
    ).resolves.toMatchObject({
      accessToken: newer,
    });
    const live = await bus.request('vault.credentials.describe', { orgId, connectionId });
    expect(live.credentials.map((c) => c.id)).toEqual(second.credentialIds);
    const all = await bus.request('vault.credentials.describe', {
      orgId,
      connectionId,
      includeDeleted: true,
    });
    const old = all.credentials.filter((c) => first.credentialIds.includes(c.id));
    expect(old).toHaveLength(2);
    for (const c of old) {
      expect(c).toMatchObject({ isActive: false, isDeleted: true });
      expect(c.deletedAt).not.toBeNull();
    }
    for (const r of (await rowsOf(connectionId)).filter((r) => first.credentialIds.includes(r.id)))
      expect([r.ciphertext, r.iv, r.auth_tag, r.wrapped_data_key]).toEqual(['', '', '', '']);
  });

  it('destroys: overwrites ciphertext and wrapped key, soft-deletes, once per idempotency key', async () => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    await store({
      orgId,
      connectionId,
      credentials: [
        { kind: 'access_token', value: secret('fpa') },
        { kind: 'refresh_token', value: secret('fpr') },
      ],
    });
    const idempotencyKey = `saga-${randomUUID()}:destroy`;
    await expect(
      bus.request('vault.credentials.destroy', { orgId, connectionId, idempotencyKey }),
    ).resolves.toEqual({ destroyed: 2 });
    const rows = await rowsOf(connectionId);
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r).toMatchObject({
        ciphertext: '',
        iv: '',
        auth_tag: '',
        wrapped_data_key: '',
        is_active: false,
        is_deleted: true,
      });
      expect(r.deleted_at).not.toBeNull();
    }
    await expect(
      errorOf(bus.request('vault.access-tokens.get', { orgId, connectionId })),
    ).resolves.toMatchObject({ code: 'NOT_FOUND' });

    // New credentials arrive; a replay of the first destroy answers the first count and leaves them alone.
    const fresh = secret('fpa');
    await store({ orgId, connectionId, credentials: [{ kind: 'access_token', value: fresh }] });
    await expect(
      bus.request('vault.credentials.destroy', { orgId, connectionId, idempotencyKey }),
    ).resolves.toEqual({ destroyed: 2 });
    await expect(
      bus.request('vault.access-tokens.get', { orgId, connectionId }),
    ).resolves.toMatchObject({
      accessToken: fresh,
    });
    // A new key destroys them; nothing left to destroy after that.
    await expect(
      bus.request('vault.credentials.destroy', {
        orgId,
        connectionId,
        idempotencyKey: `${idempotencyKey}-2`,
      }),
    ).resolves.toEqual({ destroyed: 1 });
    await expect(
      bus.request('vault.credentials.destroy', {
        orgId,
        connectionId,
        idempotencyKey: `${idempotencyKey}-3`,
      }),
    ).resolves.toEqual({ destroyed: 0 });
    // The same key for another connection is a conflict, not a silent replay.
    await expect(
      errorOf(
        bus.request('vault.credentials.destroy', {
          orgId,
          connectionId: randomUUID(),
          idempotencyKey,
        }),
      ),
    ).resolves.toMatchObject({ code: 'CONFLICT', reason: 'idempotency_key_reused' });
  });

  it('answers concurrent duplicate destroys with the same count, destroying once', async () => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    await store({
      orgId,
      connectionId,
      credentials: [
        { kind: 'access_token', value: secret('fpa') },
        { kind: 'refresh_token', value: secret('fpr') },
        { kind: 'id_token', value: secret('fpi') },
      ],
    });
    const idempotencyKey = `saga-${randomUUID()}:destroy`;
    const replies = await Promise.all(
      Array.from({ length: 10 }, () =>
        bus.request('vault.credentials.destroy', { orgId, connectionId, idempotencyKey }),
      ),
    );
    expect(replies).toEqual(Array.from({ length: 10 }, () => ({ destroyed: 3 })));
    expect((await rowsOf(connectionId)).every((r) => r.is_deleted && r.ciphertext === '')).toBe(
      true,
    );
    expect(
      await db.query('select result from vault.processed_command where key = $1', [idempotencyKey]),
    ).toEqual([{ result: { destroyed: 3, orgId, connectionId } }]);
  });

  it('store with an idempotency key stores once', async () => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    const input = {
      orgId,
      connectionId,
      idempotencyKey: `saga-${randomUUID()}:store`,
      credentials: [{ kind: 'access_token' as const, value: secret('fpa') }],
    };
    const [a, b] = await Promise.all([store(input), store(input)]);
    expect(b).toEqual(a);
    expect(await rowsOf(connectionId)).toHaveLength(1);
  });

  describe('malformed payloads', () => {
    const orgId = randomUUID();
    const connectionId = randomUUID();
    const instanceId = randomUUID();
    const leaked = secret('leak');
    const valid: {
      [S in TRequestSubject as S extends `vault.${string}` ? S : never]: Record<string, unknown>;
    } = {
      'vault.credentials.store': {
        orgId,
        connectionId,
        vendor: 'servicenow',
        credentials: [{ kind: 'access_token', value: leaked }],
      },
      'vault.credentials.describe': { orgId, connectionId },
      'vault.access-tokens.get': { orgId, connectionId },
      'vault.credentials.destroy': { orgId, connectionId, idempotencyKey: 'k' },
      'vault.keys.rotate': {},
      'vault.tokens.revoke': { orgId, connectionId, vendor: 'google', idempotencyKey: 'k-revoke' },
      'vault.tokens.discard': {
        orgId,
        vendor: 'google',
        credentials: [{ kind: 'access_token', value: leaked }],
        idempotencyKey: 'k-discard',
      },
      'vault.credentials.swap': {
        orgId,
        connectionId,
        vendor: 'servicenow',
        stageId: randomUUID(),
        idempotencyKey: 'k-swap',
      },
      'vault.tokens.stage': {
        orgId,
        vendor: 'servicenow',
        credentials: [{ kind: 'access_token', value: leaked }],
        idempotencyKey: 'k-stage',
      },
      'vault.webhook-secrets.set': { orgId, instanceId, vendor: 'quickbooks', secret: leaked },
      'vault.webhook-secrets.describe': { orgId, instanceId },
      'vault.webhook-secrets.expire-previous': { orgId, instanceId },
      'vault.webhook-secrets.remove': { orgId, instanceId },
      'vault.webhook-signatures.verify': {
        orgId,
        instanceId,
        vendor: 'quickbooks',
        bodyBase64: Buffer.from('{}').toString('base64'),
        signature: 'sig',
        timestamp: null,
      },
      'vault.idempotency-records.forget': { keys: [`${randomUUID()}:destroy-credentials`] },
    };
    const json = (v: unknown) => JSON.stringify(v);
    const common = ['not json', '', '[]', 'null', '42', '"text"', json({ unexpected: true })];
    const specific: Record<keyof typeof valid, string[]> = {
      'vault.credentials.store': [
        json({ ...valid['vault.credentials.store'], orgId: 42 }),
        json({ ...valid['vault.credentials.store'], orgId: 'not-a-uuid' }),
        json({ ...valid['vault.credentials.store'], credentials: 'x' }),
        json({ ...valid['vault.credentials.store'], credentials: [] }),
        json({
          ...valid['vault.credentials.store'],
          credentials: [{ kind: 'password', value: leaked }],
        }),
        json({
          ...valid['vault.credentials.store'],
          credentials: [{ kind: 'access_token', value: 7 }],
        }),
        json({
          ...valid['vault.credentials.store'],
          credentials: [{ kind: 'access_token', value: '' }],
        }),
        json({
          ...valid['vault.credentials.store'],
          credentials: [{ kind: 'access_token', value: leaked + 'x'.repeat(16_384) }],
        }),
        json({
          ...valid['vault.credentials.store'],
          credentials: [
            { kind: 'access_token', value: leaked },
            { kind: 'access_token', value: leaked },
          ],
        }),
        json({ ...valid['vault.credentials.store'], vendor: 'Not A Slug' }),
        json({ ...valid['vault.credentials.store'], replace: 'yes' }),
        json({
          ...valid['vault.credentials.store'],
          credentials: [{ kind: 'access_token', value: leaked, expiresAt: 'soon' }],
        }),
        json({ orgId, connectionId, vendor: 'servicenow' }),
        json({ ...valid['vault.credentials.store'], idempotencyKey: '' }),
      ],
      'vault.credentials.describe': [
        json({ orgId }),
        json({ orgId, connectionId: 1 }),
        json({ orgId, connectionId, includeDeleted: 'true' }),
      ],
      'vault.access-tokens.get': [json({ connectionId }), json({ orgId, connectionId: null })],
      'vault.credentials.destroy': [
        json({ orgId, connectionId }),
        json({ orgId, connectionId, idempotencyKey: '' }),
        json({ orgId, connectionId, idempotencyKey: 'k'.repeat(201) }),
        json({ orgId, connectionId, idempotencyKey: 5 }),
        json({ orgId, connectionId, idempotencyKey: 'k', credentialIds: [] }),
        json({ orgId, connectionId, idempotencyKey: 'k', credentialIds: ['not-a-uuid'] }),
      ],
      'vault.keys.rotate': [json({ force: true })],
      'vault.tokens.revoke': [
        json({ orgId, connectionId, vendor: 'google' }),
        json({ orgId, connectionId, vendor: 'google', idempotencyKey: 'k', timeoutMs: 5 }),
        json({ orgId, connectionId, vendor: 'google', idempotencyKey: 'k', timeoutMs: 60_000 }),
        json({ orgId, connectionId, vendor: 'Not A Slug', idempotencyKey: 'k' }),
        json({
          orgId,
          connectionId,
          vendor: 'servicenow',
          idempotencyKey: 'k',
          subdomain: 'x'.repeat(64),
        }),
        json({ orgId, connectionId, vendor: 'google', idempotencyKey: 'k', token: leaked }),
        json({ orgId, connectionId, vendor: 'google', idempotencyKey: 'k', credentialIds: [] }),
        json({ orgId, connectionId, vendor: 'google', idempotencyKey: 'k', credentialIds: ['x'] }),
      ],
      'vault.idempotency-records.forget': [
        json({ keys: [] }),
        json({ keys: 'k' }),
        // Only a saga's keys are the edge's to release; the vault's own (a discard's) are not.
        json({ keys: ['refused:x'] }),
        json({ keys: [`discard:${randomUUID()}:revoke`] }),
        json({ keys: [`${randomUUID()}:Not A Step`] }),
        json({ keys: Array.from({ length: 2_001 }, () => `${randomUUID()}:lock`) }),
        json({ ...valid['vault.idempotency-records.forget'], orgId }),
      ],
      'vault.tokens.discard': [
        json({ ...valid['vault.tokens.discard'], idempotencyKey: undefined }),
        json({ ...valid['vault.tokens.discard'], credentials: [] }),
        json({ ...valid['vault.tokens.discard'], credentials: undefined }),
        json({
          ...valid['vault.tokens.discard'],
          credentials: [{ kind: 'password', value: leaked }],
        }),
        json({
          ...valid['vault.tokens.discard'],
          credentials: [
            { kind: 'access_token', value: leaked },
            { kind: 'access_token', value: leaked },
          ],
        }),
        json({ ...valid['vault.tokens.discard'], vendor: 'Not A Slug' }),
        json({ ...valid['vault.tokens.discard'], subdomain: 'x'.repeat(64) }),
        json({ ...valid['vault.tokens.discard'], connectionId }),
        // Tokens or a stage, exactly one.
        json({ ...valid['vault.tokens.discard'], stageId: connectionId }),
        json({ ...valid['vault.tokens.discard'], credentials: undefined, stageId: 'nope' }),
        json({ ...valid['vault.tokens.discard'], revoke: 'no' }),
      ],
      'vault.tokens.stage': [
        json({ ...valid['vault.tokens.stage'], idempotencyKey: undefined }),
        json({ ...valid['vault.tokens.stage'], credentials: [] }),
        json({ ...valid['vault.tokens.stage'], credentials: undefined }),
        json({ ...valid['vault.tokens.stage'], holdSec: 5 }),
        json({ ...valid['vault.tokens.stage'], holdSec: 3_601 }),
        json({ ...valid['vault.tokens.stage'], connectionId }),
      ],
      'vault.credentials.swap': [
        json({ ...valid['vault.credentials.swap'], idempotencyKey: undefined }),
        // The new tokens only by reference (`stageId`): tokens sent inline, well-formed or not, are refused.
        json({
          ...valid['vault.credentials.swap'],
          stageId: undefined,
          credentials: [{ kind: 'access_token', value: leaked }],
        }),
        json({
          ...valid['vault.credentials.swap'],
          credentials: [{ kind: 'access_token', value: leaked }],
        }),
        json({ ...valid['vault.credentials.swap'], credentials: [] }),
        json({
          ...valid['vault.credentials.swap'],
          credentials: [{ kind: 'password', value: leaked }],
        }),
        json({
          ...valid['vault.credentials.swap'],
          credentials: [{ kind: 'access_token', value: leaked + 'x'.repeat(16_384) }],
        }),
        json({
          ...valid['vault.credentials.swap'],
          credentials: [
            { kind: 'access_token', value: leaked },
            { kind: 'access_token', value: leaked },
          ],
        }),
        json({ ...valid['vault.credentials.swap'], vendor: 'Not A Slug' }),
        json({ ...valid['vault.credentials.swap'], connectionId: 'nope' }),
        json({ ...valid['vault.credentials.swap'], replace: true }),
        json({ ...valid['vault.credentials.swap'], stageId: 'nope' }),
        json({ ...valid['vault.credentials.swap'], stageId: null }),
      ],
      'vault.webhook-secrets.set': [
        json({ orgId, instanceId, vendor: 'quickbooks' }),
        json({ ...valid['vault.webhook-secrets.set'], instanceId: 'nope' }),
        json({ ...valid['vault.webhook-secrets.set'], vendor: 'Not A Slug' }),
        json({ ...valid['vault.webhook-secrets.set'], secret: 'short' }),
        json({ ...valid['vault.webhook-secrets.set'], secret: `${leaked} with spaces` }),
        json({ ...valid['vault.webhook-secrets.set'], secret: leaked + 'x'.repeat(512) }),
        json({ ...valid['vault.webhook-secrets.set'], secret: 42 }),
        json({ ...valid['vault.webhook-secrets.set'], replace: true }),
        json({ ...valid['vault.webhook-secrets.set'], keepPreviousSeconds: -1 }),
        json({ ...valid['vault.webhook-secrets.set'], keepPreviousSeconds: 7 * 86_400 + 1 }),
        json({ ...valid['vault.webhook-secrets.set'], keepPreviousSeconds: 1.5 }),
        json({ ...valid['vault.webhook-secrets.set'], keepPreviousSeconds: '3600' }),
      ],
      'vault.webhook-secrets.expire-previous': [
        json({ orgId }),
        json({ orgId, instanceId: 'nope' }),
        json({ orgId, instanceId, secret: leaked }),
      ],
      'vault.webhook-secrets.remove': [
        json({ orgId }),
        json({ orgId: 'nope', instanceId }),
        json({ orgId, instanceId, secret: leaked }),
      ],
      'vault.webhook-secrets.describe': [
        json({ orgId }),
        json({ orgId, instanceId: 1 }),
        json({ orgId, instanceId, secret: leaked }),
      ],
      'vault.webhook-signatures.verify': [
        json({ ...valid['vault.webhook-signatures.verify'], signature: '' }),
        json({ ...valid['vault.webhook-signatures.verify'], signature: 'x'.repeat(1025) }),
        json({ ...valid['vault.webhook-signatures.verify'], timestamp: undefined }),
        json({ ...valid['vault.webhook-signatures.verify'], timestamp: '' }),
        json({ ...valid['vault.webhook-signatures.verify'], bodyBase64: 7 }),
        json({ ...valid['vault.webhook-signatures.verify'], bodyBase64: 'x'.repeat(174_765) }),
        json({ ...valid['vault.webhook-signatures.verify'], bodyBase64: '{"not":"base64"}' }),
        json({ ...valid['vault.webhook-signatures.verify'], vendor: 'Not A Slug' }),
        json({ ...valid['vault.webhook-signatures.verify'], orgId: undefined }),
        json({ ...valid['vault.webhook-signatures.verify'], secret: leaked }),
        json({ ...valid['vault.webhook-signatures.verify'], url: 5 }),
        json({ ...valid['vault.webhook-signatures.verify'], url: '' }),
        json({
          ...valid['vault.webhook-signatures.verify'],
          url: `https://x.test/${'a'.repeat(2048)}`,
        }),
      ],
    };

    it('get typed BAD_REQUEST replies on every subject, change nothing, and the service keeps answering', async () => {
      const before = await counts();
      for (const [subject, bodies] of Object.entries(specific)) {
        for (const body of [...common, ...bodies]) {
          const msg = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5_000 });
          const text = new TextDecoder().decode(msg.data);
          expect(
            msg.headers?.get('Nats-Service-Error-Code'),
            `${subject} ${body.slice(0, 80)}`,
          ).toBe('400');
          expect(JSON.parse(text)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
          expect(text).not.toContain(leaked);
        }
      }
      expect(await counts()).toEqual(before);
      // Bigger than any valid request: refused before parsing.
      const huge = await nc.request(
        'vault.credentials.store',
        new TextEncoder().encode(
          json({ ...valid['vault.credentials.store'], pad: 'x'.repeat(300_000) }),
        ),
        { timeout: 5_000 },
      );
      expect(huge.headers?.get('Nats-Service-Error-Code')).toBe('413');
      expect(await counts()).toEqual(before);
      // Still up, and the well-formed versions are accepted.
      for (const [subject, body] of Object.entries(valid)) {
        const msg = await nc.request(subject, new TextEncoder().encode(json(body)), {
          timeout: 5_000,
        });
        expect(msg.headers?.get('Nats-Service-Error-Code') ?? '', subject).not.toBe('400');
      }
    });
  });

  it("the service role cannot read other services' schemas, nor they its", async () => {
    const asRole = async (service: 'credential-vault' | 'audit', sql: string) => {
      const c = new pg.Client({ connectionString: db.urlFor(service) });
      await c.connect();
      try {
        return await c.query(sql);
      } finally {
        await c.end();
      }
    };
    await expect(asRole('credential-vault', 'select * from audit.audit_entry')).rejects.toThrow(
      /permission denied/,
    );
    await expect(asRole('credential-vault', 'select * from connection.connection')).rejects.toThrow(
      /permission denied/,
    );
    await expect(asRole('audit', 'select * from vault.credential')).rejects.toThrow(
      /permission denied/,
    );
    await expect(
      asRole('credential-vault', 'select count(*) from vault.credential'),
    ).resolves.toBeTruthy();
  });

  it('rotates every data key to a new active master key over NATS; values stay readable', async () => {
    const orgId = randomUUID();
    const conns = Array.from({ length: 5 }, () => randomUUID());
    const values = new Map<string, string>();
    for (const connectionId of conns) {
      const v = secret('fpa');
      values.set(connectionId, v);
      await store({
        orgId,
        connectionId,
        credentials: [
          { kind: 'access_token', value: v },
          { kind: 'refresh_token', value: secret('fpr') },
        ],
      });
    }
    // Webhook secrets are data keys too (the malformed-payloads test set one): rotation counts them.
    const liveUnderK1 = (
      await db.query<{ n: number }>(
        `select (select count(*)::int from vault.credential where key_id = 'k1' and not is_deleted)
              + (select count(*)::int from vault.webhook_secret where key_id = 'k1') as n`,
      )
    )[0]!.n;
    expect(liveUnderK1).toBeGreaterThanOrEqual(10);

    await start([k2, k1]);
    const rotated = await bus.request('vault.keys.rotate', {});
    expect(rotated).toEqual({ activeKeyId: 'k2', rewrapped: liveUnderK1, remaining: 0 });
    expect(
      await db.query("select 1 from vault.credential where key_id <> 'k2' and not is_deleted"),
    ).toEqual([]);
    expect(await db.query("select 1 from vault.webhook_secret where key_id <> 'k2'")).toEqual([]);
    await expect(bus.request('vault.keys.rotate', {})).resolves.toEqual({
      activeKeyId: 'k2',
      rewrapped: 0,
      remaining: 0,
    });
    const described = await bus.request('vault.credentials.describe', {
      orgId,
      connectionId: conns[0]!,
    });
    expect(described.credentials.every((c) => c.keyId === 'k2')).toBe(true);

    // k1 retired: everything is still readable with k2 alone.
    await start([k2]);
    for (const connectionId of conns)
      await expect(
        bus.request('vault.access-tokens.get', { orgId, connectionId }),
      ).resolves.toMatchObject({
        accessToken: values.get(connectionId),
      });
    const later = await store({ orgId, credentials: [{ kind: 'api_key', value: secret('k') }] });
    expect(later.credentialIds).toHaveLength(1);

    // A ring that lost the key the data is sealed under: the vault refuses to start, naming it (it used to start
    // "ready" and fail every read of those credentials).
    await expect(errorOf(start([masterKey('k3')]))).resolves.toMatchObject({
      code: 'PRECONDITION_FAILED',
      reason: 'master_key_mismatch',
      details: { missingKeyIds: ['k2'], wrongKeyIds: [] },
    });
    // A key generated again under the same id (an `openssl rand` repeated in a new shell): refused as well.
    const again = await errorOf(start([masterKey('k2')]));
    expect(again).toMatchObject({
      reason: 'master_key_mismatch',
      details: { missingKeyIds: [], wrongKeyIds: ['k2'] },
    });
    expect(again.message).toMatch(/not the key they were sealed with/);
    // Nothing was changed by the refused starts: the right ring reads everything.
    await start([k2]);
    await expect(
      bus.request('vault.access-tokens.get', { orgId, connectionId: conns[0]! }),
    ).resolves.toMatchObject({ accessToken: values.get(conns[0]!) });
  });

  it('answers a write Postgres refuses with a typed INTERNAL error and logs no row content', async () => {
    // A constraint the service does not know about makes the insert fail with "Failing row contains (…)".
    await db.query(
      "alter table vault.credential add constraint test_reject check (vendor <> 'rejected-vendor')",
    );
    try {
      const before = bed.logLines.length;
      const err = await errorOf(
        store({
          vendor: 'rejected-vendor',
          credentials: [{ kind: 'access_token', value: secret('fpa') }],
        }),
      );
      expect(err).toMatchObject({ code: 'INTERNAL', reason: 'database_error' });
      const lines = bed.logLines.slice(before).join('');
      expect(lines).toContain('storing credentials failed');
      expect(lines).toContain('test_reject');
      expect(lines).not.toContain('Failing row');
      // No ciphertext or wrapped data key (long base64 runs; trace ids are 32 hex). Stack traces
      // are dropped first: their file paths are long slash-separated runs wherever the checkout lives.
      const withoutStacks = lines.replace(/"stack":"(?:[^"\\]|\\.)*"/g, '"stack":""');
      expect(withoutStacks).toContain('"stack":""');
      expect(withoutStacks).not.toMatch(/[A-Za-z0-9+/]{40,}/);
    } finally {
      await db.query('alter table vault.credential drop constraint test_reject');
    }
  });

  it('never wrote a plaintext to a log line', () => {
    expect(bed.logLines.length).toBeGreaterThan(10);
    const all = bed.logLines.join('');
    for (const p of plaintexts) expect(all).not.toContain(p);
  });

  it('destroys what an abandoned connect stored, also when the event came while the vault was down', async () => {
    const destroyedCount = async (): Promise<number> => {
      const sample = 'otesse_vault_abandoned_credentials_destroyed_total';
      const line = (await metricsText()).split('\n').find((l) => l.startsWith(`${sample} `));
      return line ? Number(line.slice(sample.length + 1)) : 0;
    };
    const countedBefore = await destroyedCount();
    const orgId = randomUUID();
    const connectionId = randomUUID();
    const values = [secret('at'), secret('rt')];
    await store({
      orgId,
      connectionId,
      credentials: [
        { kind: 'access_token', value: values[0]!, expiresAt: inAnHour() },
        { kind: 'refresh_token', value: values[1]! },
      ],
    });
    // The vault is down when the connection service announces the abandon; JetStream keeps the event.
    await bed.stopVault();
    const event = {
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      orgId,
      vendor: 'servicenow',
      instanceId: randomUUID(),
      connectionId,
      level: 'app' as const,
      userId: randomUUID(),
      reason: 'connect_expired',
    };
    const publisher = new EventPublisher(nc);
    await ensureStreams(nc, ['INTEGRATIONS']);
    await publisher.publish('integrations.connection.abandoned', event, { msgId: event.eventId });
    expect((await rowsOf(connectionId)).every((r) => r.is_active)).toBe(true);

    await start([k2]);
    const rows = await waitFor(async () => {
      const r = await rowsOf(connectionId);
      return r.every((c) => c.is_deleted) ? r : undefined;
    });
    expect(rows).toHaveLength(2);
    // Counted on /metrics once the consumer is past its commit.
    await waitFor(async () => (await destroyedCount()) - countedBefore === 2);
    for (const r of rows) {
      expect(r).toMatchObject({ ciphertext: '', iv: '', auth_tag: '', wrapped_data_key: '' });
      expect(r.is_active).toBe(false);
    }
    // Closed for good: a late store is refused, and a redelivered event changes nothing.
    expect(
      await errorOf(
        store({ orgId, connectionId, credentials: [{ kind: 'api_key', value: secret('late') }] }),
      ),
    ).toMatchObject({ code: 'CONFLICT', reason: 'connection_closed' });
    await publisher.publish(
      'integrations.connection.abandoned',
      { ...event, eventId: randomUUID() },
      { msgId: randomUUID() },
    );
    await waitFor(async () => {
      const info = await (
        await nc.jetstreamManager()
      ).consumers.info('INTEGRATIONS', 'vault-abandoned-connects');
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    expect(await rowsOf(connectionId)).toEqual(rows);
    // Another connection is untouched.
    const other = await store({
      orgId,
      credentials: [{ kind: 'api_key', value: secret('other') }],
    });
    expect(other.credentialIds).toHaveLength(1);
  });
});
