// Token buckets from spec.rateLimit (messagesPerMinute, burst = messagesPerMinute
// unless set), one per identity and one per server. A message takes a token from
// both or from neither, so a refusal by one limit never spends the other's.
// In memory the limits are per replica: with N replicas behind the Service the
// upstream sees at most N times the configured rate (the Redis store shares them).
import type { RateLimit } from '../api/common.ts';
import type { LimitRequest, RateLimits, TakeResult } from './types.ts';

interface Bucket {
  tokens: number;
  at: number;
  perMinute: number;
  burst: number;
}

export class MemoryRateLimits implements RateLimits {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #maxBuckets: number;

  constructor(opts: { now?: () => number; maxBuckets?: number } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#maxBuckets = opts.maxBuckets ?? 10_000;
  }

  take(requests: LimitRequest[]): Promise<TakeResult> {
    return Promise.resolve(this.takeNow(requests));
  }

  /** take(), synchronously. */
  takeNow(requests: LimitRequest[]): TakeResult {
    const now = this.#now();
    const limited = requests.filter((r): r is LimitRequest & { limit: RateLimit } => !!r.limit);
    const buckets = limited.map((r) => ({ r, b: this.#bucket(r.key, r.limit, now) }));
    let worst: { what: string; wait: number } | undefined;
    for (const { r, b } of buckets) {
      if (b.tokens >= 1) continue;
      // Seconds until this bucket holds one whole token again.
      const wait = ((1 - b.tokens) * 60) / b.perMinute;
      if (!worst || wait > worst.wait) worst = { what: r.what, wait };
    }
    if (worst) return { ok: false, what: worst.what, retryAfterSeconds: Math.max(1, Math.ceil(worst.wait)) };
    for (const { b } of buckets) b.tokens -= 1;
    this.#sweep(now);
    return { ok: true };
  }

  get size(): number {
    return this.#buckets.size;
  }

  #bucket(key: string, limit: RateLimit, now: number): Bucket {
    const perMinute = limit.messagesPerMinute;
    const burst = limit.burst ?? perMinute;
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: burst, at: now, perMinute, burst };
      this.#buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(b.burst, b.tokens + ((now - b.at) / 60_000) * b.perMinute);
    b.at = now;
    if (b.perMinute !== perMinute || b.burst !== burst) {
      // The spec changed: keep what was spent, within the new burst.
      b.perMinute = perMinute;
      b.burst = burst;
      b.tokens = Math.min(b.tokens, burst);
    }
    return b;
  }

  /** A full bucket is the same as no bucket: drop those when there are too many. */
  #sweep(now: number): void {
    if (this.#buckets.size <= this.#maxBuckets) return;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 60_000) * b.perMinute >= b.burst) this.#buckets.delete(key);
    }
  }
}
