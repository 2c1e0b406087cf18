import { authedProcedure } from '../../trpc/trpc';

export const getMe = authedProcedure.query(({ ctx }) => ({
  userId: ctx.identity.userId,
  orgId: ctx.identity.orgId,
  email: ctx.identity.email,
  name: ctx.identity.name,
  permissions: ctx.identity.permissions,
}));
