import type { Knex } from '@mikro-orm/postgresql';

/** A saga stopped past its pivot, as an operator's listing shows it (every org). */
export interface TStoppedSaga {
  sagaId: string;
  orgId: string;
  type: string;
  connectionId: string | null;
  stoppedAtStep: string | null;
  error: string | null;
  reason: string | null;
  stoppedAt: string;
  timesResumed: number;
}

/**
 * Every org's sagas stopped past their pivot, longest stopped first: for the people on call when the
 * `otesse_sagas{status="failed"}` alert fires (the admin CLI), not for an org's users (they use operations.list).
 */
export async function listStoppedSagas(
  knex: Knex,
  schema: string,
  limit = 100,
): Promise<TStoppedSaga[]> {
  const rows = (await knex('saga')
    .withSchema(schema)
    .where({ status: 'failed' })
    .orderBy([
      { column: 'completed_at', order: 'asc' },
      { column: 'id', order: 'asc' },
    ])
    .limit(limit)
    .select(
      'id',
      'org_id',
      'type',
      knex.raw(`input->>'connectionId' as connection_id`),
      knex.raw(`error->>'step' as step`),
      knex.raw(`error->>'code' as code`),
      knex.raw(`error->>'reason' as reason`),
      'completed_at',
      'resumed_count',
    )) as {
    id: string;
    org_id: string;
    type: string;
    connection_id: string | null;
    step: string | null;
    code: string | null;
    reason: string | null;
    completed_at: Date;
    resumed_count: number;
  }[];
  return rows.map((r) => ({
    sagaId: r.id,
    orgId: r.org_id,
    type: r.type,
    connectionId: r.connection_id,
    stoppedAtStep: r.step,
    error: r.code,
    reason: r.reason,
    stoppedAt: new Date(r.completed_at).toISOString(),
    timesResumed: r.resumed_count,
  }));
}
