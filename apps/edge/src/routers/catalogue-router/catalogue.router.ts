import { router } from '../../trpc/trpc';
import { listProviders } from './list-providers';

export const catalogueRouter = router({ list: listProviders });
