// What the replicas share: idempotency records, rate limits and (with Redis) the
// delivery queue. The memory store keeps them in this process (one replica's
// view); the Redis store keeps them where every replica sees the same.
import type { RateLimit } from '../api/common.ts';

export interface LimitRequest {
  /** e.g. "identity/ns/name"; what the limit protects, for the error message. */
  key: string;
  what: string;
  limit: RateLimit | undefined;
}

export type TakeResult = { ok: true } | { ok: false; what: string; retryAfterSeconds: number };

export interface RateLimits {
  /** Takes one token from every limited bucket, or none when any is empty. */
  take(requests: LimitRequest[]): Promise<TakeResult>;
}

export interface IdempotencyRecords {
  /**
   * Runs `attempt` once per (scope, key) and request fingerprint; `replayed` tells
   * whether the result is a stored one. Only successes are remembered. Throws
   * IdempotencyConflict for the same key with another fingerprint, IdempotencyBusy
   * when another replica's first attempt is still running after the wait.
   */
  run<T>(scope: string, key: string, fingerprint: string, attempt: () => Promise<T>): Promise<{ result: T; replayed: boolean }>;
}

export class IdempotencyConflict extends Error {
  constructor() {
    super('the Idempotency-Key was used with a different request');
  }
}

export class IdempotencyBusy extends Error {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('a request with this Idempotency-Key is still being processed');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export type AppendOnly = 'yes' | 'no' | 'unknown';

export interface StoreStatus {
  store: 'memory' | 'redis';
  /** The store answers (the memory store always does). */
  up: boolean;
  /** Whether the store keeps an append-only file, as far as it lets us read its configuration. */
  appendonly: AppendOnly;
  /** appendfsync, when readable: always | everysec | no. */
  appendfsync?: string;
  /** One sentence for conditions and logs, e.g. 'Redis at 10.0.0.5:6379 (appendonly yes, appendfsync everysec)'. */
  description: string;
}

export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
