import { AppError } from '@otesse/contracts';

export interface TRateLimit {
  /** Requests allowed at once (the bucket's size). */
  limit: number;
  /** How long an empty bucket takes to fill up again. */
  windowMs: number;
}

export type TRateDecision = { ok: true } | { ok: false; retryAfterSec: number };

interface TBucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per key (client IP, API token id), in memory: `limit` at once, refilled evenly over `windowMs`.
 * Per replica on purpose: a limit that needs no shared store never adds a failure mode; with N replicas the
 * effective limit is at most N times the configured one.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, TBucket>();
  private readonly perMs: number;

  constructor(
    readonly name: string,
    private readonly opts: TRateLimit & {
      /** Keys kept before full buckets (equal to absent ones) are dropped; bounds memory under spoofed keys. */
      maxKeys?: number;
      now?: () => number;
    },
  ) {
    this.perMs = opts.limit / opts.windowMs;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private bucket(key: string): TBucket {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= (this.opts.maxKeys ?? 100_000)) this.prune(now);
      b = { tokens: this.opts.limit, at: now };
      this.buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(this.opts.limit, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    return b;
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.opts.limit) this.buckets.delete(k);
    }
    // Still full of busy keys (a flood of distinct addresses): forget the oldest half rather than grow.
    if (this.buckets.size >= (this.opts.maxKeys ?? 100_000)) {
      let drop = Math.ceil(this.buckets.size / 2);
      for (const k of this.buckets.keys()) {
        if (drop-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }

  /** Takes one request's worth from `key`'s bucket, or says how long until it may try again. */
  take(key: string): TRateDecision {
    const b = this.bucket(key);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return this.refusal(b);
  }

  /**
   * Whether `key` has anything left, without taking it: for limits on failures, which are charged (`take`)
   * only once a request has failed, so concurrent good requests never use each other's allowance.
   */
  check(key: string): TRateDecision {
    // An absent key is a full bucket: looking stores nothing (webhook keys hold a path anyone can make up).
    if (!this.buckets.has(key)) return { ok: true };
    const b = this.bucket(key);
    return b.tokens >= 1 ? { ok: true } : this.refusal(b);
  }

  private refusal(b: TBucket): TRateDecision {
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000)) };
  }
}

/** The typed refusal: TOO_MANY_REQUESTS with when to retry (HTTP 429 + Retry-After at the edge). */
export function rateLimitedError(limiter: RateLimiter, retryAfterSec: number): AppError {
  return new AppError('TOO_MANY_REQUESTS', `too many requests; retry after ${retryAfterSec} s`, {
    reason: 'rate_limited',
    details: { limit: limiter.name, retryAfterSec },
  });
}

/** `retryAfterSec` of a rate-limit AppError, if that is what `e` is. */
export function retryAfterOf(e: unknown): number | undefined {
  if (!(e instanceof AppError) || e.code !== 'TOO_MANY_REQUESTS') return undefined;
  const d = e.details as { retryAfterSec?: unknown } | undefined;
  return typeof d?.retryAfterSec === 'number' ? d.retryAfterSec : undefined;
}
