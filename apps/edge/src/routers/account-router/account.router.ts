import { router } from '../../trpc/trpc';
import { listAccountIntegrations } from './list-account-integrations';

/**
 * Seed 003's REST contract (`/v1/account/...`), served from the tRPC procedures themselves by trpc-to-openapi:
 * this one and `integrations.oauthUrl` (`/v1/account/integrations/{vendor}/oauth2/url`).
 */
export const accountRouter = router({
  integrations: listAccountIntegrations,
});
