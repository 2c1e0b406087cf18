import type { MikroORM } from '@mikro-orm/postgresql';
import type { TReplyOf } from '@otesse/contracts';
import { runSqlCommandOnce } from '@otesse/persistence';

type TDisconnectSubject =
  'connection.connections.begin-disconnect' | 'connection.connections.complete-disconnect';

/**
 * A disconnect step carried out by its Postgres function (migration `disconnect_functions`) in one round trip:
 * the idempotency check, the instance's then the connection's row lock, the change and the stored reply.
 */
export async function runDisconnectFunction<S extends TDisconnectSubject>(
  orm: MikroORM,
  subject: S,
  fn: 'begin_disconnect' | 'complete_disconnect',
  req: { idempotencyKey: string; orgId: string; connectionId: string; sagaId: string },
  /** begin_disconnect's authorization (migration `begin_authorizes`): who asks; null when the edge checked. */
  actor?: { userId: string; mayManageOthers: boolean } | null,
): Promise<TReplyOf<S>> {
  const base = [req.idempotencyKey, req.orgId, req.connectionId, req.sagaId];
  const { result } = await runSqlCommandOnce<TReplyOf<S>>(orm.em.getConnection().getKnex(), {
    name: `connection.${fn}`,
    text:
      actor === undefined
        ? `select "connection".${fn}($1, $2, $3, $4) as r`
        : `select "connection".${fn}($1, $2, $3, $4, $5, $6) as r`,
    values:
      actor === undefined ? base : [...base, actor?.userId ?? null, actor?.mayManageOthers ?? null],
    subject,
  });
  return result;
}
