// The informer against the real API server: it re-watches when the server ends
// a watch, re-lists after 410 Gone and turns what it missed into events, and
// re-lists periodically.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Informer, type InformerEvent, type KubeObject } from '../../../src/kube/informer.ts';
import { KubeClient, type RequestOptions, type WatchEvent } from '../../../src/kube/rest.ts';
import { createLogger } from '../../../src/log.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { eventually } from '../../support/wait.ts';

const configMaps = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
const log = createLogger('silent');

/**
 * The real client, except that `cut()` drops the live watch (as a broken
 * network would) and, until `restore()`, new watches deliver nothing; when
 * they are restored they report 410 Gone, as the API server does to a watcher
 * that fell too far behind. Lists always reach the real server.
 */
class BlackoutClient extends KubeClient {
  private dark = false;
  private live = new Set<AbortController>();
  watches = 0;
  cut(): void {
    this.dark = true;
    for (const c of this.live) c.abort();
  }
  restore(): void {
    this.dark = false;
  }
  override async watch<T>(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    this.watches++;
    if (this.dark) {
      while (this.dark && !signal.aborted) await new Promise((r) => setTimeout(r, 50));
      if (signal.aborted) return;
      onEvent({ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version' } as unknown as T });
      return;
    }
    const inner = new AbortController();
    const forward = () => inner.abort();
    signal.addEventListener('abort', forward, { once: true });
    this.live.add(inner);
    try {
      await super.watch(path, query, onEvent, inner.signal);
    } finally {
      this.live.delete(inner);
      signal.removeEventListener('abort', forward);
    }
  }
}

let ns: string;
let client: BlackoutClient;
const informers: Informer<KubeObject>[] = [];

function start(opts: { resyncMs?: number; watchTimeoutSeconds?: number } = {}) {
  const informer = new Informer<KubeObject>(
    client,
    configMaps,
    { namespaces: [ns], resyncMs: opts.resyncMs ?? 600_000, watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300 },
    log,
  );
  const events: string[] = [];
  informer.onChange((e: InformerEvent, o) => events.push(`${e} ${o.metadata.name}`));
  informer.start();
  informers.push(informer);
  return { informer, events };
}
const cm = (name: string, value: string) =>
  kubectlOk(['apply', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v: value } }));

beforeAll(async () => {
  ns = await createNamespace('informer');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig());
  client = new BlackoutClient(kc);
});

afterAll(async () => {
  await Promise.all(informers.map((i) => i.stop()));
  client.close();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

describe('Informer', () => {
  it('re-watches when the server ends each watch, missing nothing', async () => {
    const { informer, events } = start({ watchTimeoutSeconds: 1 });
    await eventually(async () => expect(informer.hasSynced()).toBe(true));
    const before = client.watches;
    await new Promise((r) => setTimeout(r, 2500));
    await cm('after-restarts', '1');
    await eventually(async () => expect(events).toContain('add after-restarts'));
    expect(client.watches - before).toBeGreaterThanOrEqual(2);
  });

  it('after 410 Gone, re-lists and reports what changed while it was blind', async () => {
    await cm('kept', '1');
    await cm('changed', '1');
    await cm('deleted', '1');
    const { informer, events } = start();
    await eventually(async () => expect(informer.get(ns, 'deleted')).toBeDefined());
    events.length = 0;

    client.cut();
    await cm('changed', '2');
    await kubectlOk(['delete', 'configmap', 'deleted', '-n', ns]);
    await cm('created', '1');
    await new Promise((r) => setTimeout(r, 300));
    expect(events).toEqual([]); // blind indeed
    client.restore();

    await eventually(async () => {
      expect(informer.get(ns, 'deleted')).toBeUndefined();
      expect((informer.get(ns, 'changed') as KubeObject & { data: { v: string } }).data.v).toBe('2');
      expect(informer.get(ns, 'created')).toBeDefined();
    });
    expect(events.sort()).toEqual(['add created', 'delete deleted', 'update changed']);
  });

  it('re-lists periodically, so a silent watch cannot hide a change for long', async () => {
    const { informer, events } = start({ resyncMs: 1000, watchTimeoutSeconds: 1 });
    await eventually(async () => expect(informer.hasSynced()).toBe(true));
    client.cut();
    await cm('seen-by-relist', '1');
    // Still blind: only the silence detector and the periodic re-list can find it.
    await eventually(async () => expect(events).toContain('add seen-by-relist'), 10_000);
    client.restore();
  });
});
