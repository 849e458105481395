import { afterEach, describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../src/controller/queue.ts';

const queues: WorkQueue[] = [];
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.shutdown()));
});
function queue(workers = 2) {
  const q = new WorkQueue({ workers, baseRetryMs: 20, maxRetryMs: 80 });
  queues.push(q);
  return q;
}
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};

describe('WorkQueue', () => {
  it('serves lower lanes first, FIFO within a lane, and counts every lane in its depth', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 20, maxRetryMs: 80, lane: (k) => (k.startsWith('t') ? 0 : k.startsWith('s') ? 1 : 2) });
    queues.push(q);
    const seen: string[] = [];
    for (const k of ['i1', 's1', 'i2', 't1', 's2', 't2']) q.add(k);
    expect(q.depth).toBe(6);
    q.start(async (k) => (seen.push(k), {}), () => {});
    await until(() => seen.length === 6);
    expect(seen).toEqual(['t1', 't2', 's1', 's2', 'i1', 'i2']);
    expect(q.depth).toBe(0);
  });

  it('a key queued in a later lane moves up when added for an earlier one, and runs once', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 20, maxRetryMs: 80, lane: (k) => (k.startsWith('s') ? 1 : 2) });
    queues.push(q);
    const seen: string[] = [];
    q.add('s1', 3);
    q.add('i1');
    q.add('s2', 3);
    q.add('s2');
    q.add('s1', 3);
    expect(q.depth).toBe(3);
    q.start(async (k) => (seen.push(k), {}), () => {});
    await until(() => seen.length === 3);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual(['s2', 'i1', 's1']);
  });

  it('deduplicates keys added before processing', async () => {
    const q = queue(1);
    const seen: string[] = [];
    q.add('a');
    q.add('a');
    q.add('b');
    q.start(async (k) => (seen.push(k), {}), () => {});
    await until(() => seen.length >= 2);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and runs it again when added meanwhile', async () => {
    const q = queue(4);
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    q.start(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        if (runs === 1) {
          q.add('k');
          q.add('k');
        }
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return {};
      },
      () => {},
    );
    q.add('k');
    await until(() => runs === 2 && running === 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('backs off exponentially on failures and resets after a success', async () => {
    const q = queue(1);
    const times: number[] = [];
    q.start(
      async () => {
        times.push(Date.now());
        if (times.length < 4) throw new Error('boom');
        return {};
      },
      () => {},
    );
    q.add('k');
    await until(() => times.length === 4);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[1]).toBeGreaterThanOrEqual(35);
    expect(gaps[2]).toBeGreaterThanOrEqual(70); // capped at 80
  });

  it('requeues after the requested delay', async () => {
    const q = queue(1);
    let runs = 0;
    q.start(async () => (++runs < 3 ? { requeueAfterMs: 20 } : {}), () => {});
    q.add('k');
    await until(() => runs === 3);
  });

  it('finishes in-flight work on shutdown and takes no more', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 10, maxRetryMs: 10 });
    let finished = false;
    q.start(async () => {
      await new Promise((r) => setTimeout(r, 30));
      finished = true;
      return {};
    }, () => {});
    q.add('k');
    await new Promise((r) => setTimeout(r, 5));
    await q.shutdown();
    expect(finished).toBe(true);
    q.add('later');
    expect(q.depth).toBe(0);
  });
});
