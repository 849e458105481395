// Wiring only: config -> logger -> clients -> controller -> servers -> signals.
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, usage, type Config } from './config.ts';
import { Controller } from './controller/manager.ts';
import { noTester } from './controller/tester.ts';
import { identityExtrasHook } from './endpoint/credentials.ts';
import { createDirectory } from './endpoint/directory.ts';
import { createHttpDoor } from './endpoint/http.ts';
import { createPipeline } from './endpoint/pipeline.ts';
import { createSmtpDoor } from './endpoint/smtp.ts';
import { startHealthServer } from './health.ts';
import { EventRecorder } from './kube/events.ts';
import { sleep } from './kube/informer.ts';
import { LeaderElector } from './kube/leader.ts';
import { KubeConfigFile } from './kube/kubeconfig.ts';
import { KubeClient } from './kube/rest.ts';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { configureIdentityEndpoints } from './providers/oauth2/endpoints.ts';
import { createTxtLookup } from './providers/dkim/dns.ts';
import { createConnectionTester } from './providers/tester.ts';
import { ClusterCache } from './routing/cache.ts';
import { memoryStore, redisStore } from './store/store.ts';

function configure(): Config {
  try {
    const loaded = loadConfig(process.argv.slice(2), process.env);
    if (loaded !== 'help') return loaded;
    process.stdout.write(usage());
    process.exit(0);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`postmaster: ${err.message}\n\n${usage()}`);
    process.exit(2);
  }
}
const config = configure();
configureIdentityEndpoints(config.identityUrls);

const root = createLogger(config.logLevel);
const log = root.child({ component: 'operator' });
const controllerLog = root.child({ component: 'controller' });
function kubeClient(): KubeClient {
  try {
    return new KubeClient(config.kubeconfig ? KubeConfigFile.fromFile(config.kubeconfig) : KubeConfigFile.inCluster());
  } catch (err) {
    const source = config.kubeconfig ? `kubeconfig "${config.kubeconfig}"` : 'the in-cluster configuration';
    process.stderr.write(`postmaster: cannot load ${source}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
const client = kubeClient();
const metrics = createMetrics();
const recorder = new EventRecorder(
  client,
  { component: 'postmaster', instance: config.identity, aggregateWindowMs: 10 * 60_000, minWriteIntervalMs: 60_000 },
  controllerLog,
);
const endpointAddress = {
  service: `${config.serviceName}.${config.serviceNamespace}.svc`,
  httpPath: '/v1/messages',
  smtpPort: 2525,
};
const routing = { apiBaseUrls: config.apiBaseUrls };
// What replicas share: in memory (this replica only), or Valkey/Redis with --redis-url.
const store = config.redis ? redisStore({ ...config.redis, log: root.child({ component: 'store' }) }) : memoryStore();
const cache = new ClusterCache(client, { namespaces: config.namespaces, resyncMs: config.resyncMs, watchTimeoutSeconds: 300 }, controllerLog);
const controller = new Controller({
  client,
  cache,
  options: {
    queue: { workers: config.workers, baseRetryMs: 1000, maxRetryMs: 5 * 60_000 },
    routing,
    store,
  },
  tester: config.connectionTests
    ? createConnectionTester({ maxConcurrent: config.maxConcurrentTests, stepTimeoutMs: config.checkStepTimeoutMs })
    : noTester,
  recorder,
  metrics,
  log: controllerLog,
  hooks: { identityExtras: identityExtrasHook(client, cache.secret, endpointAddress) },
  dns: createTxtLookup({ servers: config.dnsServers }),
});

// The send endpoint: every replica serves it from its own caches.
const directory = createDirectory(cache, routing);
// The doors and the pipeline name their own component.
const pipeline = createPipeline({
  client,
  directory,
  log: root,
  metrics,
  authOutageGraceMs: config.authOutageGraceMs,
  store,
  queue: { ...config.queue, reportingMta: endpointAddress.service },
  // One Warning per identity and outcome, aggregated by the recorder (count, lastTimestamp), not one per message.
  onFinal: ({ namespace, identity, state }) => {
    const obj = cache.senderIdentity(namespace, identity);
    if (!obj) return;
    const [reason, what] = state === 'bounced' ? ['MessagesBounced', 'bounced: an upstream refused them for good'] : ['MessagesExpired', 'expired before they could be delivered'];
    recorder.post(obj, 'Warning', reason, `Queued messages sent as this identity ${what}. GET /v1/messages/{id} shows each one's last reply.`);
  },
});
const httpDoor = createHttpDoor({
  pipeline,
  log: root,
  server: { requestTimeoutMs: config.httpRequestTimeoutMs, maxConnections: config.httpMaxConnections },
});
const smtpDoor = createSmtpDoor({
  pipeline,
  directory,
  log: root,
  port: config.smtpPort,
  host: config.bindAddress,
  maxMessageBytes: config.maxMessageBytes,
  ...(config.smtpTls
    ? { tls: { cert: readFileSync(config.smtpTls.certFile, 'utf8'), key: readFileSync(config.smtpTls.keyFile, 'utf8') } }
    : {}),
});

let draining = false;
cache.start();
const health = await startHealthServer(
  config.healthPort,
  config.bindAddress,
  {
    ready: () => {
      if (draining) return { ok: false, detail: 'shutting down' };
      return cache.hasSynced() ? { ok: true, detail: 'ok' } : { ok: false, detail: 'caches not synced' };
    },
  },
  metrics.registry,
);
await httpDoor.listen(config.httpPort, config.bindAddress);
await smtpDoor.listen();
// Queue workers resolve identities from the caches: they start once those are synced.
void (async () => {
  while (!cache.hasSynced() && !draining) await sleep(100);
  if (!draining) pipeline.startWorkers();
})();
log.info(
  { healthPort: config.healthPort, httpPort: config.httpPort, smtpPort: config.smtpPort, namespaces: config.namespaces.length ? config.namespaces : 'all' },
  'postmaster started',
);

const shutdown = new AbortController();
const startReconciling = () => {
  metrics.leader.set(1);
  const stop = controller.startReconciling();
  return async () => {
    metrics.leader.set(0);
    await stop();
  };
};
const elected = config.leaderElection
  ? new LeaderElector(
      client,
      {
        namespace: config.leaderElectionNamespace,
        name: config.leaderElectionId,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
      },
      controllerLog,
    ).run(startReconciling, shutdown.signal)
  : (async () => {
      const stop = startReconciling();
      await new Promise((resolve) => shutdown.signal.addEventListener('abort', resolve, { once: true }));
      await stop();
    })();

async function stop(signal: string): Promise<void> {
  if (draining) return;
  // Readiness fails first, so Services stop routing here before the doors refuse work.
  draining = true;
  log.info({ signal, inFlight: pipeline.inFlight }, 'shutting down: draining the send endpoint');
  await sleep(config.drainDelayMs);
  httpDoor.startDraining();
  smtpDoor.stopAccepting();
  await pipeline.drain();
  await Promise.all([smtpDoor.close(), httpDoor.close()]);
  await pipeline.close();
  shutdown.abort();
  await elected;
  await recorder.flush();
  await cache.stop();
  await health.close();
  client.close();
  log.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
