// Kubernetes Events, so `kubectl describe` tells the story. Repeats of the
// same event are folded into one with a count (as client-go does), and API
// writes per event are spaced so a flapping check cannot flood the server.
import type { Logger } from 'pino';
import type { KubeObject } from './informer.ts';
import { errorText } from './informer.ts';
import { objectPath, collectionPath, type KubeClient } from './rest.ts';
import { resources } from './resources.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  component: string;
  instance: string;
  /** Repeats inside this window update the existing event. */
  aggregateWindowMs: number;
  /** At most one API write per distinct event within this interval. */
  minWriteIntervalMs: number;
  /** Events `post` keeps waiting at most; more are dropped, as client-go's broadcaster does (1,000). */
  maxQueued?: number;
  /** API writes `post` has in flight at most. */
  maxInFlight?: number;
}

interface Seen {
  name?: string;
  count: number;
  writtenCount: number;
  firstTimestamp: string;
  lastSeen: number;
  lastWrite: number;
}

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();
  private prunedAt = 0;
  private readonly queued: (() => Promise<void>)[] = [];
  private inFlight = 0;
  /** Events dropped because the queue was full (a burst of thousands of transitions). */
  dropped = 0;
  private readonly client: KubeClient;
  private readonly opts: EventRecorderOptions;
  private readonly log: Logger;

  constructor(client: KubeClient, opts: EventRecorderOptions, log: Logger) {
    this.client = client;
    this.opts = opts;
    this.log = log;
  }

  /**
   * Records an event in the background: a reconcile does not wait for it, so
   * a burst of transitions (thousands of objects turning Ready) spends its
   * workers on status, and the events follow at a bounded rate.
   */
  post(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.queued.length >= (this.opts.maxQueued ?? 1000)) {
      this.dropped++;
      this.log.debug({ reason, object: `${obj.metadata.namespace ?? ''}/${obj.metadata.name}` }, 'event queue full; event dropped');
      return;
    }
    this.queued.push(() => this.record(obj, type, reason, message));
    this.drain();
  }

  /** Resolves once every posted event was written, or after `maxMs` (shutdown must not hang on them). */
  async flush(maxMs = 5000): Promise<void> {
    const deadline = Date.now() + maxMs;
    while ((this.queued.length > 0 || this.inFlight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  private drain(): void {
    while (this.inFlight < (this.opts.maxInFlight ?? 4) && this.queued.length > 0) {
      const next = this.queued.shift()!;
      this.inFlight++;
      void next().finally(() => {
        this.inFlight--;
        this.drain();
      });
    }
  }

  /** Records an event; never throws (events are best effort). */
  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const key = [obj.metadata.uid, type, reason, message].join('\u0000');
    const now = Date.now();
    this.prune(now);
    const seen = this.seen.get(key);
    try {
      if (seen && now - seen.lastSeen < this.opts.aggregateWindowMs) {
        seen.count++;
        seen.lastSeen = now;
        if (!seen.name || now - seen.lastWrite < this.opts.minWriteIntervalMs) return;
        seen.lastWrite = now;
        seen.writtenCount = seen.count;
        await this.client.request('PATCH', objectPath(resources.event, ns, seen.name), {
          body: { count: seen.count, lastTimestamp: new Date(now).toISOString() },
          patch: 'merge',
        });
        return;
      }
      const stamp = new Date(now).toISOString();
      const entry: Seen = { count: 1, writtenCount: 1, firstTimestamp: stamp, lastSeen: now, lastWrite: now };
      this.seen.set(key, entry);
      const created = await this.client.request<{ metadata: { name: string } }>('POST', collectionPath(resources.event, ns), {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${obj.metadata.name}.`, namespace: ns },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.metadata.name,
            namespace: ns,
            uid: obj.metadata.uid,
            resourceVersion: obj.metadata.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          count: 1,
          firstTimestamp: stamp,
          lastTimestamp: stamp,
          source: { component: this.opts.component },
          reportingComponent: this.opts.component,
          reportingInstance: this.opts.instance,
        },
      });
      entry.name = created.metadata.name;
    } catch (err) {
      this.log.warn({ err: errorText(err), reason, object: `${ns}/${obj.metadata.name}` }, 'could not record event');
    }
  }

  /** At most once a second: a sweep per event made ten thousand first events quadratic. */
  private prune(now: number): void {
    if (now - this.prunedAt < 1000) return;
    this.prunedAt = now;
    for (const [key, s] of this.seen) if (now - s.lastSeen > this.opts.aggregateWindowMs) this.seen.delete(key);
  }
}
