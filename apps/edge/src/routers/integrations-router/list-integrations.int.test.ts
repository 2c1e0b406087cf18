import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failUpdatesWhere, waitFor } from '@otesse/testing';
import type { TRunningEdge } from '../../edge.server';
import { UNFINISHED_SHOWN } from './list-integrations';
import {
  connectOAuth,
  edgeClient,
  startEdgeReplica,
  startHarness,
  type TEdgeClient,
  type THarness,
} from '../../test/e2e-harness';

/**
 * `integrations.list` in an org with a long history: many connections a disconnect revoked long ago (their sagas
 * ended) and one whose disconnect stopped after revoking it. The list shows that one, with its stopped operation, and
 * none of the others; and the saga log is asked about the connections with an unfinished saga, not every revoked one.
 */
describe('integrations.list with many revoked connections (whole stack)', () => {
  const HISTORY = 1_000;
  let h: THarness;
  let edge: TRunningEdge;
  let asAdmin: TEdgeClient;
  let asMember: TEdgeClient;
  /** How many (type, subject) pairs each question to the saga log named, through this edge. */
  const asked: number[] = [];
  let appConnectionId: string;

  beforeAll(async () => {
    h = await startHarness();
    // A colleague of the same company: each instance is pinned to the tenant of its first connection (acme).
    await h.fakeClient.setUsers([
      { id: 'u-dana', email: 'dana@acme.test', name: 'Dana Diaz', tenantId: 'acme' },
    ]);
    // An edge in this process, so the questions it asks its saga log can be counted (they still go to Postgres).
    edge = await startEdgeReplica(h);
    const sagas = edge.deps.sagas;
    const unfinished = sagas.unfinished.bind(sagas);
    sagas.unfinished = (orgId, subjects) => {
      asked.push(subjects.length);
      return unfinished(orgId, subjects);
    };
    asAdmin = edgeClient(edge.url, h.admin.token);
    asMember = edgeClient(edge.url, h.member.token);

    const app = await connectOAuth(h, h.admin, 'salesforce', 'app', { consentAs: 'u-alice' });
    expect(app.outcome).toBe('connected');
    appConnectionId = app.connectionId!;
    // One disconnect that completed: its revoked connection and ended saga, copied into a long history of them.
    const old = await connectOAuth(h, h.member, 'salesforce', 'user', { consentAs: 'u-dana' });
    expect(old.outcome).toBe('connected');
    const { saga } = await asMember.disconnect.start.mutate({
      connectionId: old.connectionId!,
      confirm: true,
    });
    expect(saga.status).toBe('completed');
    await h.db.query(
      `with copies as (select gen_random_uuid() as id, g from generate_series(1, $3::int) g),
            connections as (
              insert into connection.integration_connection
              select (jsonb_populate_record(c, jsonb_build_object(
                        'id', copies.id, 'created_at', c.created_at - copies.g * interval '1 minute'))).*
                from connection.integration_connection c, copies where c.id = $1)
       insert into edge.saga
       select (jsonb_populate_record(s, jsonb_build_object(
                 'id', gen_random_uuid(), 'subject_key', s.org_id || ':' || copies.id,
                 'created_at', s.created_at - copies.g * interval '1 minute'))).*
         from edge.saga s, copies
        where s.type = 'disconnect' and s.subject_key = $2 || ':' || $1`,
      [old.connectionId, h.orgId, HISTORY],
    );
    const [{ n } = { n: 0 }] = await h.db.query<{ n: number }>(
      `select count(*)::int as n from connection.integration_connection
        where org_id = $1 and vendor = 'salesforce' and status = 'revoked'`,
      [h.orgId],
    );
    expect(n).toBe(HISTORY + 1);
  });
  afterAll(async () => {
    await edge?.stop();
    await h?.close();
  });

  const salesforce = async (client: TEdgeClient) => {
    asked.length = 0;
    return (await client.integrations.list.query()).find((i) => i.provider.key === 'salesforce')!;
  };

  /**
   * The member connects Salesforce and disconnects it while the vault cannot destroy credentials: the statuses are
   * updated, then the saga stops. The fault stays until `fix` (idempotent) lifts it.
   */
  const connectAndStopDisconnect = async (fault: string) => {
    const { connectionId } = await connectOAuth(h, h.member, 'salesforce', 'user', {
      consentAs: 'u-dana',
    });
    const fix = await failUpdatesWhere(h.db, {
      name: fault,
      table: 'vault.credential',
      when: 'new.is_deleted',
      message: 'disk full',
    });
    try {
      const { sagaId } = await asMember.disconnect.start.mutate({
        connectionId: connectionId!,
        confirm: true,
        waitMs: 0,
      });
      await waitFor(
        async () => (await asMember.disconnect.status.query({ sagaId })).status === 'failed',
        { timeoutMs: 40_000, intervalMs: 250 },
      );
      return { connectionId: connectionId!, sagaId, fix };
    } catch (e) {
      await fix();
      throw e;
    }
  };

  it('shows the one revoked connection whose disconnect stopped, and none of the ended ones', async () => {
    const { connectionId, sagaId, fix } = await connectAndStopDisconnect('refuse_destroy_history');
    try {
      const stopped = [
        expect.objectContaining({
          id: connectionId,
          level: 'user',
          status: 'revoked',
          connectedBy: { email: 'member@acme.test', name: 'member' },
          operation: expect.objectContaining({
            sagaId,
            type: 'disconnect',
            status: 'failed',
            needsResume: true,
          }) as unknown,
        }),
      ];
      const member = await salesforce(asMember);
      expect(member.myConnection).toBeNull();
      expect(member.appConnection).toMatchObject({ id: appConnectionId, operation: null });
      expect(member.unfinishedConnections).toEqual(stopped);
      // Asked about the connection whose saga is unfinished only, not about the org's thousand revoked ones.
      expect(asked).toEqual([1]);

      const admin = await salesforce(asAdmin);
      expect(admin.unfinishedConnections).toEqual([
        expect.objectContaining({
          id: connectionId,
          owner: { email: 'member@acme.test', name: 'member' },
          operation: expect.objectContaining({ sagaId, needsResume: true }) as unknown,
        }),
      ]);
      expect(admin.otherConnections).toEqual([]);
      expect(asked).toEqual([1]);

      await fix();
      const resumed = await asMember.operations.resume.mutate({ sagaId, waitMs: 20_000 });
      expect(resumed.saga.status).toBe('completed');
    } finally {
      await fix();
    }
    // Every saga ended: nothing to show, and nothing to ask the saga log about.
    const after = await salesforce(asAdmin);
    expect(after.unfinishedConnections).toEqual([]);
    expect(after.appConnection).toMatchObject({ id: appConnectionId, status: 'connected' });
    expect(asked.every((n) => n === 0)).toBe(true);
  });

  it('with thousands of operations stopped on connections, carries the few a card shows and says how many more', async () => {
    // A bulk off-boarding during an outage: a disconnect per member stopped after the statuses. Each connection is
    // ~600 bytes of a NATS reply, whose limit is 1 MB; the named ids alone once passed the services' 256 KiB.
    const STOPPED = 2_000;
    const { connectionId, fix } = await connectAndStopDisconnect('refuse_destroy_bulk');
    await fix();
    // Copies of the stopped one (its saga and steps), each on a revoked connection of its own, older than it.
    await h.db.query(
      `with copies as (
              select gen_random_uuid() as id, gen_random_uuid() as saga_id, g from generate_series(1, $3::int) g),
            connections as (
              insert into connection.integration_connection
              select (jsonb_populate_record(c, jsonb_build_object(
                        'id', copies.id, 'created_at', c.created_at - copies.g * interval '1 second'))).*
                from connection.integration_connection c, copies where c.id = $1),
            sagas as (
              insert into edge.saga
              select (jsonb_populate_record(s, jsonb_build_object(
                        'id', copies.saga_id, 'subject_key', s.org_id || ':' || copies.id,
                        'input', s.input || jsonb_build_object('connectionId', copies.id),
                        'created_at', s.created_at - copies.g * interval '1 second'))).*
                from edge.saga s, copies
               where s.type = 'disconnect' and s.subject_key = $2 || ':' || $1
              returning id)
       insert into edge.saga_step
       select (jsonb_populate_record(st, jsonb_build_object(
                 'id', gen_random_uuid(), 'saga_id', copies.saga_id,
                 'idempotency_key', copies.saga_id || ':' || st.name))).*
         from edge.saga_step st
         join edge.saga s on s.id = st.saga_id and s.type = 'disconnect' and s.subject_key = $2 || ':' || $1,
              copies`,
      [connectionId, h.orgId, STOPPED],
    );
    for (const client of [asMember, asAdmin]) {
      const card = await salesforce(client);
      expect(card.unfinishedConnections).toHaveLength(UNFINISHED_SHOWN);
      // The newest first: the one that really stopped is there, with its operation to resume.
      expect(card.unfinishedConnections.find((c) => c.id === connectionId)).toMatchObject({
        status: 'revoked',
        operation: { type: 'disconnect', status: 'failed', needsResume: true },
      });
      expect(card.unfinishedConnections.every((c) => c.operation?.needsResume)).toBe(true);
      expect(card.unfinishedConnectionsHidden).toBe(STOPPED + 1 - UNFINISHED_SHOWN);
      expect(card.appConnection).toMatchObject({ id: appConnectionId, status: 'connected' });
      // The saga log is asked about the connections carried, not about every stopped one.
      expect(asked.at(-1)! / 3).toBeLessThanOrEqual(UNFINISHED_SHOWN + 1);
    }
    // Someone who may not act on the member's connections sees none of them, and is told of none.
    const viewer = (await edgeClient(edge.url, h.viewer.token).integrations.list.query()).find(
      (i) => i.provider.key === 'salesforce',
    )!;
    expect(viewer.unfinishedConnections).toEqual([]);
    expect(viewer.unfinishedConnectionsHidden).toBe(0);
  });
});
