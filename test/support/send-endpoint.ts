// The send endpoint's HTTP door run in the test process against the real API
// server: a Controller (caches and reconcilers, no connection tests), the
// Directory over its caches, the pipeline and the door on 127.0.0.1:0 — wired as
// src/main.ts will wire them. Tests that need the whole operator use startOperator.
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Controller } from '../../src/controller/manager.ts';
import { noTester } from '../../src/controller/tester.ts';
import { createDirectory } from '../../src/endpoint/directory.ts';
import { createHttpDoor, type HttpDoor } from '../../src/endpoint/http.ts';
import { createPipeline, type DeliveryPipeline } from '../../src/endpoint/pipeline.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import { KubeClient } from '../../src/kube/rest.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics, type Metrics } from '../../src/metrics.ts';
import type { RoutingOptions } from '../../src/routing/api-account.ts';
import { ClusterCache } from '../../src/routing/cache.ts';
import { kubeconfig } from './kubectl.ts';

export interface SendEndpoint {
  url: string;
  pipeline: DeliveryPipeline;
  door: HttpDoor;
  controller: Controller;
  cache: ClusterCache;
  metrics: Metrics;
  /** Everything logged (JSON lines), to check what never appears there. */
  logs(): string;
  stop(): Promise<void>;
}

export interface SendEndpointOptions {
  namespaces: string[];
  apiBaseUrls?: RoutingOptions['apiBaseUrls'];
  authCacheTtlMs?: number;
}

export async function startSendEndpoint(opts: SendEndpointOptions): Promise<SendEndpoint> {
  let output = '';
  const log: Logger = createLogger('debug', { write: (line: string) => void (output += line) });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig());
  const client = new KubeClient(kc);
  const metrics = createMetrics();
  const recorder = new EventRecorder(client, { component: 'postmaster', instance: 'test', aggregateWindowMs: 60_000, minWriteIntervalMs: 1_000 }, log);
  const routing: RoutingOptions = { apiBaseUrls: opts.apiBaseUrls ?? {} };
  const cache = new ClusterCache(client, { namespaces: opts.namespaces, resyncMs: 10 * 60_000, watchTimeoutSeconds: 300 }, log);
  const controller = new Controller({
    client,
    cache,
    options: {
      queue: { workers: 2, baseRetryMs: 200, maxRetryMs: 5_000 },
      routing,
    },
    tester: noTester,
    recorder,
    metrics,
    log,
  });
  cache.start();
  const deadline = Date.now() + 30_000;
  while (!cache.hasSynced()) {
    if (Date.now() > deadline) throw new Error(`caches not synced after 30s:\n${output.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const stopReconciling = controller.startReconciling();
  const directory = createDirectory(cache, routing);
  const pipeline = createPipeline({
    client,
    directory,
    log,
    metrics,
    ...(opts.authCacheTtlMs !== undefined ? { authCacheTtlMs: opts.authCacheTtlMs } : {}),
  });
  const door = createHttpDoor({ pipeline, log });
  const { port } = await door.listen(0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}`,
    pipeline,
    door,
    controller,
    cache,
    metrics,
    logs: () => output,
    async stop() {
      // The order main.ts uses on SIGTERM: stop taking requests, finish those in flight, close.
      door.startDraining();
      await pipeline.drain();
      await door.close();
      await pipeline.close();
      await stopReconciling();
      await cache.stop();
      client.close();
    },
  };
}
