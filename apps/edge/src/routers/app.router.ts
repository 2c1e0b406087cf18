import { router } from '../trpc/trpc';
import { auditRouter } from './audit-router/audit.router';
import { catalogueRouter } from './catalogue-router/catalogue.router';
import { emailBuilderRouter } from './email-builder-router/email-builder.router';
import { integrationsRouter } from './integrations-router/integrations.router';
import { meRouter } from './me-router/me.router';
import { accountRouter } from './account-router/account.router';
import { syncRouter } from './sync-router/sync.router';
import { disconnectRouter } from './disconnect-router/disconnect.router';
import { operationsRouter } from './operations-router/operations.router';

export const appRouter = router({
  me: meRouter,
  account: accountRouter,
  catalogue: catalogueRouter,
  integrations: integrationsRouter,
  emailBuilder: emailBuilderRouter,
  audit: auditRouter,
  sync: syncRouter,
  disconnect: disconnectRouter,
  operations: operationsRouter,
});

/** The dashboard's only view of the edge: types, never code. */
export type AppRouter = typeof appRouter;
