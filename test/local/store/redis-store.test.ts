// The Redis store against a real redis-server: two stores on one server are two
// replicas. Idempotency records and rate limits are shared; with the server away
// both fall back to this replica's memory; the queue delivers, defers and fails.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore, type StateStore } from '../../../src/store/store.ts';
import { IdempotencyBusy, IdempotencyConflict } from '../../../src/store/types.ts';
import type { WorkOutcome } from '../../../src/store/queue.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { eventually } from '../../support/wait.ts';

let redis: RedisServer;
const stores: StateStore[] = [];
const log = pino({ level: 'silent' });

async function replica(): Promise<StateStore> {
  const store = redisStore({ url: redis.url, password: redis.password, log });
  stores.push(store);
  // Up, and done reading the server's settings (appendfsync is read last, just before the
  // listeners hear "up"): a listener attached later hears only what happens after.
  await eventually(async () => expect(store.status()).toMatchObject({ up: true, appendfsync: 'always' }), 5000, 20);
  return store;
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const s of stores) await s.close();
  await redis?.destroy();
});

describe('shared idempotency records', () => {
  it('replays on replica B what replica A sent, and runs concurrent duplicates once', async () => {
    const [a, b] = [await replica(), await replica()];
    let runs = 0;
    const send = async () => ({ n: ++runs });
    expect(await a.idempotency.run('caller', 'key-1', 'f', send)).toEqual({ result: { n: 1 }, replayed: false });
    expect(await b.idempotency.run('caller', 'key-1', 'f', send)).toEqual({ result: { n: 1 }, replayed: true });

    let release!: () => void;
    const slow = () => new Promise<{ n: number }>((r) => (release = () => r({ n: ++runs })));
    const first = a.idempotency.run('caller', 'key-2', 'f', slow);
    await new Promise((r) => setTimeout(r, 50));
    const second = b.idempotency.run('caller', 'key-2', 'f', send);
    await new Promise((r) => setTimeout(r, 100));
    release();
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1).toEqual({ result: { n: 2 }, replayed: false });
    expect(r2).toEqual({ result: { n: 2 }, replayed: true });
    expect(runs).toBe(2);
  });

  it('refuses the key with another request, frees it after a failure, and says busy after the wait', async () => {
    const [a, b] = [await replica(), await replica()];
    await a.idempotency.run('c', 'k', 'f1', async () => 1);
    await expect(b.idempotency.run('c', 'k', 'f2', async () => 2)).rejects.toBeInstanceOf(IdempotencyConflict);

    await expect(a.idempotency.run('c', 'fails', 'f', () => Promise.reject(new Error('upstream down')))).rejects.toThrow('upstream down');
    expect(await b.idempotency.run('c', 'fails', 'f', async () => 'sent')).toEqual({ result: 'sent', replayed: false });

    // A first attempt that outlasts the wait: the duplicate hears "busy", not a second send.
    const { RedisIdempotency } = await import('../../../src/store/redis-idempotency.ts');
    const { Redis } = await import('ioredis');
    const client = new Redis({ port: redis.port, password: redis.password });
    const impatient = new RedisIdempotency(client, { waitMs: 300 });
    let release!: () => void;
    const held = a.idempotency.run('c', 'held', 'f', () => new Promise<number>((r) => (release = () => r(1))));
    await new Promise((r) => setTimeout(r, 50));
    await expect(impatient.run('c', 'held', 'f', async () => 2)).rejects.toBeInstanceOf(IdempotencyBusy);
    release();
    await held;
    client.disconnect();
  });
});

describe('shared rate limits', () => {
  it('admits the configured burst across two replicas, not twice it', async () => {
    const [a, b] = [await replica(), await replica()];
    const limit = [{ key: 'identity/ns/shared', what: 'SenderIdentity "ns/shared"', limit: { messagesPerMinute: 6 } }];
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).rateLimits.take(limit)));
    expect(results.filter((r) => r.ok)).toHaveLength(6);
    const refused = results.find((r) => !r.ok);
    expect(refused).toMatchObject({ ok: false, what: 'SenderIdentity "ns/shared"' });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });

  it('takes from both buckets or from neither', async () => {
    const a = await replica();
    const server = { key: 'server/ns/s', what: 'EmailServer "ns/s"', limit: { messagesPerMinute: 60, burst: 1 } };
    const identity = { key: 'identity/ns/both', what: 'SenderIdentity "ns/both"', limit: { messagesPerMinute: 60, burst: 5 } };
    expect(await a.rateLimits.take([server, identity])).toEqual({ ok: true });
    expect(await a.rateLimits.take([server, identity])).toMatchObject({ ok: false, what: 'EmailServer "ns/s"' });
    // The identity's bucket was not spent by the refusal: 4 of its 5 remain.
    const alone = await Promise.all(Array.from({ length: 5 }, () => a.rateLimits.take([identity])));
    expect(alone.filter((r) => r.ok)).toHaveLength(4);
  });
});

describe('the delivery queue', () => {
  it('delivers, defers with the delay it was given, and fails for good; records stay readable', async () => {
    const a = await replica();
    const queue = a.queue<{ n: number; tries?: number; state?: string }>()!;
    const seen: string[] = [];
    queue.work(async (id, data): Promise<WorkOutcome<{ n: number; tries?: number; state?: string }>> => {
      seen.push(id);
      const tries = (data.tries ?? 0) + 1;
      if (data.n === 2 && tries < 3) return { kind: 'deferred', data: { ...data, tries }, delayMs: 100 };
      if (data.n === 3) return { kind: 'failed', data: { ...data, tries, state: 'bounced' }, reason: 'refused' };
      return { kind: 'sent', data: { ...data, tries } };
    }, { concurrency: 4 });
    for (const n of [1, 2, 3]) await queue.add(`job-${n}`, { n });
    // A second add of the same id changes nothing.
    await queue.add('job-1', { n: 99 });
    await eventually(async () => expect((await queue.get('job-2'))?.phase).toBe('completed'), 10_000, 50);
    expect(await queue.get('job-1')).toEqual({ id: 'job-1', phase: 'completed', data: { n: 1, tries: 1 } });
    expect(await queue.get('job-2')).toMatchObject({ phase: 'completed', data: { n: 2, tries: 3 } });
    expect(await queue.get('job-3')).toMatchObject({ phase: 'failed', data: { state: 'bounced' } });
    expect(seen.filter((id) => id === 'job-1')).toHaveLength(1);
    expect(await queue.counts()).toEqual({ queued: 0, deferred: 0, sending: 0, oldestAgeSeconds: 0 });
  });

  it('without a worker: a new message waits, a delayed one is deferred, and the counts say so', async () => {
    // Database 1: no worker of the other tests takes these.
    const store = redisStore({ url: redis.url.replace(/\/0$/, '/1'), password: redis.password, log });
    stores.push(store);
    await eventually(async () => expect(store.status().up).toBe(true), 5000, 20);
    const queue = store.queue<{ n: number }>()!;
    expect(await queue.get('nothing')).toBeUndefined();
    await queue.add('now', { n: 1 });
    await queue.add('later', { n: 2 }, 60_000);
    expect(await queue.get('now')).toEqual({ id: 'now', phase: 'waiting', data: { n: 1 } });
    expect(await queue.get('later')).toEqual({ id: 'later', phase: 'delayed', data: { n: 2 } });
    await new Promise((r) => setTimeout(r, 1100));
    const counts = await queue.counts();
    expect(counts).toMatchObject({ queued: 1, deferred: 1, sending: 0 });
    expect(counts.oldestAgeSeconds).toBeGreaterThanOrEqual(1);
    expect(counts.oldestAgeSeconds).toBeLessThan(30);
  });

  it('reads the append-only settings the server runs with', async () => {
    const a = await replica();
    expect(a.status()).toMatchObject({ store: 'redis', up: true, appendonly: 'yes', appendfsync: 'always' });
    expect(a.status().description).toBe(`Redis at 127.0.0.1:${redis.port} (appendonly yes, appendfsync always)`);
  });
});

describe('with the server away', () => {
  it('falls back to this replica: limits and records still answer, the queue refuses', { timeout: 30_000 }, async () => {
    const a = await replica();
    const changes: boolean[] = [];
    a.onChange((s) => changes.push(s.up));
    await redis.stop();
    try {
      await eventually(async () => expect(a.status().up).toBe(false), 5000, 20);
      expect(a.status().description).toContain('unreachable now');
      const limit = [{ key: 'identity/ns/away', what: 'x', limit: { messagesPerMinute: 1 } }];
      expect(await a.rateLimits.take(limit)).toEqual({ ok: true });
      expect((await a.rateLimits.take(limit)).ok).toBe(false);
      expect(await a.idempotency.run('c', 'away', 'f', async () => 'sent')).toEqual({ result: 'sent', replayed: false });
      expect(await a.idempotency.run('c', 'away', 'f', async () => 'again')).toEqual({ result: 'sent', replayed: true });
      await expect(a.queue<{ n: number }>()!.add('never', { n: 1 })).rejects.toThrow(/unreachable/);
    } finally {
      await redis.start();
    }
    // Listeners hear of it once the server's AOF settings are read again.
    await eventually(async () => expect(changes).toEqual([false, true]), 10_000, 50);
    expect(a.status().up).toBe(true);
  });
});

describe('over TLS (rediss://)', () => {
  it('connects with the CA it is given and refuses a server it cannot verify; the password never shows', { timeout: 30_000 }, async () => {
    const { testPki } = await import('../../support/smtp-certs.ts');
    const pki = testPki();
    const secure = await startRedis({ tls: { server: pki.server, ca: pki.ca } });
    try {
      expect(secure.url).toMatch(/^rediss:\/\/127\.0\.0\.1:\d+\/0$/);
      const trusted = redisStore({ url: secure.url, password: secure.password, caFile: secure.caFile!, log });
      stores.push(trusted);
      await eventually(async () => expect(trusted.status().up).toBe(true), 10_000, 50);
      expect(await trusted.rateLimits.take([{ key: 'identity/ns/tls', what: 'x', limit: { messagesPerMinute: 1 } }])).toEqual({ ok: true });

      const lines: string[] = [];
      const recording = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
      const untrusted = redisStore({ url: secure.url, password: secure.password, log: recording });
      stores.push(untrusted);
      await new Promise((r) => setTimeout(r, 1000));
      expect(untrusted.status()).toMatchObject({ up: false, store: 'redis' });
      expect(lines.join('')).not.toContain(secure.password);
    } finally {
      await secure.destroy();
    }
  });
});
