// The delivery queue on BullMQ (Redis): every replica adds to it and works it.
// BullMQ brings what a relay's queue needs and would be easy to get wrong by hand:
// delayed jobs, a lock per active job with stalled-job recovery (a replica that
// dies mid-send leaves its jobs to another within lockDuration + stalledInterval),
// deduplication by job id, and a graceful close that finishes active jobs.
// Retries are ours, not BullMQ's attempts: the processor says sent, deferred (with
// its own backoff and the last upstream reply kept in the job) or failed.
import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { RedisConnection } from './redis-connection.ts';

/** Where a job is in BullMQ's lifecycle; the endpoint names the public state. */
export type QueuePhase = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';

export interface QueueRecord<D> {
  id: string;
  phase: QueuePhase;
  data: D;
}

export type WorkOutcome<D> =
  | { kind: 'sent'; data: D }
  | { kind: 'deferred'; data: D; delayMs: number }
  | { kind: 'failed'; data: D; reason: string };

export interface QueueCounts {
  queued: number;
  deferred: number;
  sending: number;
  /** Age of the oldest waiting job, or of the first delayed ones due (a sample), seconds. */
  oldestAgeSeconds: number;
}

export interface WorkOptions {
  concurrency: number;
  /** How long an active job's lock lives without renewal. Default 30 s. */
  lockDurationMs?: number;
}

export interface DeliveryQueueOptions {
  /** How long finished jobs (their records, without bodies) are kept. */
  keepFinishedMs: number;
}

const NAME = 'delivery';
const PREFIX = 'postmaster';

export class DeliveryQueue<D extends object> {
  readonly #connection: RedisConnection;
  readonly #queue: Queue;
  readonly #keepSeconds: number;
  #worker: Worker | undefined;

  constructor(connection: RedisConnection, opts: DeliveryQueueOptions) {
    this.#connection = connection;
    this.#keepSeconds = Math.ceil(opts.keepFinishedMs / 1000);
    // Adding uses the store's fail-fast client: an add either reaches Redis or throws.
    this.#queue = new Queue(NAME, { connection: connection.client, prefix: PREFIX });
    this.#queue.on('error', () => {});
  }

  /** Adds the job once; a second add with the same id changes nothing. Resolves once Redis has it. */
  async add(id: string, data: D, delayMs = 0): Promise<void> {
    if (!this.#connection.up) throw new Error('the store is unreachable');
    await this.#queue.add(NAME, data, {
      jobId: id,
      ...(delayMs > 0 ? { delay: delayMs } : {}),
      removeOnComplete: { age: this.#keepSeconds },
      removeOnFail: { age: this.#keepSeconds },
    });
  }

  async get(id: string): Promise<QueueRecord<D> | undefined> {
    const job = (await this.#queue.getJob(id)) as Job<D> | undefined;
    if (!job) return undefined;
    const state = await job.getState();
    const phase: QueuePhase =
      state === 'active' || state === 'delayed' || state === 'completed' || state === 'failed' ? state : 'waiting';
    return { id, phase, data: job.data };
  }

  /** Starts working the queue in this process. */
  work(processor: (id: string, data: D) => Promise<WorkOutcome<D>>, opts: WorkOptions): void {
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.#worker = new Worker<D>(
      NAME,
      async (job, token) => {
        const outcome = await processor(job.id!, job.data);
        await job.updateData(outcome.data);
        if (outcome.kind === 'sent') return 'sent';
        if (outcome.kind === 'failed') throw new UnrecoverableError(outcome.reason);
        await job.moveToDelayed(Date.now() + outcome.delayMs, token);
        throw new DelayedError();
      },
      {
        connection: this.#connection.workerOptions as ConnectionOptions,
        prefix: PREFIX,
        concurrency: opts.concurrency,
        lockDuration,
        stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
        // A job stalls when its worker died; that is never the message's fault.
        maxStalledCount: 1000,
      },
    );
    this.#worker.on('error', () => {});
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.#queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
    // A few jobs, not the whole backlog: each read carries the message body.
    const oldest = [...(await this.#queue.getJobs(['waiting'], 0, 0, true)), ...(await this.#queue.getJobs(['delayed'], 0, 9, true))];
    const now = Date.now();
    const ages = oldest.map((j) => (now - j.timestamp) / 1000);
    return {
      queued: (c.waiting ?? 0) + (c.prioritized ?? 0),
      deferred: c.delayed ?? 0,
      sending: c.active ?? 0,
      oldestAgeSeconds: ages.length ? Math.max(0, ...ages) : 0,
    };
  }

  /** Stops taking jobs and waits for the active ones to finish; then closes. */
  async close(): Promise<void> {
    await this.#worker?.close();
    await this.#queue.close();
  }
}
