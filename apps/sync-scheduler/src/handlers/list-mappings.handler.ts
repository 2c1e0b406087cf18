import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { FieldMappingSchema } from '../entities';

export function listMappingsHandler(orm: MikroORM): THandler<'sync-scheduler.mappings.list'> {
  return async (req) => {
    const mappings = await orm.em.fork().find(
      FieldMappingSchema,
      {
        orgId: req.orgId,
        instanceId: req.instanceId,
        ...(req.resource ? { resource: req.resource } : {}),
      },
      { orderBy: { resource: 'asc', localField: 'asc' } },
    );
    return {
      mappings: mappings.map((m) => ({
        id: m.id,
        orgId: m.orgId,
        instanceId: m.instanceId,
        resource: m.resource,
        localField: m.localField,
        remoteField: m.remoteField,
        createdAt: m.createdAt.toISOString(),
        updatedAt: m.updatedAt.toISOString(),
      })),
    };
  };
}
