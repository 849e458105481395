// A work queue with controller-runtime's guarantees: a key is queued at most
// once, processed by one worker at a time (a key added while processing runs
// again afterwards), failures back off per key, periodic re-checks jitter.
import { jitter } from '../kube/backoff.ts';

export interface QueueOptions {
  workers: number;
  /** First retry delay after a failure; doubles per consecutive failure. */
  baseRetryMs: number;
  maxRetryMs: number;
  /**
   * Lane of a key (0 first; default 0 for all). Referenced objects go before
   * their dependents, so an identity is reconciled once its server has been,
   * not once before (waiting) and again after.
   */
  lane?: (key: string) => number;
}

export interface ProcessResult {
  /** Run again after this long (with jitter); the periodic re-check. */
  requeueAfterMs?: number;
  /** The reconcile failed transiently: retry with this key's backoff. */
  retry?: boolean;
}

export type Processor = (key: string) => Promise<ProcessResult>;

export class WorkQueue {
  private readonly opts: QueueOptions;
  /** One FIFO per lane, each with a read index (shift() on 10,000 keys is quadratic). */
  private readonly lanes: { keys: string[]; head: number }[] = [];
  /** The lane each pending key waits in; an entry elsewhere is stale (the key moved up). */
  private readonly laneOfKey = new Map<string, number>();
  private size = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private wake: (() => void) | undefined;
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(opts: QueueOptions) {
    this.opts = opts;
  }

  /** Keys waiting to be processed (the queue depth metric). */
  get depth(): number {
    return this.size;
  }

  private laneFor(key: string, lane?: number): number {
    return Math.max(0, Math.floor(lane ?? this.opts.lane?.(key) ?? 0));
  }

  private push(key: string, n: number): void {
    while (this.lanes.length <= n) this.lanes.push({ keys: [], head: 0 });
    this.lanes[n]!.keys.push(key);
    if (!this.laneOfKey.has(key)) this.size++;
    this.laneOfKey.set(key, n);
  }

  private shift(): string | undefined {
    for (const [n, lane] of this.lanes.entries()) {
      while (lane.head < lane.keys.length) {
        const key = lane.keys[lane.head++]!;
        if (lane.head > 1024 && lane.head * 2 > lane.keys.length) {
          lane.keys.splice(0, lane.head);
          lane.head = 0;
        }
        if (this.laneOfKey.get(key) !== n) continue;
        this.laneOfKey.delete(key);
        this.size--;
        return key;
      }
    }
    return undefined;
  }

  /** Queues the key; `lane` overrides the key's own (a waiting key only ever moves to a better lane). */
  add(key: string, lane?: number): void {
    if (this.stopped) return;
    const n = this.laneFor(key, lane);
    if (this.dirty.has(key)) {
      const waiting = this.laneOfKey.get(key);
      if (waiting !== undefined && n < waiting) this.push(key, n);
      return;
    }
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key, n);
    this.wake?.();
  }

  /** Adds the key after `ms`; an earlier scheduled add wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Retries after this key's exponential backoff. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, Math.min(this.opts.maxRetryMs, this.opts.baseRetryMs * 2 ** n));
  }

  /** Stops tracking a key: its backoff resets and pending timers go. */
  forget(key: string): void {
    this.failures.delete(key);
    const d = this.delayed.get(key);
    if (d) clearTimeout(d.timer);
    this.delayed.delete(key);
  }

  start(process: Processor, onError: (key: string, err: unknown) => void): void {
    this.workers = Array.from({ length: this.opts.workers }, () => this.work(process, onError));
  }

  /** Stops handing out keys and waits for in-flight work to finish. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.wakeAll();
    await Promise.all(this.workers);
  }

  private wakeAll(): void {
    while (this.wake) this.wake();
  }

  private async next(): Promise<string | undefined> {
    while (this.size === 0) {
      if (this.stopped) return undefined;
      await new Promise<void>((resolve) => {
        const previous = this.wake;
        // Chain waiters so one add wakes exactly one idle worker.
        this.wake = () => {
          this.wake = previous;
          resolve();
        };
      });
    }
    const key = this.shift()!;
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.stopped) {
      this.push(key, this.laneFor(key));
      this.wake?.();
    }
  }

  private async work(process: Processor, onError: (key: string, err: unknown) => void): Promise<void> {
    for (let key = await this.next(); key !== undefined; key = await this.next()) {
      try {
        const result = await process(key);
        if (result.retry) {
          this.addRateLimited(key);
        } else {
          this.failures.delete(key);
          if (result.requeueAfterMs) this.addAfter(key, jitter(result.requeueAfterMs));
        }
      } catch (err) {
        onError(key, err);
        this.addRateLimited(key);
      } finally {
        this.done(key);
      }
    }
  }
}
