// Idempotency-Key: a retried request with the same key and the same body gets the
// first result and sends nothing again; a concurrent duplicate waits for the
// first attempt's outcome. Only successes are remembered: after a failure the
// key is free, so a caller may retry once the upstream is back.
// In memory, per replica (24 h, bounded): a retry that reaches another replica
// is not recognised (the Redis store shares them).
import { DEFAULT_IDEMPOTENCY_TTL_MS, IdempotencyConflict, type IdempotencyRecords } from './types.ts';
import { sha256 } from './hash.ts';

interface Entry {
  fingerprint: string;
  /** Set while the first attempt runs. */
  pending?: Promise<unknown>;
  result?: unknown;
  expiresAt: number;
}

export interface IdempotencyOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class MemoryIdempotency implements IdempotencyRecords {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(opts: IdempotencyOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
    this.#maxEntries = opts.maxEntries ?? 100_000;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Runs `attempt` once per (scope, key) and request fingerprint. `replayed` tells
   * whether the result is a stored one. Same key, other fingerprint: IdempotencyConflict.
   */
  async run<T>(scope: string, key: string, fingerprint: string, attempt: () => Promise<T>): Promise<{ result: T; replayed: boolean }> {
    const id = sha256(`${scope}\u0000${key}`);
    const now = this.#now();
    const existing = this.#entries.get(id);
    if (existing && (existing.pending || existing.expiresAt > now)) {
      if (existing.fingerprint !== fingerprint) throw new IdempotencyConflict();
      if (existing.pending) return { result: (await existing.pending) as T, replayed: true };
      return { result: existing.result as T, replayed: true };
    }
    if (existing) this.#entries.delete(id);

    const entry: Entry = { fingerprint, expiresAt: Number.POSITIVE_INFINITY };
    const pending = attempt();
    entry.pending = pending;
    this.#entries.set(id, entry);
    try {
      const result = await pending;
      entry.result = result;
      entry.expiresAt = this.#now() + this.#ttlMs;
      this.#evict();
      return { result, replayed: false };
    } catch (err) {
      this.#entries.delete(id);
      throw err;
    } finally {
      delete entry.pending;
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Expired entries first, then the oldest finished ones; running attempts stay. */
  #evict(): void {
    const now = this.#now();
    for (const [id, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) return;
      if (!e.pending && e.expiresAt <= now) this.#entries.delete(id);
    }
    for (const [id, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) return;
      if (!e.pending) this.#entries.delete(id);
    }
  }
}
