// The store the operator starts with: memory (one replica) says what it is and
// keeps records for the TTL it was given; a --redis-url that is not redis: or
// rediss: is refused at start, naming the flag; what each refusal says.
import { describe, expect, it } from 'vitest';
import { memoryStore, redisStore } from '../../../src/store/store.ts';
import { IdempotencyBusy, IdempotencyConflict } from '../../../src/store/types.ts';
import { silentLog } from '../../support/endpoint-fakes.ts';

describe('memoryStore', () => {
  it('is one replica in memory, always up, with no queue', async () => {
    const store = memoryStore();
    expect(store.status()).toEqual({ store: 'memory', up: true, appendonly: 'no', description: 'in memory (this replica only)' });
    expect(store.queue()).toBeUndefined();
    const off = store.onChange(() => {});
    expect(typeof off).toBe('function');
    off();
    await store.close();
  });

  it('keeps idempotency records 24 h by default, or the TTL it is given, and limits per its clock', async () => {
    let now = 0;
    const store = memoryStore({ now: () => now });
    await store.idempotency.run('c', 'k', 'f', async () => 'first');
    now = 24 * 60 * 60 * 1000 - 1;
    expect(await store.idempotency.run('c', 'k', 'f', async () => 'again')).toEqual({ result: 'first', replayed: true });
    now += 1;
    expect(await store.idempotency.run('c', 'k', 'f', async () => 'again')).toEqual({ result: 'again', replayed: false });

    const short = memoryStore({ ttlMs: 1_000, now: () => now });
    await short.idempotency.run('c', 'k', 'f', async () => 'first');
    now += 1_000;
    expect(await short.idempotency.run('c', 'k', 'f', async () => 'again')).toEqual({ result: 'again', replayed: false });

    const limit = [{ key: 'i', what: 'identity', limit: { messagesPerMinute: 1 } }];
    expect(await short.rateLimits.take(limit)).toEqual({ ok: true });
    expect(await short.rateLimits.take(limit)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 60 });
    now += 60_000;
    expect(await short.rateLimits.take(limit)).toEqual({ ok: true });
  });

  it('a reused key says so in words', async () => {
    const store = memoryStore();
    await store.idempotency.run('c', 'k', 'f1', async () => 1);
    const err = await store.idempotency.run('c', 'k', 'f2', async () => 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdempotencyConflict);
    expect((err as Error).message).toBe('the Idempotency-Key was used with a different request');
    const busy = new IdempotencyBusy(30);
    expect(busy.message).toBe('a request with this Idempotency-Key is still being processed');
    expect(busy.retryAfterSeconds).toBe(30);
  });
});

describe('redisStore', () => {
  it('refuses a URL that is not redis: or rediss:, naming the flag', () => {
    expect(() => redisStore({ url: 'http://127.0.0.1:6379', log: silentLog })).toThrow('--redis-url: "http:" is not redis: or rediss:');
  });

  it('keeps idempotency records in Redis for the TTL it is given', async () => {
    const { startRedis } = await import('../../support/redis.ts');
    const server = await startRedis();
    const store = redisStore({ url: server.url, password: server.password, log: silentLog }, { ttlMs: 300 });
    try {
      const { eventually } = await import('../../support/wait.ts');
      await eventually(async () => expect(store.status().up).toBe(true), 5000, 20);
      expect(await store.idempotency.run('c', 'k', 'f', async () => 'first')).toEqual({ result: 'first', replayed: false });
      expect(await store.idempotency.run('c', 'k', 'f', async () => 'again')).toEqual({ result: 'first', replayed: true });
      await new Promise((r) => setTimeout(r, 500));
      expect(await store.idempotency.run('c', 'k', 'f', async () => 'again')).toEqual({ result: 'again', replayed: false });
    } finally {
      await store.close();
      await server.destroy();
    }
  });
});
