import { authedProcedure } from '../../trpc/trpc';
import { ZNoInput } from '../../trpc/no-input.schema';

export const getMe = authedProcedure.input(ZNoInput).query(({ ctx }) => ({
  userId: ctx.identity.userId,
  orgId: ctx.identity.orgId,
  email: ctx.identity.email,
  name: ctx.identity.name,
  permissions: ctx.identity.permissions,
}));
