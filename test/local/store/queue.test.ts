// The delivery queue against a real redis-server, each test in its own database: a
// replica that dies mid-send leaves its message to another; work runs as many at
// once as it is told; a deferred message waits its delay; finished records go
// after the keep time; the counts tell queued, deferred, sending and the oldest age.
import { Worker } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkOutcome } from '../../../src/store/queue.ts';
import { redisStore, type StateStore } from '../../../src/store/store.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { eventually } from '../../support/wait.ts';

type Msg = { n: number; by?: string };

let redis: RedisServer;
const closing: { close(): Promise<unknown> }[] = [];
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function replica(db: number, ttlMs?: number): Promise<StateStore> {
  const store = redisStore({ url: redis.url.replace(/\/0$/, `/${db}`), password: redis.password, log }, ttlMs ? { ttlMs } : {});
  closing.unshift(store);
  await eventually(async () => expect(store.status().up).toBe(true), 5000, 20);
  return store;
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const s of closing) await s.close();
  await redis?.destroy();
});

describe('a replica that dies mid-send', () => {
  it('leaves the message to another replica once its lock lapses', { timeout: 20_000 }, async () => {
    // The dead replica: it took the job, renews nothing and never finishes.
    const dead = new Worker('delivery', () => new Promise(() => {}), {
      connection: { host: '127.0.0.1', port: redis.port, password: redis.password, db: 4, maxRetriesPerRequest: null },
      prefix: 'postmaster',
      lockDuration: 1000,
      skipLockRenewal: true,
      skipStalledCheck: true,
    });
    dead.on('error', () => {});
    closing.push({ close: () => dead.close(true) });
    const b = await replica(4);
    const queue = b.queue<Msg>()!;
    await queue.add('orphan', { n: 1 });
    await eventually(async () => expect((await queue.get('orphan'))?.phase).toBe('active'), 5000, 20);
    await dead.pause(true);
    queue.work(async (_id, data): Promise<WorkOutcome<Msg>> => ({ kind: 'sent', data: { ...data, by: 'b' } }), { concurrency: 1, lockDurationMs: 1000 });
    await eventually(async () => expect(await queue.get('orphan')).toEqual({ id: 'orphan', phase: 'completed', data: { n: 1, by: 'b' } }), 8000, 50);
  });
});

describe('working the queue', () => {
  it('runs as many at once as its concurrency, and the counts and records say so', { timeout: 20_000 }, async () => {
    const a = await replica(5);
    const queue = a.queue<Msg>()!;
    const running: (() => void)[] = [];
    queue.work(
      (_id, data) => new Promise<WorkOutcome<Msg>>((r) => running.push(() => r({ kind: 'sent', data }))),
      { concurrency: 2 },
    );
    for (const n of [1, 2, 3]) await queue.add(`m${n}`, { n });
    await eventually(async () => expect(await queue.counts()).toMatchObject({ sending: 2, queued: 1, deferred: 0 }), 5000, 20);
    expect(running).toHaveLength(2);
    expect((await queue.get('m1'))?.phase).toBe('active');
    expect((await queue.get('m3'))?.phase).toBe('waiting');
    for (;;) {
      const next = running.shift();
      if (next) next();
      else if ((await queue.get('m3'))?.phase === 'completed') break;
      else await sleep(20);
    }
    expect(await queue.counts()).toEqual({ queued: 0, deferred: 0, sending: 0, oldestAgeSeconds: 0 });
  });

  it('a deferred message waits the delay it was given, and keeps the data it was deferred with', { timeout: 20_000 }, async () => {
    const a = await replica(6);
    const queue = a.queue<Msg>()!;
    let calls = 0;
    queue.work(async (_id, data): Promise<WorkOutcome<Msg>> => {
      calls++;
      return { kind: 'deferred', data: { ...data, by: 'deferred once' }, delayMs: 60_000 };
    }, { concurrency: 1 });
    await queue.add('later', { n: 1 });
    await eventually(async () => expect(await queue.get('later')).toEqual({ id: 'later', phase: 'delayed', data: { n: 1, by: 'deferred once' } }), 5000, 20);
    await sleep(300);
    expect(calls).toBe(1);
    expect(await queue.counts()).toMatchObject({ queued: 0, deferred: 1, sending: 0 });
  });

  it('removes finished records after the keep time', { timeout: 20_000 }, async () => {
    const a = await replica(7, 1000);
    const queue = a.queue<Msg>()!;
    queue.work(async (_id, data): Promise<WorkOutcome<Msg>> =>
      data.n === 2 ? { kind: 'failed', data, reason: 'refused' } : { kind: 'sent', data }, { concurrency: 1 });
    await queue.add('first', { n: 1 });
    await queue.add('bounced', { n: 2 });
    await eventually(async () => expect((await queue.get('bounced'))?.phase).toBe('failed'), 5000, 20);
    expect((await queue.get('first'))?.phase).toBe('completed');
    await sleep(2100);
    // BullMQ prunes old records when the next jobs finish.
    await queue.add('second', { n: 1 });
    await queue.add('bounced-2', { n: 2 });
    await eventually(async () => expect((await queue.get('bounced-2'))?.phase).toBe('failed'), 5000, 20);
    expect((await queue.get('second'))?.phase).toBe('completed');
    expect(await queue.get('first')).toBeUndefined();
    expect(await queue.get('bounced')).toBeUndefined();
  });
});

describe('the counts without a worker', () => {
  it('give the age of the oldest waiting message and of the delayed ones', { timeout: 20_000 }, async () => {
    const a = await replica(8);
    const queue = a.queue<Msg>()!;
    await queue.add('old', { n: 1 });
    await sleep(1100);
    await queue.add('new', { n: 2 });
    const c1 = await queue.counts();
    expect(c1).toMatchObject({ queued: 2, deferred: 0, sending: 0 });
    expect(c1.oldestAgeSeconds).toBeGreaterThanOrEqual(1);
    expect(c1.oldestAgeSeconds).toBeLessThan(5);

    const d = await replica(9);
    const delayed = d.queue<Msg>()!;
    await delayed.add('d-old', { n: 1 }, 60_000);
    await sleep(1100);
    await delayed.add('d-new', { n: 2 }, 30_000);
    const c2 = await delayed.counts();
    expect(c2).toMatchObject({ queued: 0, deferred: 2, sending: 0 });
    expect(c2.oldestAgeSeconds).toBeGreaterThanOrEqual(1);
    expect(c2.oldestAgeSeconds).toBeLessThan(5);
  });
});
