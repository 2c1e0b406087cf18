import type { MikroORM } from '@mikro-orm/postgresql';
import type { TConnection, TInstanceConnectionCounts } from '@otesse/contracts';
import type { THandler } from '@otesse/messaging';
import {
  countLiveConnections,
  loadConnections,
  loadInstances,
  loadViewerConnections,
} from '../store/connection.store';

/** Named connections a viewer's reply carries per instance unless told: what a card can show. */
const NAMED_SHOWN = 100;

const NO_CONNECTIONS: TInstanceConnectionCounts = {
  connectedUsers: 0,
  refreshTokenExpired: 0,
  otherMembersLive: 0,
};

/**
 * Every instance of the org with its connections (the ended ones only among `endedConnectionIds` when given; with a
 * viewer, at most `othersLimit` of the other members' live ones per instance, and every instance's counts): a few
 * statements, whatever the number of instances or members. With `instanceId`, that instance alone.
 */
export function listIntegrationsHandler(orm: MikroORM): THandler<'connection.integrations.list'> {
  return async (req) => {
    const knex = orm.em.getConnection().getKnex();
    const viewer = req.viewer;
    const [instances, { connections, othersNext, namedTotal }, counts] = await Promise.all([
      loadInstances(knex, {
        orgId: req.orgId,
        ...(req.instanceId !== undefined ? { id: req.instanceId } : {}),
      }),
      viewer
        ? loadViewerConnections(knex, {
            orgId: req.orgId,
            instanceId: req.instanceId,
            viewerUserId: viewer.userId,
            othersLimit: viewer.othersLimit,
            slotHistory: viewer.slotHistory,
            named: req.endedConnectionIds ?? [],
            namedLimit: viewer.namedLimit ?? NAMED_SHOWN,
            namedOthers: viewer.namedOthers ?? true,
          })
        : loadConnections(knex, {
            orgId: req.orgId,
            endedAmong: req.endedConnectionIds,
            ...(req.instanceId !== undefined ? { instanceIds: [req.instanceId] } : {}),
          }).then((all) => ({ connections: all, othersNext: undefined, namedTotal: undefined })),
      viewer
        ? countLiveConnections(knex, req.orgId, viewer.userId, req.instanceId)
        : Promise.resolve(undefined),
    ]);
    const byInstance = new Map<string, TConnection[]>();
    for (const c of connections) {
      const list = byInstance.get(c.instanceId) ?? [];
      list.push(c);
      byInstance.set(c.instanceId, list);
    }
    return {
      instances: instances.map((instance) => ({
        instance,
        connections: byInstance.get(instance.id) ?? [],
        ...(counts ? { counts: counts.get(instance.id) ?? NO_CONNECTIONS } : {}),
        ...(namedTotal ? { namedTotal: namedTotal.get(instance.id) ?? 0 } : {}),
        ...(othersNext && viewer
          ? {
              // Only when some are left out: all carried, nothing follows.
              othersNext:
                (counts?.get(instance.id)?.otherMembersLive ?? 0) > viewer.othersLimit
                  ? (othersNext.get(instance.id) ?? null)
                  : null,
            }
          : {}),
      })),
    };
  };
}
