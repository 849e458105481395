// The token buckets in Redis (one Lua script, the server's clock) against a real
// redis-server: the burst and its default, Retry-After from the bucket that waits
// longest (named even among unlimited requests), refill on the server's clock and
// never past the burst, a lowered spec, the bucket's expiry, and the fallback.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimits } from '../../../src/store/redis-ratelimit.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';

let redis: RedisServer;
let client: Redis;
let limits: RedisRateLimits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const limit = (key: string, what: string, messagesPerMinute: number, burst?: number) => ({
  key,
  what,
  limit: { messagesPerMinute, ...(burst ? { burst } : {}) },
});

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis({ port: redis.port, password: redis.password });
  limits = new RedisRateLimits(client, { onUnavailable: () => {} });
});

afterAll(async () => {
  client?.disconnect();
  await redis?.destroy();
});

describe('RedisRateLimits', () => {
  it('allows the burst (default: messagesPerMinute), then says how long until one token is back', async () => {
    const req = [limit('default-burst', 'identity', 6)];
    for (let i = 0; i < 6; i++) expect(await limits.take(req)).toEqual({ ok: true });
    expect(await limits.take(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 10 });

    const explicit = [limit('explicit-burst', 'identity', 6, 2)];
    expect(await limits.take(explicit)).toEqual({ ok: true });
    expect(await limits.take(explicit)).toEqual({ ok: true });
    expect(await limits.take(explicit)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 10 });
  });

  it('refills on the server clock: the wait shrinks as time passes', async () => {
    const req = [limit('refill', 'identity', 2, 1)];
    expect(await limits.take(req)).toEqual({ ok: true });
    expect(await limits.take(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 30 });
    await sleep(1100);
    expect(await limits.take(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 29 });
  });

  it('never refills past the burst, and a wait under a second is one second', async () => {
    const req = [limit('capped', 'identity', 600, 2)];
    expect(await limits.take(req)).toEqual({ ok: true });
    expect(await limits.take(req)).toEqual({ ok: true });
    // 10 tokens a second, for half a second: five would come back, the burst keeps two.
    await sleep(500);
    const three = [await limits.take(req), await limits.take(req), await limits.take(req)];
    expect(three.slice(0, 2)).toEqual([{ ok: true }, { ok: true }]);
    expect(three[2]).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 1 });
  });

  it('names the bucket that waits longest, whatever its place among the requests', async () => {
    const server = limit('srv', 'EmailServer "ns/s"', 1);
    const fast = limit('fast', 'SenderIdentity "ns/fast"', 120, 1);
    const none = { key: 'unlimited', what: 'SenderIdentity "ns/free"', limit: undefined };
    expect(await limits.take([none, fast, server])).toEqual({ ok: true });
    expect(await limits.take([none, fast, server])).toEqual({ ok: false, what: 'EmailServer "ns/s"', retryAfterSeconds: 60 });
    expect(await limits.take([server, none, fast])).toEqual({ ok: false, what: 'EmailServer "ns/s"', retryAfterSeconds: 60 });
    // Only the second one empty: it is the one named.
    const fresh = limit('fresh', 'SenderIdentity "ns/fresh"', 60);
    expect(await limits.take([none, fresh, fast])).toEqual({ ok: false, what: 'SenderIdentity "ns/fast"', retryAfterSeconds: 1 });
    // The refusal spent nothing from "fresh": its full burst of 60 is still there.
    const all = await Promise.all(Array.from({ length: 61 }, () => limits.take([fresh])));
    expect(all.filter((r) => r.ok)).toHaveLength(60);
  });

  it('with no limited request, admits without asking the store', async () => {
    const gone = new Redis({ port: redis.port, password: redis.password, lazyConnect: true, enableOfflineQueue: false });
    const failures: unknown[] = [];
    const offline = new RedisRateLimits(gone, { onUnavailable: (e) => failures.push(e) });
    expect(await offline.take([])).toEqual({ ok: true });
    expect(await offline.take([{ key: 'k', what: 'x', limit: undefined }])).toEqual({ ok: true });
    expect(failures).toEqual([]);
    // A limited one needs the store: unreachable, this replica's memory answers.
    const req = [limit('offline', 'identity', 1)];
    expect(await offline.take(req)).toEqual({ ok: true });
    expect(await offline.take(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 60 });
    expect(failures).toHaveLength(2);
    gone.disconnect();
  });

  it('follows a lowered spec: what is left is cut to the new burst', async () => {
    expect(await limits.take([limit('lowered', 'identity', 100)])).toEqual({ ok: true });
    expect(await limits.take([limit('lowered', 'identity', 1)])).toEqual({ ok: true });
    expect(await limits.take([limit('lowered', 'identity', 1)])).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 60 });
  });

  it('lets a bucket expire once it would be full again', async () => {
    await limits.take([limit('expires', 'identity', 60, 2)]);
    // Two tokens at one a second: full in 2 s, kept one second more.
    const pttl = Number((await redis.command('PTTL', 'postmaster:ratelimit:expires')).slice(1));
    expect(pttl).toBeGreaterThan(2000);
    expect(pttl).toBeLessThanOrEqual(3000);
    const tokens = await redis.command('HGET', 'postmaster:ratelimit:expires', 'tokens');
    expect(tokens).toBe('$1\r\n1\r\n');
  });

  it('without options it still falls back quietly while Redis is unreachable', async () => {
    const gone = new Redis({ port: redis.port, password: redis.password, lazyConnect: true, enableOfflineQueue: false });
    const offline = new RedisRateLimits(gone);
    expect(await offline.take([limit('default-fallback', 'identity', 1)])).toEqual({ ok: true });
    gone.disconnect();
  });
});
