import { publicProviderView } from '@otesse/providers';
import type { TConnection } from '@otesse/contracts';
import { authedProcedure } from '../../trpc/trpc';
import { loadPeople } from '../people';
import { connectionView, LIVE_STATUSES, memberConnectionView } from './connection-view';
import { ZListIntegrationsInput } from './list-integrations.schema';
import { connectionIdsOf, OPERATION_TYPES, unfinishedOperations } from './connection-operations';
import { busOptions } from '../../trpc/bus-options';

/**
 * Every catalogue provider with the org's instance, its app-level connection and the caller's own connection.
 * A caller with settings.edit (who may disconnect them) also gets the other members' live personal connections
 * with their owner; anyone else an empty list. `refreshTokenExpired` covers what the caller can act on: the
 * app-level connection (admins reconnect it, others ask one) and their own. Another member's expired personal
 * connection only its owner can reconnect: it shows on that connection. (`GET /v1/account/integrations` keeps
 * the seed's aggregate over every connected connection.)
 */
export const listIntegrations = authedProcedure
  .input(ZListIntegrationsInput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    // The subjects with an operation open or stopped on them first: the only ended (revoked, error) connections the
    // list needs, so the connection service leaves out the rest of the org's history.
    const open = await ctx.deps.sagas.openSubjects(identity.orgId, OPERATION_TYPES);
    const mayManageOthers = identity.permissions.includes('settings.edit');
    const named = connectionIdsOf(open, identity.orgId);
    // The org's and the caller's own connections, and for settings.edit at most OTHERS_SHOWN of the other members'
    // per instance (with how many there are): an instance may have one per member of the org. Of those with an
    // operation open (`named`), the ones the caller may see, at most UNFINISHED_SHOWN per instance.
    const { instances } = await ctx.deps.bus.request(
      'connection.integrations.list',
      {
        orgId: identity.orgId,
        endedConnectionIds: named,
        viewer: {
          userId: identity.userId,
          othersLimit: mayManageOthers ? OTHERS_SHOWN : 0,
          namedLimit: UNFINISHED_SHOWN,
          namedOthers: mayManageOthers,
        },
      },
      busOptions(ctx),
    );
    const byVendor = new Map(instances.map((i) => [i.instance.vendor, i]));
    const namedSet = new Set(named);
    const providers = ctx.deps.catalogue
      .list()
      .filter((p) => !input?.category || p.category === input.category);
    // Other members' live personal connections, by vendor: only for a caller who may disconnect them.
    const othersByVendor = new Map<string, TConnection[]>(
      mayManageOthers
        ? instances.map((i) => [
            i.instance.vendor,
            i.connections.filter(
              (c) =>
                c.level === 'user' && c.userId !== identity.userId && LIVE_STATUSES.has(c.status),
            ),
          ])
        : [],
    );
    const shown = (entry: (typeof instances)[number] | undefined) => {
      const connections = entry?.connections ?? [];
      return {
        app: connections.find(
          (c) => c.level === 'app' && c.status !== 'revoked' && c.status !== 'error',
        ),
        mine: connections.find(
          (c) =>
            c.level === 'user' &&
            c.userId === identity.userId &&
            c.status !== 'revoked' &&
            c.status !== 'error',
        ),
      };
    };
    const shownConnections = providers.flatMap((p) => {
      const { app, mine } = shown(byVendor.get(p.key));
      return [app, mine, ...(othersByVendor.get(p.key) ?? [])].filter(
        (c): c is TConnection => c !== undefined,
      );
    });
    // Every connection of the listed instances the caller may see (the org's, their own, and for settings.edit the
    // other members'), whatever its status: a disconnect that stopped (or still runs) after it revoked the
    // connection must stay visible, with a way to resume or follow it.
    const visible = (c: TConnection) =>
      c.level === 'app' || c.userId === identity.userId || mayManageOthers;
    const visibleConnections = providers.flatMap(
      (p) => byVendor.get(p.key)?.connections.filter(visible) ?? [],
    );
    // Who made each connection the caller may see (the org's, their own, and for settings.edit the other members'),
    // and the operations open on them.
    const [people, operations] = await Promise.all([
      loadPeople(
        ctx.deps.orm.em.getConnection().getKnex(),
        identity.orgId,
        visibleConnections.map((c) => c.userId),
      ),
      unfinishedOperations(ctx.deps.sagas, open, identity.orgId, visibleConnections),
    ]);
    const shownIds = new Set(shownConnections.map((c) => c.id));
    /** The visible connections no longer shown as live (revoked, error) with an operation still open on them. */
    const unfinishedOf = (entry: (typeof instances)[number] | undefined) =>
      (entry?.connections ?? []).filter(
        (c) => visible(c) && !shownIds.has(c.id) && operations.has(c.id),
      );
    /** A connection as shown, with the operation in progress on it, or the one that stopped on it. */
    const view = (c: TConnection) => ({
      ...connectionView(c),
      connectedBy: people.get(c.userId) ?? null,
      operation: operations.get(c.id) ?? null,
    });
    return providers.map((p) => {
      const entry = byVendor.get(p.key);
      const connections = entry?.connections ?? [];
      const { app, mine } = shown(entry);
      const others = (othersByVendor.get(p.key) ?? [])
        .map((c) => memberConnectionView(c, people, operations))
        .sort(
          (a, b) =>
            (a.owner?.email ?? a.userId).localeCompare(b.owner?.email ?? b.userId) ||
            a.id.localeCompare(b.id),
        );
      return {
        provider: publicProviderView(p),
        instance: entry
          ? {
              id: entry.instance.id,
              status: entry.instance.status,
              health: entry.instance.health,
              healthCheckedAt: entry.instance.healthCheckedAt,
              subdomain: entry.instance.config.subdomain ?? null,
              /**
               * The site an admin chose for the instance (Atlassian), else the one it is pinned to, named as its
               * connections know it.
               */
              site: siteOf(
                entry.instance.config.site ??
                  (p.oauth?.identity.kind === 'atlassian'
                    ? (entry.instance.tenantId ?? undefined)
                    : undefined),
                connections,
              ),
              /**
               * The provider organization the instance is pinned to (its data is that tenant's): only an account of
               * it may connect, even after a disconnect. Null until a connection named one.
               */
              tenant: entry.instance.tenantId ?? null,
            }
          : null,
        integrated: entry?.instance.status === 'connected',
        appConnection: app ? view(app) : null,
        myConnection: mine ? view(mine) : null,
        /**
         * Other members' live personal connections, with their owner: only for settings.edit, else empty; at most
         * OTHERS_SHOWN of them (the oldest), `otherConnectionsTotal` says how many there are.
         */
        otherConnections: others,
        otherConnectionsTotal: mayManageOthers
          ? (entry?.counts?.otherMembersLive ?? others.length)
          : 0,
        /**
         * The `after` of `integrations.memberConnections` for the members' connections left out (they page in the
         * order the list cut them: oldest first); null when none is. The list itself is sorted by owner.
         */
        otherConnectionsNext: mayManageOthers ? (entry?.othersNext ?? null) : null,
        /**
         * Connections no longer live (a disconnect revoked them) with an operation still open on them: one that
         * stopped after the statuses (or still runs), to resume or follow. The caller's view of them: the org's,
         * their own, and for settings.edit the other members' (with their owner).
         */
        unfinishedConnections: unfinishedOf(entry).map((c) =>
          memberConnectionView(c, people, operations),
        ),
        /**
         * How many more connections the caller may see have an operation open that this list leaves out (it carries
         * at most UNFINISHED_SHOWN per provider): the Operations page lists them all.
         */
        unfinishedConnectionsHidden: Math.max(
          0,
          (entry?.namedTotal ?? 0) - connections.filter((c) => namedSet.has(c.id)).length,
        ),
        userConnections:
          entry?.counts?.connectedUsers ??
          connections.filter((c) => c.level === 'user' && c.status === 'connected').length,
        refreshTokenExpired: [app, mine].some(
          (c) => c?.status === 'connected' && c.refreshTokenExpired,
        ),
      };
    });
  });

/** How many of the other members' personal connections an admin's list carries per provider. */
export const OTHERS_SHOWN = 100;

/** How many connections with an operation open on them a list carries per provider (the caller's own first). */
export const UNFINISHED_SHOWN = 50;

/** The instance's chosen site with the name its newest connection on it recorded (null until one connected). */
function siteOf(
  site: string | undefined,
  connections: readonly TConnection[],
): { id: string; name: string | null } | null {
  if (site === undefined) return null;
  const named = connections.filter((c) => c.tenantId === site && c.details.siteName).at(-1);
  return { id: site, name: named?.details.siteName ?? null };
}
