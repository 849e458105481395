// The state store the doors and the queue use: memory (one replica's own state,
// the embedded default) or Redis/Valkey (shared by every replica, and the only
// one that can hold a delivery queue).
import { MemoryIdempotency } from './memory-idempotency.ts';
import { MemoryRateLimits } from './memory-ratelimit.ts';
import { DeliveryQueue } from './queue.ts';
import { RedisConnection, type RedisConnectionOptions } from './redis-connection.ts';
import { RedisIdempotency } from './redis-idempotency.ts';
import { RedisRateLimits } from './redis-ratelimit.ts';
import { DEFAULT_IDEMPOTENCY_TTL_MS, type IdempotencyRecords, type RateLimits, type StoreStatus } from './types.ts';

export interface StateStore {
  readonly idempotency: IdempotencyRecords;
  readonly rateLimits: RateLimits;
  /** The delivery queue; undefined without a durable store. */
  queue<D extends object>(): DeliveryQueue<D> | undefined;
  status(): StoreStatus;
  /** Called on every change of reachability. */
  onChange(listener: (status: StoreStatus) => void): () => void;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** How long idempotency records and finished queue records are kept. Default 24 h. */
  ttlMs?: number;
  now?: () => number;
}

export function memoryStore(opts: StoreOptions = {}): StateStore {
  const now = opts.now ? { now: opts.now } : {};
  const status: StoreStatus = { store: 'memory', up: true, appendonly: 'no', description: 'in memory (this replica only)' };
  return {
    idempotency: new MemoryIdempotency({ ...now, ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}) }),
    rateLimits: new MemoryRateLimits(now),
    queue: () => undefined,
    status: () => status,
    onChange: () => () => {},
    close: async () => {},
  };
}

export function redisStore(connection: RedisConnectionOptions, opts: StoreOptions = {}): StateStore {
  const conn = new RedisConnection(connection);
  const ttlMs = opts.ttlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS;
  // One line per outage is enough (the connection logs it); commands that fail in between fall back quietly.
  const onUnavailable = () => {};
  let queue: DeliveryQueue<object> | undefined;
  return {
    idempotency: new RedisIdempotency(conn.client, { ttlMs, onUnavailable }),
    rateLimits: new RedisRateLimits(conn.client, { onUnavailable }),
    queue<D extends object>() {
      queue ??= new DeliveryQueue<object>(conn, { keepFinishedMs: ttlMs });
      return queue as DeliveryQueue<D>;
    },
    status: () => conn.status(),
    onChange: (l) => conn.onChange(l),
    async close() {
      await queue?.close();
      await conn.close();
    },
  };
}
