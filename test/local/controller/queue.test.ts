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

describe('WorkQueue, what the controller relies on', () => {
  const lanes = (k: string) => (k.startsWith('t') ? 0 : k.startsWith('s') ? 1 : 2);
  function recording(q: WorkQueue, hold?: Promise<void>) {
    const seen: string[] = [];
    q.start(async (k) => {
      seen.push(k);
      if (seen.length === 1 && hold) await hold;
      return {};
    }, () => {});
    return seen;
  }
  function gate() {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  }

  it('serves a lane again after it ran empty while another lane was served', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 20, maxRetryMs: 80, lane: lanes });
    queues.push(q);
    const seen = recording(q);
    q.add('t1');
    await until(() => seen.length === 1);
    q.add('s1');
    await until(() => seen.length === 2);
    q.add('t2');
    q.add('i1');
    await until(() => seen.length === 4);
    expect(seen).toEqual(['t1', 's1', 't2', 'i1']);
  });

  it('a key that moved to an earlier lane leaves nothing behind that blocks the keys after it', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 20, maxRetryMs: 80, lane: lanes });
    queues.push(q);
    const { p, open } = gate();
    const seen = recording(q, p);
    q.add('t0');
    await until(() => seen.length === 1);
    q.add('s1', 3);
    q.add('s1');
    q.add('s2', 3);
    open();
    await until(() => seen.length === 3);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual(['t0', 's1', 's2']);
  });

  it('a waiting key never moves to a later lane', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 20, maxRetryMs: 80, lane: lanes });
    queues.push(q);
    const { p, open } = gate();
    const seen = recording(q, p);
    q.add('t0');
    await until(() => seen.length === 1);
    q.add('s1');
    q.add('s2');
    q.add('s1', 3);
    q.add('i1');
    expect(q.depth).toBe(3);
    open();
    await until(() => seen.length === 4);
    expect(seen).toEqual(['t0', 's1', 's2', 'i1']);
  });

  it('keeps FIFO order over thousands of keys in one lane', async () => {
    const q = queue(1);
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    for (const k of keys) q.add(k);
    expect(q.depth).toBe(3000);
    const seen = recording(q);
    await until(() => seen.length === 3000);
    expect(seen).toEqual(keys);
    expect(q.depth).toBe(0);
  });

  it('with one worker, a key added while it runs runs again afterwards', async () => {
    const q = queue(1);
    let runs = 0;
    q.start(async (k) => {
      if (++runs === 1) q.add(k);
      return {};
    }, () => {});
    q.add('k');
    await until(() => runs === 2);
    q.add('other');
    await until(() => runs === 3);
  });

  it('adds at once for no delay; of two delayed adds the earlier wins and the key runs once', async () => {
    const q = queue(1);
    q.addAfter('now', 0);
    expect(q.depth).toBe(1);
    const runs: Record<string, number[]> = {};
    const t0 = Date.now();
    q.start(async (k) => ((runs[k] ??= []).push(Date.now() - t0), {}), () => {});
    q.addAfter('soon', 400);
    q.addAfter('soon', 20);
    q.addAfter('early', 20);
    q.addAfter('early', 400);
    await new Promise((r) => setTimeout(r, 600));
    expect(runs.now).toHaveLength(1);
    expect(runs.soon).toHaveLength(1);
    expect(runs.early).toHaveLength(1);
    expect(runs.soon![0]).toBeLessThan(300);
    expect(runs.early![0]).toBeLessThan(300);
  });

  it('retries a reconcile that asks for it with growing backoff, which a success resets', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 40, maxRetryMs: 1000 });
    queues.push(q);
    const times: number[] = [];
    // retry, retry, success; then, added again, retry and success.
    const plan = [true, true, false, true, false];
    q.start(async () => (times.push(Date.now()), plan[times.length - 1] ? { retry: true } : {}), () => {});
    q.add('k');
    await until(() => times.length === 3);
    q.add('k');
    await until(() => times.length === 5);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
    // After the success the backoff starts over at 40 ms, not 160.
    expect(gaps[3]).toBeGreaterThanOrEqual(35);
    expect(gaps[3]).toBeLessThan(150);
  });

  it('the first retry waits the base delay, not the maximum', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 30, maxRetryMs: 2000 });
    queues.push(q);
    const times: number[] = [];
    q.start(async () => (times.push(Date.now()), times.length === 1 ? { retry: true } : {}), () => {});
    q.add('k');
    await until(() => times.length === 2);
    expect(times[1]! - times[0]!).toBeLessThan(1000);
  });

  it('reports a failed reconcile with its key and error', async () => {
    const q = queue(1);
    const errors: [string, unknown][] = [];
    let runs = 0;
    q.start(async () => {
      if (++runs === 1) throw new Error('boom');
      return {};
    }, (k, err) => errors.push([k, err]));
    q.add('EmailServer/mail/ses');
    await until(() => runs === 2);
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBe('EmailServer/mail/ses');
    expect((errors[0]![1] as Error).message).toBe('boom');
  });

  it('forgetting a key (its object was deleted) drops its pending retry and its backoff', async () => {
    const q = new WorkQueue({ workers: 1, baseRetryMs: 100, maxRetryMs: 2000 });
    queues.push(q);
    let runs = 0;
    q.start(async () => {
      runs++;
      throw new Error('fails');
    }, () => {});
    q.add('k');
    await until(() => runs === 1);
    q.forget('k');
    await new Promise((r) => setTimeout(r, 250));
    expect(runs).toBe(1);
    // Its backoff starts over: the next failure waits the base delay again.
    const t = Date.now();
    q.add('k');
    await until(() => runs === 3);
    expect(Date.now() - t).toBeLessThan(190);
    q.forget('never-queued');
  });
});
