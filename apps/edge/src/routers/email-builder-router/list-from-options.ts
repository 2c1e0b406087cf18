import { authedProcedure } from '../../trpc/trpc';
import { ZNoInput } from '../../trpc/no-input.schema';
import { busOptions } from '../../trpc/bus-options';

/** The Email Builder "From" dropdown: sender emails of connected email providers (gone after a disconnect). */
export const listFromOptions = authedProcedure.input(ZNoInput).query(async ({ ctx }) => {
  const { options } = await ctx.deps.bus.request(
    'connection.email-builder.from-options',
    { orgId: ctx.identity.orgId },
    busOptions(ctx),
  );
  return options.map((o) => ({ email: o.email, vendor: o.vendor }));
});
