import { EntitySchema } from '@mikro-orm/core';

/**
 * grant's session store: the browser cookie carries only a signed session id; state and PKCE verifier stay here
 * (grant's own cookie session is signed but not encrypted). Shared by every edge replica.
 */
export interface OAuthSession {
  sid: string;
  data: Record<string, unknown>;
  expiresAt: Date;
}

export const OAuthSessionSchema = new EntitySchema<OAuthSession>({
  name: 'OAuthSession',
  tableName: 'oauth_session',
  // The purge finds expired sessions by it.
  indexes: [{ name: 'oauth_session_expires_at_idx', properties: ['expiresAt'] }],
  properties: {
    sid: { type: 'string', length: 64, primary: true },
    data: { type: 'json' },
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
