// The shared store (redis-server, AOF with appendfsync always) killed and
// restarted in the middle of a load on two replicas, with a Queued and a Direct
// server side by side: while it is away Queued sends are refused (503
// POSTMASTER_QUEUE_UNAVAILABLE, nothing accepted) and clients retry; Direct keeps
// sending; every message a 2xx answered arrives.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { startReplicas, type Replicas } from '../support/replicas.ts';
import { applyDirectAndQueued, sendAs } from '../support/fault-setup.ts';
import { ledger, load, printLedger, queueDeferrals, startCountingSink, until, type ClientOptions, type CountingSink } from '../support/fault-ledger.ts';

const MESSAGES = Number(process.env.FAULT_MESSAGES ?? 1000);
const CONCURRENCY = 12;
const DOWN_MS = Number(process.env.FAULT_STORE_DOWN_MS ?? 2000);
/** --queue-lock-duration for this file: longer than the store is away. */
const LOCK_S = 10;

let redis: RedisServer;
let sink: CountingSink;
let r: Replicas;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

beforeAll(async () => {
  redis = await startRedis();
  // A little slow, so the queue's workers are mid-send when the store goes.
  sink = await startCountingSink({ dataDelayMs: 20 });
  // The lock of a message mid-send outlives the store's absence (as the default 30 s does a
  // restart): a lock that lapsed would hand the message to another worker, as a dead replica's.
  r = await startReplicas({ prefix: 'faults-store', count: 2, redis, identities: ['direct', 'queued'], extraArgs: [`--queue-lock-duration=${LOCK_S}s`] });
  await applyDirectAndQueued(r.ns, sink.port);
}, 120_000);

afterAll(async () => {
  await r?.stop();
  await sink?.kill();
  await redis?.destroy();
});

// Long enough a budget to outlast the store's absence and the replicas' reconnect.
const client = (sender: 'direct' | 'queued'): ClientOptions => sendAs(r, sender, { maxAttempts: 30 });

it('the store killed and restarted mid-load: Queued refuses while it is away, then delivers every stored message; Direct goes on', async () => {
  const deferredBefore = await queueDeferrals(r.ops);
  const progress = { done: 0 };
  const restart = (async () => {
    await until(() => progress.done >= MESSAGES / 3, 120_000, 20);
    await redis.kill();
    await sleep(DOWN_MS);
    await redis.start();
  })();
  const [queued, direct] = await Promise.all([
    load(client('queued'), 'store-queued', MESSAGES, CONCURRENCY, progress),
    load(client('direct'), 'store-direct', MESSAGES / 2, CONCURRENCY / 2),
  ]);
  await restart;
  const stored = queued.filter((m) => m.final.status === 202);
  await until(() => stored.every((m) => sink.count(m.name) > 0), 120_000, 250);
  await sleep(1500);

  const q = ledger('queued, store killed and restarted', 'Queued', queued, sink);
  q.queueDeferrals = (await queueDeferrals(r.ops)) - deferredBefore;
  const d = ledger('direct, store killed and restarted', 'Direct', direct, sink);
  printLedger(q);
  printLedger(d);
  // The store went away while clients were sending: some were refused, and retried.
  expect(q.errors.POSTMASTER_QUEUE_UNAVAILABLE ?? 0).toBeGreaterThan(0);
  expect(q.accepted, JSON.stringify(q.gaveUp)).toBe(MESSAGES);
  expect(q.lost).toBe(0);
  expect(q.unexplained).toEqual([]);
  expect(q.duplicates).toBe(0);
  expect(d.accepted, JSON.stringify(d.gaveUp)).toBe(MESSAGES / 2);
  expect(d.lost).toBe(0);
  expect(d.unexplained).toEqual([]);
  expect(d.duplicates).toBe(0);
});
