import { z } from 'zod';
import { ZAuthKind, ZProviderCategory, ZVendor } from '@otesse/contracts';
import { ZSyncResource } from '@otesse/contracts';

/** How a provider revokes tokens (seed step 3). `none` records why, so the audit can say "not supported". */
export const ZRevocation = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('rfc7009'),
    url: z.string(),
    clientAuth: z.enum(['basic', 'body']).default('basic'),
    /** Whether a token_type_hint is sent. */
    sendHint: z.boolean().default(true),
  }),
  /** ServiceNow: `oauth_revoke_token.do`, one token per call. */
  z.object({ kind: z.literal('servicenow'), url: z.string() }),
  /** Intuit: JSON `{token}` with Basic client auth. */
  z.object({ kind: z.literal('json-basic'), url: z.string() }),
  /** Slack: `auth.revoke` with the token as bearer. */
  z.object({
    kind: z.literal('bearer'),
    url: z.string(),
    method: z.enum(['GET', 'POST', 'DELETE']).default('POST'),
  }),
  z.object({ kind: z.literal('none'), reason: z.string() }),
]);
export type TRevocation = z.infer<typeof ZRevocation>;

/** Where the external account and the tenant are read after a token exchange. */
export const ZIdentity = z.discriminatedUnion('kind', [
  /** GET a profile endpoint with the access token; dotted paths into its JSON. */
  z.object({
    kind: z.literal('userinfo'),
    url: z.string(),
    accountIdPath: z.string(),
    tenantIdPath: z.string().optional(),
    labelPath: z.string().optional(),
  }),
  /** Fields of the token response itself (Slack `team.id`, QuickBooks `realmId` from the callback). */
  z.object({
    kind: z.literal('token-response'),
    accountIdPath: z.string(),
    tenantIdPath: z.string().optional(),
    labelPath: z.string().optional(),
  }),
  /** Atlassian: profile for the account, accessible-resources' first cloud id for the tenant. */
  z.object({
    kind: z.literal('atlassian'),
    profileUrl: z.string(),
    resourcesUrl: z.string(),
    accountIdPath: z.string().default('account_id'),
    labelPath: z.string().optional(),
  }),
]);
export type TIdentity = z.infer<typeof ZIdentity>;

export const ZOAuthSettings = z.object({
  /** Key of grant's bundled provider config this one starts from, when there is one. */
  grantKey: z.string().optional(),
  authorizeUrl: z.string(),
  tokenUrl: z.string(),
  scopes: z.array(z.string()).default([]),
  scopeDelimiter: z.string().default(' '),
  customParams: z.record(z.string(), z.string()).default({}),
  /**
   * Authorize parameters, over `customParams`, that make the provider ask which account to sign in with: sent on a
   * change of user only, where a browser still signed in there as the connected user would otherwise authorize that
   * same account again. Only where the provider documents one; a connect and a reconnect send `customParams` alone.
   */
  changeUserParams: z.record(z.string(), z.string()).default({}),
  pkce: z.boolean().default(true),
  tokenClientAuth: z.enum(['basic', 'body']).default('body'),
  revocation: ZRevocation,
  /**
   * What revoking one token kills at the provider: `token` (it, and a refresh token's own access tokens) or `grant`
   * (every token of that user's grant to our client: Google). A reconnect or change of user does not revoke the
   * retired tokens of a grant still in use — the same account's new tokens, or another live connection's.
   */
  revocationScope: z.enum(['token', 'grant']).default('token'),
  identity: ZIdentity,
  refresh: z
    .object({
      rotates: z.boolean().default(true),
      /** How an expired refresh token shows (FIELD-NOTES): RFC `invalid_grant`, or ServiceNow's 401 access_denied. */
      expiredSignal: z.enum(['invalid_grant', 'servicenow']).default('invalid_grant'),
    })
    .default({ rotates: true, expiredSignal: 'invalid_grant' }),
  /** Where the tenant comes from: the identity response, or the instance host (ServiceNow: the instance is the tenant). */
  tenantSource: z.enum(['identity', 'subdomain']).default('identity'),
  /** The instance needs a subdomain (`[subdomain]` in the URLs), set by an admin before connecting. */
  subdomain: z.object({ label: z.string(), hostTemplate: z.string() }).optional(),
  clientId: z.string().optional(),
  clientSecret: z.string().optional(),
  /** Reconnect / changeUser (seed 003) is offered. */
  supportsReconnect: z.boolean().default(true),
});
export type TOAuthSettings = z.infer<typeof ZOAuthSettings>;

export const ZApiKeyField = z.object({
  key: z.enum(['senderEmails']),
  label: z.string(),
  required: z.boolean().default(false),
});

export const ZApiKeySettings = z.object({
  keyLabel: z.string().default('API key'),
  /** Reminder shown after disconnect: the key cannot be revoked remotely. */
  rotationHint: z.string(),
  fields: z.array(ZApiKeyField).default([]),
  /** Non-empty, printable, bounded. A provider's own format check could go further. */
  keyPattern: z.string().default('^[A-Za-z0-9._~+/=-]{8,256}$'),
});

export const ZDataApi = z.object({
  baseUrl: z.string(),
  healthPath: z.string().default('/api/health'),
  resources: z.array(ZSyncResource),
  pageSize: z.number().int().min(1).max(1000).default(200),
});

/**
 * How a provider signs its webhook deliveries with HMAC-SHA256 and the instance's signing secret: over
 * `signedContent` with `{body}` (the raw body), `{timestamp}` (the `timestampHeader`'s value) and `{url}` (the URL
 * it called: the endpoint's public URL) filled in, sent in `header` as `prefix` + the digest in `encoding`. Files
 * written before `kind` existed mean this scheme.
 */
export const ZHmacWebhookSignature = z.object({
  kind: z.literal('hmac-sha256').default('hmac-sha256'),
  header: z.string().min(1),
  encoding: z.enum(['hex', 'base64']),
  prefix: z.string().default(''),
  /** Providers that sign a timestamp with the body (Slack, Zendesk): deliveries older than the tolerance are refused. */
  timestampHeader: z.string().min(1).optional(),
  signedContent: z.string().default('{body}'),
});
export type THmacWebhookSignature = z.infer<typeof ZHmacWebhookSignature>;

/**
 * Providers that sign nothing but send HTTP basic credentials the admin put in the endpoint's URL (Postmark:
 * `https://user:password@host/...`): the password is the instance's secret, `username` the fixed user name.
 */
export const ZBasicWebhookSignature = z.object({
  kind: z.literal('basic'),
  header: z.literal('authorization').default('authorization'),
  username: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default('otesse'),
});

/** How a provider's deliveries prove they come from it (see the two schemes). */
export const ZWebhookSignature = z.union([ZBasicWebhookSignature, ZHmacWebhookSignature]);
export type TWebhookSignature = z.infer<typeof ZWebhookSignature>;

export const ZWebhooks = z.object({
  signature: ZWebhookSignature,
  /** Header naming the delivery, so a provider's retry of it is recorded once. */
  deliveryIdHeader: z.string().min(1).optional(),
  /** Where the admin finds the secret at the provider (shown beside the field). */
  secretHint: z.string().default(''),
});
export type TWebhooks = z.infer<typeof ZWebhooks>;

export const ZProviderDef = z
  .object({
    key: ZVendor,
    displayName: z.string(),
    category: ZProviderCategory,
    authKind: ZAuthKind,
    description: z.string().default(''),
    oauth: ZOAuthSettings.optional(),
    apiKey: ZApiKeySettings.optional(),
    dataApi: ZDataApi.optional(),
    /** Inbound webhooks this product can check; absent: the provider's deliveries are refused (404). */
    webhooks: ZWebhooks.optional(),
    /** Connection levels offered: the org's app-level connection, users' own, or both. */
    flows: z.array(z.enum(['app', 'user'])).default(['app', 'user']),
  })
  .superRefine((p, ctx) => {
    if (p.authKind === 'oauth2' && !p.oauth)
      ctx.addIssue({ code: 'custom', message: 'oauth2 provider needs `oauth`' });
    if (p.authKind === 'apiKey' && !p.apiKey)
      ctx.addIssue({ code: 'custom', message: 'apiKey provider needs `apiKey`' });
  });
export type TProviderDef = z.infer<typeof ZProviderDef>;
export type TProviderDefInput = z.input<typeof ZProviderDef>;
