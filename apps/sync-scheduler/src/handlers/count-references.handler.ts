import type { MikroORM } from '@mikro-orm/postgresql';
import type { THandler } from '@otesse/messaging';
import { referenceStateCounts } from '../reference-counts';

/** The instance's references by derived state, counted from the tally (see `referenceStateCounts`). */
export function countReferencesHandler(orm: MikroORM): THandler<'sync-scheduler.references.count'> {
  return (req) => referenceStateCounts(orm.em.getConnection().getKnex(), req);
}
