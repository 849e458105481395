// Idempotency records in Redis, shared by every replica. The first request claims
// the key (SET NX with a short lease that its replica renews while it sends); a
// duplicate on any replica waits for the outcome and replays it. A replica that
// dies mid-send stops renewing, so its claim lapses within the lease and a retry
// sends: the one case where a duplicate can happen. While Redis is unreachable the
// records fall back to this replica's memory (Direct sends go on).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sha256 } from './hash.ts';
import { MemoryIdempotency } from './memory-idempotency.ts';
import { DEFAULT_IDEMPOTENCY_TTL_MS, IdempotencyBusy, IdempotencyConflict, type IdempotencyRecords } from './types.ts';

interface Record {
  /** The request's fingerprint. */
  f: string;
  /** The claim's owner while pending; absent once done. */
  o?: string;
  /** The result, once done. */
  r?: unknown;
}

export interface RedisIdempotencyOptions {
  ttlMs?: number;
  /** How long a claim lives without renewal. Default 30 s. */
  leaseMs?: number;
  /** How long a duplicate waits for a running first attempt before 409. Default 20 s. */
  waitMs?: number;
  onUnavailable?: (err: unknown) => void;
}

// Deletes or renews the claim only while it is still ours.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

export class RedisIdempotency implements IdempotencyRecords {
  readonly #redis: Redis;
  readonly #fallback = new MemoryIdempotency();
  readonly #ttlMs: number;
  readonly #leaseMs: number;
  readonly #waitMs: number;
  readonly #onUnavailable: (err: unknown) => void;

  constructor(redis: Redis, opts: RedisIdempotencyOptions = {}) {
    this.#redis = redis;
    this.#ttlMs = opts.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    this.#leaseMs = opts.leaseMs ?? 30_000;
    this.#waitMs = opts.waitMs ?? 20_000;
    this.#onUnavailable = opts.onUnavailable ?? (() => {});
  }

  async run<T>(scope: string, key: string, fingerprint: string, attempt: () => Promise<T>): Promise<{ result: T; replayed: boolean }> {
    const k = `postmaster:idempotency:${sha256(`${scope}\u0000${key}`)}`;
    let claim: { owner: string } | { replay: T };
    try {
      claim = await this.#claim<T>(k, fingerprint);
    } catch (err) {
      if (err instanceof IdempotencyConflict || err instanceof IdempotencyBusy) throw err;
      this.#onUnavailable(err);
      return this.#fallback.run(scope, key, fingerprint, attempt);
    }
    if ('replay' in claim) return { result: claim.replay, replayed: true };

    const pending = JSON.stringify({ f: fingerprint, o: claim.owner } satisfies Record);
    const renew = setInterval(() => {
      this.#redis.eval(RENEW, 1, k, pending, String(this.#leaseMs)).catch(() => {});
    }, this.#leaseMs / 3);
    renew.unref();
    try {
      const result = await attempt();
      clearInterval(renew);
      await this.#redis
        .set(k, JSON.stringify({ f: fingerprint, r: result } satisfies Record), 'PX', this.#ttlMs)
        // Sent, but not remembered: a retry would send again. Said, not hidden.
        .catch((err: unknown) => this.#onUnavailable(err));
      return { result, replayed: false };
    } catch (err) {
      clearInterval(renew);
      await this.#redis.eval(RELEASE, 1, k, pending).catch(() => {});
      throw err;
    }
  }

  async #claim<T>(k: string, fingerprint: string): Promise<{ owner: string } | { replay: T }> {
    const deadline = Date.now() + this.#waitMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
      const owner = randomUUID();
      const set = await this.#redis.set(k, JSON.stringify({ f: fingerprint, o: owner } satisfies Record), 'PX', this.#leaseMs, 'NX');
      if (set === 'OK') return { owner };
      const raw = await this.#redis.get(k);
      if (raw === null) continue;
      const record = JSON.parse(raw) as Record;
      if (record.f !== fingerprint) throw new IdempotencyConflict();
      if (record.o === undefined) return { replay: record.r as T };
      if (Date.now() + wait > deadline) throw new IdempotencyBusy(Math.ceil(this.#leaseMs / 1000));
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
