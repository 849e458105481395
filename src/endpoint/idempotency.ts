// Idempotency-Key: a retried request with the same key and the same body gets the
// first result and sends nothing again; a concurrent duplicate waits for the
// first attempt's outcome. Only successes are remembered: after a failure the
// key is free, so a caller may retry once the upstream is back.
// In memory, per replica (24 h, bounded): a retry that reaches another replica
// is not recognised.
import { createHash } from 'node:crypto';
import { idempotencyKeyReused } from './errors.ts';

interface Entry<T> {
  fingerprint: string;
  /** Set while the first attempt runs. */
  pending?: Promise<T>;
  result?: T;
  expiresAt: number;
}

export interface IdempotencyOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export class IdempotencyStore<T> {
  readonly #entries = new Map<string, Entry<T>>();
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
   * whether the result is a stored one. Same key, other fingerprint: 422.
   */
  async run(scope: string, key: string, fingerprint: string, attempt: () => Promise<T>): Promise<{ result: T; replayed: boolean }> {
    const id = sha256(`${scope}\u0000${key}`);
    const now = this.#now();
    const existing = this.#entries.get(id);
    if (existing && (existing.pending || existing.expiresAt > now)) {
      if (existing.fingerprint !== fingerprint) throw idempotencyKeyReused();
      if (existing.pending) return { result: await existing.pending, replayed: true };
      return { result: existing.result as T, replayed: true };
    }
    if (existing) this.#entries.delete(id);

    const entry: Entry<T> = { fingerprint, expiresAt: Number.POSITIVE_INFINITY };
    entry.pending = attempt();
    this.#entries.set(id, entry);
    try {
      const result = await entry.pending;
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

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A stable hash of a value: object keys sorted, Buffers as base64. */
export function fingerprint(value: unknown): string {
  return sha256(JSON.stringify(canonical(value)));
}

function canonical(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}
