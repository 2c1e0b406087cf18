import type { TProviderDefInput } from './provider.schema';

/**
 * The real providers. URLs and revocation facts from the providers' documentation (see FIELD-NOTES);
 * client ids/secrets come from the environment or PROVIDERS_FILE, never from here.
 */
export const BUILTIN_PROVIDERS: TProviderDefInput[] = [
  {
    key: 'servicenow',
    displayName: 'ServiceNow',
    category: 'supportAndTicketing',
    authKind: 'oauth2',
    description: 'IT service management: incidents and tickets.',
    oauth: {
      authorizeUrl: 'https://[subdomain].service-now.com/oauth_auth.do',
      tokenUrl: 'https://[subdomain].service-now.com/oauth_token.do',
      scopes: ['useraccount'],
      tokenClientAuth: 'body',
      revocation: {
        kind: 'servicenow',
        url: 'https://[subdomain].service-now.com/oauth_revoke_token.do',
      },
      identity: {
        kind: 'userinfo',
        url: 'https://[subdomain].service-now.com/api/now/table/sys_user?sysparm_query=user_name=javascript:gs.getUserName()&sysparm_limit=1',
        accountIdPath: 'result.0.sys_id',
        labelPath: 'result.0.email',
      },
      refresh: { rotates: false, expiredSignal: 'servicenow' },
      tenantSource: 'subdomain',
      subdomain: { label: 'ServiceNow instance', hostTemplate: '[subdomain].service-now.com' },
    },
    dataApi: { baseUrl: 'https://[subdomain].service-now.com', resources: ['tickets', 'contacts'] },
    // ServiceNow posts what a business rule sends through an outbound REST message, with a basic auth profile.
    webhooks: {
      signature: { kind: 'basic', username: 'otesse' },
      secretHint:
        "make up a long random password, save it here, then in ServiceNow (System Web Services → Outbound → REST Message) post to this URL with a basic auth profile: the user name and this password. Have the business rule's body include the record's sys_id and sys_updated_on: ServiceNow sends no delivery id, so identical bodies within two minutes are taken as one delivery",
    },
  },
  {
    key: 'confluence',
    displayName: 'Confluence',
    category: 'knowledgeBase',
    authKind: 'oauth2',
    description: 'Atlassian Confluence spaces and pages.',
    oauth: {
      grantKey: 'atlassian',
      authorizeUrl: 'https://auth.atlassian.com/authorize',
      tokenUrl: 'https://auth.atlassian.com/oauth/token',
      scopes: ['read:confluence-content.all', 'read:me', 'offline_access'],
      // No changeUserParams: Atlassian's authorize documents only `prompt=consent`, no account chooser.
      customParams: { audience: 'api.atlassian.com', prompt: 'consent' },
      revocation: {
        kind: 'none',
        reason: 'Atlassian 3LO has no revocation endpoint; the user revokes in "Connected apps"',
      },
      identity: {
        kind: 'atlassian',
        profileUrl: 'https://api.atlassian.com/me',
        resourcesUrl: 'https://api.atlassian.com/oauth/token/accessible-resources',
        accountIdPath: 'account_id',
        labelPath: 'email',
      },
      refresh: { rotates: true, expiredSignal: 'invalid_grant' },
    },
    dataApi: { baseUrl: 'https://api.atlassian.com', resources: ['contacts'] },
  },
  {
    key: 'google',
    displayName: 'Google Workspace',
    category: 'productivity',
    authKind: 'oauth2',
    description: "Google Workspace directory: your organization's people as contacts.",
    oauth: {
      grantKey: 'google',
      authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      scopes: ['openid', 'email', 'https://www.googleapis.com/auth/contacts.readonly'],
      customParams: { access_type: 'offline', prompt: 'consent' },
      // Google's `prompt` takes a space-separated list: `select_account` shows the account chooser, `consent` still
      // makes Google issue a refresh token.
      changeUserParams: { prompt: 'select_account consent' },
      revocation: {
        kind: 'rfc7009',
        url: 'https://oauth2.googleapis.com/revoke',
        clientAuth: 'body',
        sendHint: false,
      },
      // Google's revoke ends the whole grant (the user's, to our client), whichever token it is given.
      revocationScope: 'grant',
      identity: {
        kind: 'userinfo',
        url: 'https://openidconnect.googleapis.com/v1/userinfo',
        accountIdPath: 'sub',
        tenantIdPath: 'hd',
        labelPath: 'email',
      },
    },
    dataApi: { baseUrl: 'https://people.googleapis.com', resources: ['contacts'] },
  },
  {
    key: 'slack',
    displayName: 'Slack',
    category: 'communication',
    authKind: 'oauth2',
    description: 'Slack workspace: its members as contacts.',
    oauth: {
      grantKey: 'slack',
      // grant bundles Slack's legacy v1 URLs: v2 here.
      authorizeUrl: 'https://slack.com/oauth/v2/authorize',
      tokenUrl: 'https://slack.com/api/oauth.v2.access',
      scopes: ['users:read', 'users:read.email'],
      scopeDelimiter: ',',
      revocation: { kind: 'bearer', url: 'https://slack.com/api/auth.revoke', method: 'POST' },
      identity: {
        kind: 'token-response',
        accountIdPath: 'authed_user.id',
        tenantIdPath: 'team.id',
        labelPath: 'team.name',
      },
    },
    dataApi: { baseUrl: 'https://slack.com/api', resources: ['contacts'] },
    // v0=hex(HMAC-SHA256("v0:" + timestamp + ":" + body)) with the app's signing secret; timestamp in Unix seconds.
    webhooks: {
      signature: {
        header: 'x-slack-signature',
        encoding: 'hex',
        prefix: 'v0=',
        timestampHeader: 'x-slack-request-timestamp',
        signedContent: 'v0:{timestamp}:{body}',
      },
      secretHint: 'api.slack.com/apps → your app → Basic Information → Signing Secret',
    },
  },
  {
    key: 'salesforce',
    displayName: 'Salesforce',
    category: 'crm',
    authKind: 'oauth2',
    description: 'Salesforce CRM: your accounts’ contacts.',
    oauth: {
      grantKey: 'salesforce',
      authorizeUrl: 'https://login.salesforce.com/services/oauth2/authorize',
      tokenUrl: 'https://login.salesforce.com/services/oauth2/token',
      scopes: ['api', 'refresh_token', 'openid'],
      // Salesforce's `prompt=login` makes the user sign in again (its `select_account` skips the login page when one
      // user is signed in); `login consent` is the combination its docs give.
      changeUserParams: { prompt: 'login consent' },
      revocation: {
        kind: 'rfc7009',
        url: 'https://login.salesforce.com/services/oauth2/revoke',
        clientAuth: 'body',
      },
      identity: {
        kind: 'userinfo',
        url: 'https://login.salesforce.com/services/oauth2/userinfo',
        accountIdPath: 'user_id',
        tenantIdPath: 'organization_id',
        labelPath: 'email',
      },
    },
    dataApi: { baseUrl: 'https://login.salesforce.com', resources: ['contacts'] },
  },
  {
    key: 'hubspot',
    displayName: 'HubSpot',
    category: 'crm',
    authKind: 'oauth2',
    description: 'HubSpot CRM: contacts from your portal.',
    oauth: {
      authorizeUrl: 'https://app.hubspot.com/oauth/authorize',
      tokenUrl: 'https://api.hubapi.com/oauth/v1/token',
      scopes: ['crm.objects.contacts.read', 'oauth'],
      revocation: {
        kind: 'rfc7009',
        url: 'https://api.hubapi.com/oauth/v3/token/revoke',
        clientAuth: 'body',
      },
      identity: { kind: 'token-response', accountIdPath: 'user_id', tenantIdPath: 'hub_id' },
    },
    dataApi: { baseUrl: 'https://api.hubapi.com', resources: ['contacts'] },
    // Signature v3: the method, the URL it called, the body and its timestamp (Unix ms), base64.
    webhooks: {
      signature: {
        header: 'x-hubspot-signature-v3',
        encoding: 'base64',
        timestampHeader: 'x-hubspot-request-timestamp',
        signedContent: 'POST{url}{body}{timestamp}',
      },
      secretHint: 'HubSpot developer account → your app → Auth → Client secret',
    },
  },
  {
    key: 'quickbooks',
    displayName: 'QuickBooks',
    category: 'accounting',
    authKind: 'oauth2',
    description: 'QuickBooks Online accounting: invoices and customers.',
    oauth: {
      grantKey: 'intuit',
      authorizeUrl: 'https://appcenter.intuit.com/connect/oauth2',
      tokenUrl: 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer',
      scopes: ['com.intuit.quickbooks.accounting', 'openid', 'email'],
      tokenClientAuth: 'basic',
      revocation: {
        kind: 'json-basic',
        url: 'https://developer.api.intuit.com/v2/oauth2/tokens/revoke',
      },
      // realmId arrives in the callback query; grant passes it through in the raw response.
      identity: { kind: 'token-response', accountIdPath: 'realmId', tenantIdPath: 'realmId' },
    },
    dataApi: { baseUrl: 'https://quickbooks.api.intuit.com', resources: ['invoices', 'contacts'] },
    // Intuit signs the body with the app's webhook verifier token (intuit-signature, base64 HMAC-SHA256).
    webhooks: {
      signature: { header: 'intuit-signature', encoding: 'base64' },
      secretHint: 'Intuit developer portal → your app → Webhooks → Verifier token',
    },
  },
  {
    key: 'xero',
    displayName: 'Xero',
    category: 'accounting',
    authKind: 'oauth2',
    description: 'Xero accounting: invoices and contacts.',
    oauth: {
      // grant lists Xero as OAuth1: these are the OAuth2 endpoints.
      authorizeUrl: 'https://login.xero.com/identity/connect/authorize',
      tokenUrl: 'https://identity.xero.com/connect/token',
      scopes: ['openid', 'email', 'offline_access', 'accounting.transactions.read'],
      tokenClientAuth: 'basic',
      revocation: {
        kind: 'rfc7009',
        url: 'https://identity.xero.com/connect/revocation',
        clientAuth: 'basic',
        sendHint: false,
      },
      identity: {
        kind: 'userinfo',
        url: 'https://api.xero.com/connections',
        accountIdPath: '0.authEventId',
        tenantIdPath: '0.tenantId',
      },
      // The connections endpoint names the authorization (authEventId, new each time), not the user: a reconnect
      // could never prove it is the same account. Disconnect and connect again instead.
      supportsReconnect: false,
    },
    dataApi: { baseUrl: 'https://api.xero.com', resources: ['invoices', 'contacts'] },
    webhooks: {
      signature: { header: 'x-xero-signature', encoding: 'base64' },
      secretHint: 'Xero developer portal → your app → Webhooks → Webhooks key',
    },
  },
  {
    key: 'zendesk',
    displayName: 'Zendesk',
    category: 'supportAndTicketing',
    authKind: 'oauth2',
    description: 'Zendesk customer support: tickets and requesters.',
    oauth: {
      grantKey: 'zendesk',
      authorizeUrl: 'https://[subdomain].zendesk.com/oauth/authorizations/new',
      tokenUrl: 'https://[subdomain].zendesk.com/oauth/tokens',
      scopes: ['read'],
      revocation: {
        kind: 'bearer',
        url: 'https://[subdomain].zendesk.com/api/v2/oauth/tokens/current.json',
        method: 'DELETE',
      },
      identity: {
        kind: 'userinfo',
        url: 'https://[subdomain].zendesk.com/api/v2/users/me.json',
        accountIdPath: 'user.id',
        labelPath: 'user.email',
      },
      // A Zendesk account is its subdomain: the instance's host is the tenant (its profile names none).
      tenantSource: 'subdomain',
      subdomain: { label: 'Zendesk subdomain', hostTemplate: '[subdomain].zendesk.com' },
    },
    dataApi: { baseUrl: 'https://[subdomain].zendesk.com', resources: ['tickets', 'contacts'] },
    // base64(HMAC-SHA256(timestamp + body)); the invocation id names the delivery across Zendesk's retries.
    webhooks: {
      signature: {
        header: 'x-zendesk-webhook-signature',
        encoding: 'base64',
        timestampHeader: 'x-zendesk-webhook-signature-timestamp',
        signedContent: '{timestamp}{body}',
      },
      deliveryIdHeader: 'x-zendesk-webhook-invocation-id',
      secretHint:
        'Zendesk Admin Center → Apps and integrations → Webhooks → the webhook → Signing secret',
    },
  },
  {
    key: 'postmark',
    displayName: 'Postmark',
    category: 'email',
    authKind: 'apiKey',
    description:
      'Transactional email; its sender signatures feed the Email Builder "From" options.',
    apiKey: {
      keyLabel: 'Server API token',
      rotationHint:
        'Postmark API tokens cannot be revoked remotely: rotate the server token in Postmark.',
      fields: [{ key: 'senderEmails', label: 'Sender emails', required: true }],
      keyPattern: '^[A-Za-z0-9-]{8,128}$',
    },
    // Postmark signs nothing: its webhook URL carries basic credentials (user name and a password the admin makes up).
    webhooks: {
      signature: { kind: 'basic', username: 'otesse' },
      secretHint:
        'make up a long random password, save it here, then give Postmark (Servers → your server → Webhooks) the URL with the user name and this password as basic auth credentials',
    },
    flows: ['app'],
  },
];
