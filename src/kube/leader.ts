// Leader election over a coordination.k8s.io/v1 Lease, as client-go does it:
// a lease held by another is taken only after it went unrenewed for the lease
// duration, measured on our own clock (never trusting the other's clock).
import type { Logger } from 'pino';
import { errorText, sleep } from './informer.ts';
import { collectionPath, isConflict, isNotFound, objectPath, type KubeClient } from './rest.ts';
import { resources } from './resources.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d: Date) => d.toISOString().replace('Z', '000Z');

export class LeaderElector {
  private leading = false;
  private observed: { record: string; at: number } | undefined;
  private readonly client: KubeClient;
  private readonly opts: LeaderElectionOptions;
  private readonly log: Logger;

  constructor(client: KubeClient, opts: LeaderElectionOptions, log: Logger) {
    this.client = client;
    this.opts = opts;
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until `signal` aborts. `onStarted` runs when we become leader and
   * its returned function when we stop leading (lost lease or shutdown).
   */
  async run(onStarted: () => () => Promise<void>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.tryAcquireOrRenew())) {
        await sleep(this.opts.retryPeriodMs, signal);
        continue;
      }
      this.leading = true;
      this.log.info('became leader');
      const stop = onStarted();
      let lastRenew = Date.now();
      while (!signal.aborted && Date.now() - lastRenew < this.opts.renewDeadlineMs) {
        await sleep(this.opts.retryPeriodMs, signal);
        if (signal.aborted) break;
        if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      }
      this.leading = false;
      if (!signal.aborted) this.log.warn('lost leadership: lease not renewed within the renew deadline');
      await stop();
    }
    await this.release();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const path = objectPath(resources.lease, this.opts.namespace, this.opts.name);
    const desired: Lease['spec'] = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    try {
      let lease: Lease;
      try {
        lease = await this.client.get<Lease>(path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.client.request('POST', collectionPath(resources.lease, this.opts.namespace), {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: { ...desired, acquireTime: microTime(now), leaseTransitions: 0 },
          },
        });
        return true;
      }
      const record = JSON.stringify([lease.spec.holderIdentity, lease.spec.renewTime]);
      if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
      const holder = lease.spec.holderIdentity;
      const mine = holder === this.opts.identity;
      const durationMs = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
      if (holder && !mine && Date.now() - this.observed.at < durationMs) return false;
      const spec: Lease['spec'] = mine
        ? { ...lease.spec, ...desired }
        : { ...desired, acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 };
      // A PUT with the resourceVersion we read: if someone else wrote in between, we lose this round.
      await this.client.request('PUT', path, { body: { ...lease, spec } });
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log.warn({ err: errorText(err) }, 'lease update failed');
      return false;
    }
  }

  /** Gives the lease up on shutdown so another replica takes over at once. */
  private async release(): Promise<void> {
    try {
      const path = objectPath(resources.lease, this.opts.namespace, this.opts.name);
      const lease = await this.client.get<Lease>(path);
      if (lease.spec.holderIdentity !== this.opts.identity) return;
      await this.client.request('PUT', path, {
        body: { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1 } },
      });
      this.log.info('released leadership');
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'could not release the lease');
    }
  }
}
