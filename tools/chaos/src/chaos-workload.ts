import {
  edgeClient,
  isEdgeGone,
  trpcFailure,
  type TEdgeClient,
  type TEdgeTraffic,
} from './edge-client';
import { CHAOS_DASHBOARD_URL, type TChaosUser } from './chaos-harness';
import { followOAuth } from './oauth-browser';

/** User-level connections on these providers (fake provider, no subdomain, sync jobs): a slot per (user, vendor). */
export const CHAOS_VENDORS = ['google', 'slack', 'salesforce', 'hubspot'] as const;
/** The admin's org-level connection that is connected, disconnected, then unlinked from its tenant, over and over. */
export const CHAOS_UNLINK_VENDOR = 'quickbooks';
/** Two accounts of the fake provider's tenant `acme`: a change of user moves between them. */
const ACCOUNTS = ['u-alice', 'u-bob'] as const;

export interface TWorkloadOptions {
  users: readonly TChaosUser[];
  edgeUrls: readonly string[];
  /** Stop once this many disconnects and as many reconnects completed (clients finish the step they are in). */
  operations: number;
  /** Every n-th cycle of a slot changes its user first (a change-user saga); 0: never. */
  changeUserEvery: number;
  /**
   * An admin who meanwhile cycles the org's QuickBooks: connect, disconnect, unlink from its company (an
   * unlink-tenant saga), so those sagas meet the faults too. Absent: no unlinks.
   */
  unlinker?: TChaosUser;
  traffic: TEdgeTraffic;
  /** Besides the count: may the clients finish yet (e.g. not before NATS had its restart)? */
  canFinish?: () => boolean;
  /** Set to stop early (the caller's deadline). */
  stop: { requested: boolean };
  log?: (line: string) => void;
}

export interface TWorkloadStats {
  disconnects: number;
  /** Disconnects answered "nothing was changed" (compensated): the client tries again later. */
  disconnectsCompensated: number;
  connects: number;
  /** Connects of a slot whose previous connection was disconnected (the reconnect of the disconnected connection). */
  reconnects: number;
  userChanges: number;
  userChangesRefused: number;
  /** Unlinks of the admin's QuickBooks from its company that completed. */
  unlinks: number;
  /** Orphaned connects (their edge killed mid-callback) the client cancelled, as its user would, to connect again. */
  connectsCancelled: number;
  /**
   * Connects the edge answered with a failure that nevertheless left the slot `connected` (seen right after):
   * the user is told it failed and cannot connect again, while the connection looks connected.
   */
  failedConnectsLeftConnected: number;
  /** Failed steps by kind (an edge gone, a typed error code, a failed OAuth outcome). */
  errors: Record<string, number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A saga a client started, followed while it runs (30 s at most): a service or the edge that went away mid-saga
 * leaves it to finish from its log; its status then.
 */
async function settled(client: TEdgeClient, sagaId: string, status: string): Promise<string> {
  for (let i = 0; i < 60 && (status === 'running' || status === 'compensating'); i += 1) {
    await sleep(500);
    status = (await client.disconnect.status.query({ sagaId })).status;
  }
  return status;
}

interface TSlot {
  vendor: string;
  cycles: number;
  /** A connection of this slot was disconnected before: the next connect is a reconnect. */
  revokedBefore: boolean;
  account: (typeof ACCOUNTS)[number];
}

/**
 * Chaos clients: each acts as its own user and cycles through its slots — connect (OAuth through the edge and the
 * fake provider; a reconnect when the slot was disconnected), now and then change the connected user (a
 * change-user saga), disconnect (a disconnect saga) — deriving what to do next from the edge each time, so a
 * step cut short by a fault is simply looked at again. Requests that meet a dead edge are retried on another
 * replica (or once it is back); typed errors are counted and the client moves on.
 */
export async function runWorkload(opts: TWorkloadOptions): Promise<TWorkloadStats> {
  const stats: TWorkloadStats = {
    disconnects: 0,
    disconnectsCompensated: 0,
    connects: 0,
    reconnects: 0,
    userChanges: 0,
    userChangesRefused: 0,
    unlinks: 0,
    connectsCancelled: 0,
    failedConnectsLeftConnected: 0,
    errors: {},
  };
  const fail = (kind: string): void => {
    stats.errors[kind] = (stats.errors[kind] ?? 0) + 1;
  };
  const errorKind = (e: unknown): string => {
    const t = trpcFailure(e);
    if (t) return `${t.code}${t.reason ? `:${t.reason}` : ''}`;
    if (isEdgeGone(e)) return 'edge_unreachable';
    return `error:${(e as Error).message.slice(0, 60)}`;
  };
  const done = (): boolean =>
    opts.stop.requested ||
    (stats.disconnects >= opts.operations &&
      stats.reconnects >= opts.operations &&
      (opts.canFinish?.() ?? true));

  /** A user's client, preferring one edge replica by its index. */
  const clientOf = (user: TChaosUser, index: number): TEdgeClient =>
    edgeClient(opts.edgeUrls, user.token, {
      preferred: index,
      // An edge restarting on a loaded machine can take a while: the client keeps trying that long.
      retryForMs: 120_000,
      traffic: opts.traffic,
      ...(opts.log ? { log: opts.log } : {}),
    });

  const worker = async (user: TChaosUser, index: number): Promise<void> => {
    const client = clientOf(user, index);
    const slots: TSlot[] = CHAOS_VENDORS.map((vendor) => ({
      vendor,
      cycles: 0,
      revokedBefore: false,
      account: ACCOUNTS[0],
    }));
    const oauth = async (
      slot: TSlot,
      action: 'reconnect' | 'changeUser' | undefined,
      loginAs: string,
    ): Promise<string> => {
      const { url } = await client.integrations.oauthUrl.query({
        vendor: slot.vendor,
        flow: 'user',
        ...(action ? { action } : {}),
      });
      return (await followOAuth(url, { dashboardUrl: CHAOS_DASHBOARD_URL, loginAs })).outcome;
    };

    for (let turn = 0; !done(); turn += 1) {
      const slot = slots[turn % slots.length] as TSlot;
      try {
        const list = await client.integrations.list.query();
        const mine = list.find((i) => i.provider.key === slot.vendor)?.myConnection ?? null;
        if (!mine) {
          // Not connected (never, or disconnected): connect; after a disconnect that is the reconnect.
          let outcome = await oauth(
            slot,
            slot.revokedBefore ? 'reconnect' : undefined,
            slot.account,
          );
          if (outcome === 'failed:nothing_to_reconnect')
            outcome = await oauth(slot, undefined, slot.account);
          if (outcome === 'connected') {
            stats.connects += 1;
            if (slot.revokedBefore) stats.reconnects += 1;
          } else {
            fail(`connect ${outcome}`);
            const after = (await client.integrations.list.query()).find(
              (i) => i.provider.key === slot.vendor,
            )?.myConnection;
            if (after?.status === 'connected') stats.failedConnectsLeftConnected += 1;
          }
          continue;
        }
        if (mine.status === 'pending') {
          // This client connects a slot one connect at a time, so a pending one is orphaned: its edge was killed
          // mid-callback. Cancelled, as its user would, rather than waiting out its two minutes.
          await client.integrations.cancelConnect.mutate({ connectionId: mine.id });
          stats.connectsCancelled += 1;
          continue;
        }
        if (mine.status !== 'connected') {
          // `disconnecting` (a saga holds it; recovery finishes it): another slot.
          fail(`slot ${mine.status}`);
          await sleep(100);
          continue;
        }
        slot.cycles += 1;
        if (opts.changeUserEvery > 0 && slot.cycles % opts.changeUserEvery === 0) {
          const other = ACCOUNTS.find((a) => a !== slot.account) ?? ACCOUNTS[0];
          const outcome = await oauth(slot, 'changeUser', other);
          if (outcome === 'user_changed') {
            stats.userChanges += 1;
            slot.account = other;
          } else {
            stats.userChangesRefused += 1;
            fail(`changeUser ${outcome}`);
          }
        }
        const started = await client.disconnect.start.mutate({
          connectionId: mine.id,
          confirm: true,
          waitMs: 10_000,
        });
        const status = await settled(client, started.sagaId, started.saga.status);
        if (status === 'completed') {
          stats.disconnects += 1;
          slot.revokedBefore = true;
        } else fail(`disconnect ${status}`);
      } catch (e) {
        const kind = errorKind(e);
        if (kind.includes('disconnect_compensated')) stats.disconnectsCompensated += 1;
        fail(kind);
        // Typed errors under faults are expected (UNAVAILABLE while a service restarts): pause, look again.
        await sleep(200 + Math.floor(Math.random() * 300));
      }
    }
  };

  /** The admin's cycle: connect the org's QuickBooks, disconnect it, unlink it; each step derived from the edge. */
  const unlinkWorker = async (admin: TChaosUser, index: number): Promise<void> => {
    const client = clientOf(admin, index);
    while (!done()) {
      try {
        const entry = (await client.integrations.list.query()).find(
          (i) => i.provider.key === CHAOS_UNLINK_VENDOR,
        );
        const app = entry?.appConnection ?? null;
        if (app?.status === 'connected') {
          const started = await client.disconnect.start.mutate({
            connectionId: app.id,
            confirm: true,
            waitMs: 10_000,
          });
          const status = await settled(client, started.sagaId, started.saga.status);
          if (status !== 'completed') fail(`unlinker disconnect ${status}`);
        } else if (app && app.status !== 'revoked' && app.status !== 'error') {
          fail(`unlinker slot ${app.status}`);
          await sleep(200);
        } else if (entry?.instance?.tenant) {
          const started = await client.integrations.unlinkTenant.mutate({
            vendor: CHAOS_UNLINK_VENDOR,
            confirmTenantId: entry.instance.tenant,
            waitMs: 10_000,
          });
          const status = await settled(client, started.sagaId, started.saga.status);
          if (status === 'completed') stats.unlinks += 1;
          else fail(`unlink ${status}`);
        } else {
          const { url } = await client.integrations.oauthUrl.query({
            vendor: CHAOS_UNLINK_VENDOR,
            flow: 'app',
          });
          const { outcome } = await followOAuth(url, {
            dashboardUrl: CHAOS_DASHBOARD_URL,
            loginAs: ACCOUNTS[0],
          });
          if (outcome !== 'connected') fail(`unlinker connect ${outcome}`);
        }
      } catch (e) {
        fail(`unlinker ${errorKind(e)}`);
        await sleep(200 + Math.floor(Math.random() * 300));
      }
    }
  };

  let lastReport = 0;
  const reporter = setInterval(() => {
    if (stats.disconnects !== lastReport) {
      lastReport = stats.disconnects;
      opts.log?.(
        `  … ${stats.disconnects} disconnects, ${stats.reconnects} reconnects, ${stats.userChanges} user changes, ${stats.unlinks} unlinks`,
      );
    }
  }, 10_000);
  try {
    await Promise.all([
      ...opts.users.map((u, i) => worker(u, i)),
      ...(opts.unlinker ? [unlinkWorker(opts.unlinker, opts.users.length)] : []),
    ]);
  } finally {
    clearInterval(reporter);
  }
  return stats;
}
