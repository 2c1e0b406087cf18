// Public shapes of the fake provider: shared by the server, the control client and tests.

export const DATA_RESOURCES = ['contacts', 'invoices', 'tickets'] as const;
export type TDataResource = (typeof DATA_RESOURCES)[number];

export interface TFakeUser {
  id: string;
  email: string;
  name: string;
  tenantId: string;
  /** More Atlassian-style sites the user reaches: accessible-resources lists them before the token's own tenant. */
  sites?: string[] | undefined;
  /** The profile names no tenant for this user (a consumer Google account has no `hd`). */
  tenantHidden?: boolean | undefined;
}

export interface TClientCredentials {
  clientId: string;
  clientSecret: string;
}

/**
 * `drip`: a 200 whose body (real tokens) comes one byte every half second; `oversized`: real tokens in a 2 MB body;
 * `gzip`: real tokens in a small body sent `Content-Encoding: gzip` whatever the request accepts. All issue the
 * tokens, so a client that waited, read it all or decoded it would connect.
 */
export type TTokenMode = 'ok' | '503' | 'hang' | 'invalid_client' | 'drip' | 'oversized' | 'gzip';
/** `expired`: 400 `invalid_token`, as providers answer for a token that already expired; `404`: gone. */
export type TRevokeMode = 'ok' | '400' | '500' | 'hang' | 'down' | 'expired' | '404';
export type TRefreshExpiredStyle = 'rfc' | 'servicenow';
export type TAuthorizeMode = 'consent' | 'deny';

export interface TFakeProviderConfig {
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  /** Authorization code lifetime (default 60 s). */
  codeTtlSec: number;
  /** true: each refresh returns a new refresh token and invalidates the presented one. */
  rotate: boolean;
  refreshExpiredStyle: TRefreshExpiredStyle;
  tokenMode: TTokenMode;
  tokenDelayMs: number;
  revokeMode: TRevokeMode;
  revokeDelayMs: number;
  /**
   * `token`: the revoke endpoint revokes the token given (a refresh token takes its access tokens along);
   * `grant` (Google): any token of a user's grant to a client revokes every token of that user and client.
   */
  revokeScope: 'token' | 'grant';
  authorizeMode: TAuthorizeMode;
  pageDelayMs: number;
  /**
   * `unauthorized`: the data API and its health path answer 401 `invalid_token` to every token, live or not (a
   * token without the scopes it needs, an app the customer no longer allows): refreshing does not help.
   */
  dataApiMode: 'ok' | 'unauthorized';
  /** `500`: the userinfo endpoint fails (who authorized cannot be read after the code exchange). */
  userinfoMode: 'ok' | '500';
  /**
   * Set: every data API page call answers 302 to this URL, before any token check (a customer's instance pointing
   * the product at a metadata or internal address). null (default): pages as usual.
   */
  dataApiRedirectTo: string | null;
  dataCounts: Record<TDataResource, number>;
  /** Empty = any non-empty client_id is accepted with any secret. */
  clients: TClientCredentials[];
}

export type TTokenType = 'access' | 'refresh';
export type TTokenStatusValue = 'active' | 'revoked' | 'expired';
/**
 * Why a token is revoked: the revoke endpoint, its refresh token being revoked, another token of its grant being
 * revoked (revokeScope `grant`), rotation, or code reuse.
 */
export type TRevokeReason =
  'revoke_endpoint' | 'parent_revoked' | 'grant_revoked' | 'rotated' | 'code_reuse';

export interface TAuthorizationRecord {
  at: string;
  instance?: string;
  clientId: string | null;
  redirectUri: string | null;
  responseType: string | null;
  scope: string | null;
  state: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  loginHint: string | null;
  /** Query params beyond the standard ones (audience, prompt, access_type, ...). */
  extraParams: Record<string, string>;
  outcome: 'code' | 'denied' | 'error';
  error?: string;
  userId?: string;
  code?: string;
}

export interface TTokenCallRecord {
  at: string;
  grantType: string | null;
  clientId: string | null;
  instance?: string;
  /** null when the call was left hanging (tokenMode "hang"). */
  status: number | null;
  error?: string;
  /** The refresh token presented (refresh_token grant). */
  refreshToken?: string;
  code?: string;
}

export type TRevokeOutcome =
  | 'revoked'
  | 'already_revoked'
  | 'unknown_token'
  | 'invalid_request'
  | 'invalid_client'
  | 'unauthorized_client'
  | 'fault_400'
  | 'fault_500'
  | 'fault_expired'
  | 'fault_404'
  | 'hang'
  | 'down';

export interface TRevocationRecord {
  at: string;
  token: string | null;
  tokenTypeHint: string | null;
  clientId: string | null;
  instance?: string;
  outcome: TRevokeOutcome;
  /** null when no HTTP answer was given (hang / down). */
  status: number | null;
}

export interface TDataCallRecord {
  at: string;
  resource: string;
  instance?: string;
  status: number;
  cursor: string | null;
  limit: number | null;
  userId?: string;
  itemCount?: number;
}

export type TDataCallCounts = Record<TDataResource | 'health', number>;

export interface TTokenView {
  token: string;
  type: TTokenType;
  status: TTokenStatusValue;
  clientId: string;
  userId: string;
  tenantId: string;
  instance?: string;
  scope: string;
  issuedAt: string;
  expiresAt: string;
  /** Tokens from one authorization code share a family (revoked together on code reuse). */
  familyId: string;
  /** For access tokens: the refresh token returned alongside (revoking it revokes this). */
  refreshToken?: string;
  revokedAt?: string;
  revokeReason?: TRevokeReason;
  /** The token_type_hint sent with the revoke call that revoked this token. */
  tokenTypeHint?: string;
  expiredByControl?: true;
}

export interface TTokenStatus {
  exists: boolean;
  type?: TTokenType;
  status?: TTokenStatusValue;
  expiresAt?: string;
  revokedAt?: string;
  revokeReason?: TRevokeReason;
  tokenTypeHint?: string;
}

export interface TTokenFilter {
  userId?: string;
  tenantId?: string;
  instance?: string;
  clientId?: string;
  token?: string;
}

export interface TFakeProviderSnapshot {
  config: TFakeProviderConfig;
  users: TFakeUser[];
  consentAsUserId: string;
  authorizations: TAuthorizationRecord[];
  tokenCalls: TTokenCallRecord[];
  revocations: TRevocationRecord[];
  dataCalls: TDataCallRecord[];
  dataCallCounts: TDataCallCounts;
  tokens: TTokenView[];
}
