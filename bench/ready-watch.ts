// Follows the Ready condition of every object of our three kinds in one
// namespace through watches (listing 10,000 identities twice a second would
// load the API server more than the operator does), and when each flipped.
import { collectionPath, type KubeClient } from '../src/kube/rest.ts';
import { resources } from '../src/kube/resources.ts';

interface Obj {
  kind?: string;
  metadata: { name: string; resourceVersion?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

export class ReadyWatch {
  /** Kind/name -> whether Ready is True, and when it last changed (performance.now()). */
  private readonly state = new Map<string, { ready: boolean; at: number }>();
  private readyCount = 0;
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];
  private readonly client: KubeClient;

  private constructor(client: KubeClient) {
    this.client = client;
  }

  static async start(client: KubeClient, ns: string): Promise<ReadyWatch> {
    const w = new ReadyWatch(client);
    for (const r of [resources.smtpTarget, resources.emailServer, resources.senderIdentity]) {
      const list = await retried(() => client.get<{ metadata: { resourceVersion: string }; items: Obj[] }>(collectionPath(r, ns)));
      for (const o of list.items) w.see(r.kind, o);
      void w.follow(r, ns, list.metadata.resourceVersion);
    }
    return w;
  }

  private async follow(r: typeof resources.smtpTarget, ns: string, rv: string): Promise<void> {
    let resourceVersion = rv;
    while (!this.abort.signal.aborted) {
      try {
        await this.client.watch<Obj>(
          collectionPath(r, ns),
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 600 },
          (e) => {
            if (e.object.metadata.resourceVersion) resourceVersion = e.object.metadata.resourceVersion;
            if (e.type === 'ADDED' || e.type === 'MODIFIED') this.see(r.kind, e.object);
          },
          this.abort.signal,
        );
      } catch (err) {
        if (!this.abort.signal.aborted) console.error(`watch of ${r.plural} failed: ${(err as Error).message}`);
      }
    }
  }

  private see(kind: string, o: Obj): void {
    const key = `${kind}/${o.metadata.name}`;
    const ready = o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const old = this.state.get(key);
    if (old && old.ready === ready) return;
    this.state.set(key, { ready, at: performance.now() });
    this.readyCount += (ready ? 1 : 0) - (old?.ready ? 1 : 0);
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  private async until(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  untilReady(total: number, timeoutMs: number): Promise<void> {
    return this.until(() => this.readyCount >= total, timeoutMs, () => `${total} Ready (${this.readyCount} are)`);
  }

  /** Waits until every key's Ready is `ready`; returns when the last of them flipped. */
  async untilAll(keys: string[], ready: boolean, timeoutMs: number): Promise<number> {
    const match = () => keys.every((k) => (this.state.get(k)?.ready ?? false) === ready);
    await this.until(match, timeoutMs, () => `${keys.filter((k) => this.state.get(k)?.ready !== ready).join(', ')} to be Ready=${ready}`);
    return Math.max(...keys.map((k) => this.state.get(k)!.at));
  }

  stop(): void {
    this.abort.abort();
  }
}

/** Just-applied CRDs answer 429 for a moment. */
async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 50 || (err as { status?: number }).status !== 429) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
