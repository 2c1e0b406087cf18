import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { ZIsoDate, ZUuid } from '@otesse/contracts';
import { authedProcedure } from '../../trpc/trpc';
import { OPERATION_STATUS_FILTERS, ZListOperationsInput } from './list-operations.schema';
import { loadPeople } from '../people';
import { operationView } from './operation-view';
import { operationsScope } from './operations-scope';

const ZCursor = z.object({ createdAt: ZIsoDate, id: ZUuid }).strict();

/** The page boundary, opaque to callers: the last item's (createdAt, id). */
const encodeCursor = (c: z.infer<typeof ZCursor>): string =>
  Buffer.from(JSON.stringify(c)).toString('base64url');

function decodeCursor(raw: string): z.infer<typeof ZCursor> {
  try {
    return ZCursor.parse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')));
  } catch {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'cursor is not one this list returned' });
  }
}

/**
 * The org's operations (disconnect, reconnect and change-user sagas), newest first: the whole org's for
 * settings.view or settings.edit, otherwise those the caller started or that act on their own connections. What an
 * operator looks at for sagas that stopped past their pivot (`status: 'stopped'`) and resumes.
 */
export const listOperations = authedProcedure
  .input(ZListOperationsInput)
  .query(async ({ ctx, input }) => {
    const { identity } = ctx;
    const before = input.cursor === undefined ? undefined : decodeCursor(input.cursor);
    const rows = await ctx.deps.sagas.list({
      ...operationsScope(identity),
      statuses: input.status ? OPERATION_STATUS_FILTERS[input.status] : undefined,
      types: input.type ? [input.type] : undefined,
      // One more than asked: whether there is a next page, without a count.
      limit: input.limit + 1,
      before,
    });
    const views = rows.slice(0, input.limit).map(operationView);
    const people = await loadPeople(
      ctx.deps.orm.em.getConnection().getKnex(),
      identity.orgId,
      views.flatMap((v) => [v.actorUserId, ...(v.ownerUserId ? [v.ownerUserId] : [])]),
    );
    // Names of who started it and whose connection it is (the org's own users only).
    const items = views.map((v) => ({
      ...v,
      actor: people.get(v.actorUserId) ?? null,
      owner: v.ownerUserId ? (people.get(v.ownerUserId) ?? null) : null,
    }));
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        rows.length > input.limit && last
          ? encodeCursor({ createdAt: last.createdAt, id: last.id })
          : null,
    };
  });
