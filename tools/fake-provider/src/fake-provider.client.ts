import type { TFakeProviderConfigPatch } from './control.schemas.js';
import type {
  TFakeProviderConfig,
  TFakeProviderSnapshot,
  TFakeUser,
  TTokenFilter,
  TTokenStatus,
  TTokenType,
  TTokenView,
} from './fake-provider.types.js';

export class FakeProviderControlError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly path: string,
  ) {
    super(`fake provider control ${path} failed with HTTP ${status}: ${JSON.stringify(body)}`);
    this.name = 'FakeProviderControlError';
  }
}

export interface TFakeProviderClientOptions {
  /** Per-call timeout; default 5000 ms. */
  timeoutMs?: number;
}

export interface TFakeProviderEndpoints {
  base: string;
  authorize: string;
  token: string;
  revoke: string;
  userinfo: string;
  accessibleResources: string;
  api: string;
}

/** Typed client of the `/_control` API, for tests driving a provider in another process. */
export class FakeProviderClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, opts: TFakeProviderClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** OAuth/API URLs at the root or under `/i/:instance`. */
  endpoints(instance?: string): TFakeProviderEndpoints {
    const base =
      instance === undefined ? this.baseUrl : `${this.baseUrl}/i/${encodeURIComponent(instance)}`;
    return {
      base,
      authorize: `${base}/oauth/authorize`,
      token: `${base}/oauth/token`,
      revoke: `${base}/oauth/revoke`,
      userinfo: `${base}/oauth/userinfo`,
      accessibleResources: `${base}/oauth/accessible-resources`,
      api: `${base}/api`,
    };
  }

  async reset(): Promise<void> {
    await this.call('POST', '/reset', {});
  }

  getState(): Promise<TFakeProviderSnapshot> {
    return this.call('GET', '/state');
  }

  getConfig(): Promise<TFakeProviderConfig> {
    return this.call('GET', '/config');
  }

  /** Partial update; returns the full resulting config. */
  configure(patch: TFakeProviderConfigPatch): Promise<TFakeProviderConfig> {
    return this.call('POST', '/config', patch);
  }

  async getUsers(): Promise<TFakeUser[]> {
    return (await this.call<{ users: TFakeUser[] }>('GET', '/users')).users;
  }

  /** Upserts by id, or replaces the whole directory with `{ replace: true }`. */
  setUsers(
    users: TFakeUser[],
    opts: { replace?: boolean } = {},
  ): Promise<{ users: TFakeUser[]; consentAsUserId: string }> {
    return this.call('POST', '/users', { users, ...opts });
  }

  /** Who the next authorizations auto-consent as (until changed or reset). */
  async consentAs(userId: string): Promise<void> {
    await this.call('POST', '/consent-as', { userId });
  }

  /** Returns how many tokens were expired; an empty filter expires all. */
  async expireRefreshTokens(filter: TTokenFilter = {}): Promise<number> {
    return (await this.call<{ expired: number }>('POST', '/expire-refresh-tokens', filter)).expired;
  }

  async expireAccessTokens(filter: TTokenFilter = {}): Promise<number> {
    return (await this.call<{ expired: number }>('POST', '/expire-access-tokens', filter)).expired;
  }

  async listTokens(filter: TTokenFilter & { type?: TTokenType } = {}): Promise<TTokenView[]> {
    const query = new URLSearchParams(filter as Record<string, string>).toString();
    const res = await this.call<{ tokens: TTokenView[] }>(
      'GET',
      `/tokens${query ? `?${query}` : ''}`,
    );
    return res.tokens;
  }

  tokenStatus(token: string): Promise<TTokenStatus> {
    return this.call('GET', `/token-status?${new URLSearchParams({ token }).toString()}`);
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}/_control${path}`, {
      method,
      signal: AbortSignal.timeout(this.timeoutMs),
      ...(body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep raw text for the error message
    }
    if (!res.ok) throw new FakeProviderControlError(res.status, parsed, path);
    return parsed as T;
  }
}
