// The claim on an Idempotency-Key in Redis, with short leases: a replica renews its
// claim while the first attempt runs (a duplicate waits and replays, never sends
// twice); a replica that dies stops renewing and the claim lapses, so a retry
// sends; a duplicate that waits too long hears "busy" with a Retry-After from the
// lease; a success is remembered for the TTL and no longer.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisIdempotency } from '../../../src/store/redis-idempotency.ts';
import { IdempotencyBusy } from '../../../src/store/types.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';

let redis: RedisServer;
const clients: Redis[] = [];

function client(): Redis {
  const c = new Redis({ port: redis.port, password: redis.password, maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.destroy();
});

describe('the claim', () => {
  it('is renewed while the first attempt runs: a duplicate on another replica waits past the lease and replays', async () => {
    const a = new RedisIdempotency(client(), { leaseMs: 300 });
    const b = new RedisIdempotency(client(), { leaseMs: 300, waitMs: 3000 });
    let sends = 0;
    const first = a.run('c', 'renewed', 'f', async () => {
      sends++;
      await sleep(1000);
      return 'sent once';
    });
    await sleep(50);
    const dup = await b.run('c', 'renewed', 'f', async () => {
      sends++;
      return 'sent twice';
    });
    expect(dup).toEqual({ result: 'sent once', replayed: true });
    expect(await first).toEqual({ result: 'sent once', replayed: false });
    expect(sends).toBe(1);
  });

  it('lapses when its replica dies mid-send: a retry after the lease sends', async () => {
    const dying = client();
    const a = new RedisIdempotency(dying, { leaseMs: 400 });
    void a.run('c', 'orphaned', 'f', () => new Promise<string>(() => {})).catch(() => {});
    await sleep(50);
    dying.disconnect();
    const b = new RedisIdempotency(client(), { leaseMs: 400, waitMs: 3000 });
    const started = Date.now();
    expect(await b.run('c', 'orphaned', 'f', async () => 'sent by b')).toEqual({ result: 'sent by b', replayed: false });
    // It waited for the lease to lapse, not for the whole wait.
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a duplicate that waits longer than waitMs hears busy, with Retry-After from the lease', async () => {
    const a = new RedisIdempotency(client(), { leaseMs: 2500 });
    const b = new RedisIdempotency(client(), { leaseMs: 2500, waitMs: 400 });
    let release!: () => void;
    const held = a.run('c', 'busy', 'f', () => new Promise<string>((r) => (release = () => r('first'))));
    await sleep(50);
    const started = Date.now();
    const err = await b.run('c', 'busy', 'f', async () => 'second').catch((e: unknown) => e);
    const waited = Date.now() - started;
    expect(err).toBeInstanceOf(IdempotencyBusy);
    expect((err as IdempotencyBusy).retryAfterSeconds).toBe(3);
    expect((err as Error).message).toBe('a request with this Idempotency-Key is still being processed');
    expect(waited).toBeGreaterThanOrEqual(150);
    expect(waited).toBeLessThan(1000);
    release();
    expect(await held).toEqual({ result: 'first', replayed: false });
    // Once the first attempt is done the duplicate replays it.
    expect(await b.run('c', 'busy', 'f', async () => 'second')).toEqual({ result: 'first', replayed: true });
  });

  it('checks the running attempt again and again while it waits: it replays as soon as the first one is done', async () => {
    const a = new RedisIdempotency(client(), { leaseMs: 5000 });
    const b = new RedisIdempotency(client(), { leaseMs: 5000, waitMs: 4000 });
    let release!: () => void;
    const held = a.run('c', 'polled', 'f', () => new Promise<string>((r) => (release = () => r('first'))));
    await sleep(50);
    const dup = b.run('c', 'polled', 'f', async () => 'second');
    await sleep(1200);
    release();
    const released = Date.now();
    expect(await dup).toEqual({ result: 'first', replayed: true });
    // The wait between looks grows to half a second, no more.
    expect(Date.now() - released).toBeLessThan(800);
    await held;
  });
});

describe('what is remembered', () => {
  it('a success for the TTL and no longer; a failure frees the key at once', async () => {
    const r = new RedisIdempotency(client(), { ttlMs: 400 });
    expect(await r.run('c', 'ttl', 'f', async () => 1)).toEqual({ result: 1, replayed: false });
    expect(await r.run('c', 'ttl', 'f', async () => 2)).toEqual({ result: 1, replayed: true });
    await sleep(600);
    expect(await r.run('c', 'ttl', 'f', async () => 3)).toEqual({ result: 3, replayed: false });

    const other = new RedisIdempotency(client(), { leaseMs: 10_000, waitMs: 200 });
    await expect(r.run('c', 'failed', 'f', () => Promise.reject(new Error('upstream said no')))).rejects.toThrow('upstream said no');
    // Not busy: the claim was released, not left to lapse.
    expect(await other.run('c', 'failed', 'f', async () => 'retried')).toEqual({ result: 'retried', replayed: false });
  });

  it('scopes keys: the same key from another caller is another record', async () => {
    const r = new RedisIdempotency(client());
    expect(await r.run('alice', 'same', 'f', async () => 'a')).toEqual({ result: 'a', replayed: false });
    expect(await r.run('bob', 'same', 'f', async () => 'b')).toEqual({ result: 'b', replayed: false });
    expect(await r.run('alice', 'same', 'f', async () => 'x')).toEqual({ result: 'a', replayed: true });
  });

  it('with Redis unreachable: tells onUnavailable and runs on this replica', async () => {
    const gone = client();
    await gone.quit();
    const seen: unknown[] = [];
    const r = new RedisIdempotency(gone, { onUnavailable: (e) => seen.push(e) });
    expect(await r.run('c', 'down', 'f', async () => 'local')).toEqual({ result: 'local', replayed: false });
    expect(await r.run('c', 'down', 'f', async () => 'again')).toEqual({ result: 'local', replayed: true });
    expect(seen).toHaveLength(2);
  });

  it('without options it still falls back quietly while Redis is unreachable', async () => {
    const gone = client();
    await gone.quit();
    const r = new RedisIdempotency(gone);
    expect(await r.run('c', 'down-default', 'f', async () => 'local')).toEqual({ result: 'local', replayed: false });
  });

  it('sent but not remembered when Redis goes during the send: the result stands and the loss is told', async () => {
    const c = new Redis({ port: redis.port, password: redis.password, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    clients.push(c);
    await new Promise((r) => c.once('ready', r));
    const seen: unknown[] = [];
    const r = new RedisIdempotency(c, { onUnavailable: (e) => seen.push(e) });
    const out = await r.run('c', 'lost', 'f', async () => {
      await c.quit();
      return 'sent';
    });
    expect(out).toEqual({ result: 'sent', replayed: false });
    expect(seen).toHaveLength(1);
  });
});
