import { randomBytes } from 'node:crypto';

import type { TFakeProviderConfigPatch } from './control.schemas.js';
import { DEFAULT_CONSENT_AS, defaultConfig, defaultUsers } from './fake-provider.defaults.js';
import type {
  TAuthorizationRecord,
  TDataCallCounts,
  TDataCallRecord,
  TFakeProviderConfig,
  TFakeProviderSnapshot,
  TFakeUser,
  TRevocationRecord,
  TRevokeReason,
  TTokenCallRecord,
  TTokenFilter,
  TTokenStatus,
  TTokenStatusValue,
  TTokenType,
  TTokenView,
} from './fake-provider.types.js';

export interface TAuthCode {
  code: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  codeChallenge: string | undefined;
  userId: string;
  tenantId: string;
  instance: string | undefined;
  expiresAt: number;
  used: boolean;
  familyId: string;
}

export interface TTokenRecord {
  token: string;
  type: TTokenType;
  clientId: string;
  userId: string;
  tenantId: string;
  instance: string | undefined;
  scope: string;
  issuedAt: number;
  expiresAt: number;
  familyId: string;
  refreshToken: string | undefined;
  revokedAt: number | undefined;
  revokeReason: TRevokeReason | undefined;
  tokenTypeHint: string | undefined;
  expiredByControl: boolean;
}

export interface TIssueTokensInput {
  clientId: string;
  user: TFakeUser;
  instance: string | undefined;
  scope: string;
  familyId: string;
  /** rotate:false keeps handing out this refresh token instead of minting a new one. */
  keepRefresh?: TTokenRecord;
}

export function randomToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function emptyCounts(): TDataCallCounts {
  return { contacts: 0, invoices: 0, tickets: 0, health: 0 };
}

/** The whole in-memory world of the fake provider; mutable on purpose so in-process tests can poke it. */
export class FakeProviderState {
  config: TFakeProviderConfig = defaultConfig();
  users: TFakeUser[] = defaultUsers();
  consentAsUserId: string = DEFAULT_CONSENT_AS;
  readonly codes = new Map<string, TAuthCode>();
  readonly tokens = new Map<string, TTokenRecord>();
  authorizations: TAuthorizationRecord[] = [];
  tokenCalls: TTokenCallRecord[] = [];
  revocations: TRevocationRecord[] = [];
  dataCalls: TDataCallRecord[] = [];
  dataCallCounts: TDataCallCounts = emptyCounts();

  reset(): void {
    this.config = defaultConfig();
    this.users = defaultUsers();
    this.consentAsUserId = DEFAULT_CONSENT_AS;
    this.codes.clear();
    this.tokens.clear();
    this.authorizations = [];
    this.tokenCalls = [];
    this.revocations = [];
    this.dataCalls = [];
    this.dataCallCounts = emptyCounts();
  }

  applyConfig(patch: TFakeProviderConfigPatch): TFakeProviderConfig {
    const { dataCounts, clients, ...scalars } = patch;
    const next: TFakeProviderConfig = {
      ...this.config,
      dataCounts: { ...this.config.dataCounts },
      clients: clients ? clients.map((c) => ({ ...c })) : this.config.clients,
    };
    // Schema-validated already; undefined means "leave as is" for a partial update.
    for (const [key, value] of Object.entries(scalars)) {
      if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
    }
    for (const [key, value] of Object.entries(dataCounts ?? {})) {
      if (value !== undefined) (next.dataCounts as Record<string, number>)[key] = value;
    }
    this.config = next;
    return this.config;
  }

  upsertUsers(users: TFakeUser[], replace: boolean): void {
    if (replace) {
      this.users = users.map((u) => ({ ...u }));
    } else {
      for (const user of users) {
        const idx = this.users.findIndex((u) => u.id === user.id);
        if (idx >= 0) this.users[idx] = { ...user };
        else this.users.push({ ...user });
      }
    }
    // Keep the "current login" valid when a replace dropped that user.
    if (!this.findUser(this.consentAsUserId)) this.consentAsUserId = this.users[0]?.id ?? '';
  }

  /** Looks a user up by id or (case-insensitive) email, as login_hint allows either. */
  findUser(idOrEmail: string): TFakeUser | undefined {
    const lower = idOrEmail.toLowerCase();
    return this.users.find((u) => u.id === idOrEmail || u.email.toLowerCase() === lower);
  }

  tokenStatusOf(rec: TTokenRecord, now = Date.now()): TTokenStatusValue {
    if (rec.revokedAt !== undefined) return 'revoked';
    if (rec.expiresAt <= now) return 'expired';
    return 'active';
  }

  issueTokens(input: TIssueTokensInput): { access: TTokenRecord; refresh: TTokenRecord } {
    const now = Date.now();
    const base = {
      clientId: input.clientId,
      userId: input.user.id,
      tenantId: input.user.tenantId,
      instance: input.instance,
      scope: input.scope,
      issuedAt: now,
      familyId: input.familyId,
      revokedAt: undefined,
      revokeReason: undefined,
      tokenTypeHint: undefined,
      expiredByControl: false,
    };
    const refresh: TTokenRecord = input.keepRefresh ?? {
      ...base,
      token: randomToken('fpr'),
      type: 'refresh',
      expiresAt: now + this.config.refreshTokenTtlSec * 1000,
      refreshToken: undefined,
    };
    const access: TTokenRecord = {
      ...base,
      token: randomToken('fpa'),
      type: 'access',
      expiresAt: now + this.config.accessTokenTtlSec * 1000,
      refreshToken: refresh.token,
    };
    this.tokens.set(refresh.token, refresh);
    this.tokens.set(access.token, access);
    return { access, refresh };
  }

  /**
   * Revokes one token; a refresh token takes the access tokens issued alongside it down too. With revokeScope
   * `grant` every token of the same user, client and instance goes (Google's revoke ends the whole grant).
   */
  revoke(rec: TTokenRecord, reason: TRevokeReason, hint?: string): void {
    const now = Date.now();
    if (rec.revokedAt === undefined) {
      rec.revokedAt = now;
      rec.revokeReason = reason;
      if (hint !== undefined) rec.tokenTypeHint = hint;
    }
    if (this.config.revokeScope === 'grant') {
      for (const other of this.tokens.values()) {
        if (
          other.revokedAt === undefined &&
          other.userId === rec.userId &&
          other.clientId === rec.clientId &&
          other.instance === rec.instance
        ) {
          other.revokedAt = now;
          other.revokeReason = 'grant_revoked';
        }
      }
      return;
    }
    if (rec.type !== 'refresh') return;
    for (const other of this.tokens.values()) {
      if (
        other.type === 'access' &&
        other.refreshToken === rec.token &&
        other.revokedAt === undefined
      ) {
        other.revokedAt = now;
        other.revokeReason = 'parent_revoked';
      }
    }
  }

  /** A rotated-away refresh token is dead, but access tokens already issued stay valid. */
  markRotated(rec: TTokenRecord): void {
    rec.revokedAt ??= Date.now();
    rec.revokeReason ??= 'rotated';
  }

  revokeFamily(familyId: string, reason: TRevokeReason): number {
    let count = 0;
    const now = Date.now();
    for (const rec of this.tokens.values()) {
      if (rec.familyId === familyId && rec.revokedAt === undefined) {
        rec.revokedAt = now;
        rec.revokeReason = reason;
        count += 1;
      }
    }
    return count;
  }

  matchingTokens(filter: TTokenFilter & { type?: TTokenType }): TTokenRecord[] {
    return [...this.tokens.values()].filter(
      (t) =>
        (filter.type === undefined || t.type === filter.type) &&
        (filter.userId === undefined || t.userId === filter.userId) &&
        (filter.tenantId === undefined || t.tenantId === filter.tenantId) &&
        (filter.instance === undefined || t.instance === filter.instance) &&
        (filter.clientId === undefined || t.clientId === filter.clientId) &&
        (filter.token === undefined || t.token === filter.token),
    );
  }

  /** Backdates matching tokens' expiry; returns how many were changed. */
  expireTokens(type: TTokenType, filter: TTokenFilter): number {
    const now = Date.now();
    const matches = this.matchingTokens({ ...filter, type });
    for (const rec of matches) {
      rec.expiresAt = Math.min(rec.expiresAt, now - 1);
      rec.expiredByControl = true;
    }
    return matches.length;
  }

  viewToken(rec: TTokenRecord, now = Date.now()): TTokenView {
    return {
      token: rec.token,
      type: rec.type,
      status: this.tokenStatusOf(rec, now),
      clientId: rec.clientId,
      userId: rec.userId,
      tenantId: rec.tenantId,
      ...(rec.instance !== undefined ? { instance: rec.instance } : {}),
      scope: rec.scope,
      issuedAt: iso(rec.issuedAt),
      expiresAt: iso(rec.expiresAt),
      familyId: rec.familyId,
      ...(rec.refreshToken !== undefined ? { refreshToken: rec.refreshToken } : {}),
      ...(rec.revokedAt !== undefined ? { revokedAt: iso(rec.revokedAt) } : {}),
      ...(rec.revokeReason !== undefined ? { revokeReason: rec.revokeReason } : {}),
      ...(rec.tokenTypeHint !== undefined ? { tokenTypeHint: rec.tokenTypeHint } : {}),
      ...(rec.expiredByControl ? { expiredByControl: true as const } : {}),
    };
  }

  tokenStatus(token: string): TTokenStatus {
    const rec = this.tokens.get(token);
    if (!rec) return { exists: false };
    const view = this.viewToken(rec);
    return {
      exists: true,
      type: view.type,
      status: view.status,
      expiresAt: view.expiresAt,
      ...(view.revokedAt !== undefined ? { revokedAt: view.revokedAt } : {}),
      ...(view.revokeReason !== undefined ? { revokeReason: view.revokeReason } : {}),
      ...(view.tokenTypeHint !== undefined ? { tokenTypeHint: view.tokenTypeHint } : {}),
    };
  }

  /** A detached deep copy, safe to hand out or serialise. */
  snapshot(): TFakeProviderSnapshot {
    const now = Date.now();
    return structuredClone({
      config: this.config,
      users: this.users,
      consentAsUserId: this.consentAsUserId,
      authorizations: this.authorizations,
      tokenCalls: this.tokenCalls,
      revocations: this.revocations,
      dataCalls: this.dataCalls,
      dataCallCounts: this.dataCallCounts,
      tokens: [...this.tokens.values()].map((t) => this.viewToken(t, now)),
    });
  }
}

export { iso as toIso };
