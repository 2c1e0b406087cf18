import { router } from '../../trpc/trpc';
import { listFromOptions } from './list-from-options';

export const emailBuilderRouter = router({ fromOptions: listFromOptions });
