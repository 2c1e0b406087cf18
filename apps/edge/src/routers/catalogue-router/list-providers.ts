import { publicProviderView } from '@otesse/providers';
import { authedProcedure } from '../../trpc/trpc';
import { ZListProvidersInput } from './list-providers.schema';

/** The All Integrations catalogue: what can be connected, without any secret or internal URL. */
export const listProviders = authedProcedure.input(ZListProvidersInput).query(({ ctx, input }) =>
  ctx.deps.catalogue
    .list()
    .filter((p) => !input?.category || p.category === input.category)
    .map(publicProviderView),
);
