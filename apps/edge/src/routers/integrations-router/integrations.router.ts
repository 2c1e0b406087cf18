import { router } from '../../trpc/trpc';
import { cancelConnect } from './cancel-connect';
import { configureInstance } from './configure-instance';
import { connectApiKey } from './connect-api-key';
import { expirePreviousWebhookSecret } from './expire-previous-webhook-secret';
import { getOAuthUrl } from './get-oauth-url';
import { getSiteChoice } from './get-site-choice';
import { getWebhookEndpoint } from './get-webhook-endpoint';
import { removeWebhookSecret } from './remove-webhook-secret';
import { setWebhookSecret } from './set-webhook-secret';
import { listIntegrations } from './list-integrations';
import { listMemberConnections } from './list-member-connections';
import { listMyConnections } from './list-my-connections';
import { unlinkTenant } from './unlink-tenant';
import { unlinkTenantPreview } from './unlink-tenant-preview';

export const integrationsRouter = router({
  list: listIntegrations,
  myConnections: listMyConnections,
  memberConnections: listMemberConnections,
  configureInstance,
  oauthUrl: getOAuthUrl,
  siteChoice: getSiteChoice,
  connectApiKey,
  cancelConnect,
  webhookEndpoint: getWebhookEndpoint,
  setWebhookSecret,
  expirePreviousWebhookSecret,
  removeWebhookSecret,
  unlinkTenantPreview,
  unlinkTenant,
});
