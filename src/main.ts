// Wiring only: config -> logger -> clients -> controller -> servers -> signals.
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, loadConfig, usage } from './config.ts';
import { Controller } from './controller/manager.ts';
import { noTester } from './controller/tester.ts';
import { startHealthServer } from './health.ts';
import { EventRecorder } from './kube/events.ts';
import { LeaderElector } from './kube/leader.ts';
import { KubeClient } from './kube/rest.ts';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { createConnectionTester } from './providers/tester.ts';

let config;
try {
  config = loadConfig(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`postmaster: ${err.message}\n\n${usage()}`);
  process.exit(2);
}
if (config === 'help') {
  process.stdout.write(usage());
  process.exit(0);
}

const log = createLogger(config.logLevel);
const kc = new KubeConfig();
if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
else kc.loadFromCluster();
const client = new KubeClient(kc);
const metrics = createMetrics();
const recorder = new EventRecorder(
  client,
  { component: 'postmaster', instance: config.identity, aggregateWindowMs: 10 * 60_000, minWriteIntervalMs: 60_000 },
  log,
);
const controller = new Controller({
  client,
  options: {
    namespaces: config.namespaces,
    resyncMs: config.resyncMs,
    watchTimeoutSeconds: 300,
    queue: { workers: config.workers, baseRetryMs: 1000, maxRetryMs: 5 * 60_000 },
    emailServer: { apiBaseUrls: config.apiBaseUrls },
  },
  tester: config.connectionTests
    ? createConnectionTester({ maxConcurrent: config.maxConcurrentTests, stepTimeoutMs: config.checkStepTimeoutMs })
    : noTester,
  recorder,
  metrics,
  log,
});

let draining = false;
controller.startInformers();
const health = await startHealthServer(
  config.healthPort,
  config.bindAddress,
  {
    ready: () => {
      if (draining) return { ok: false, detail: 'shutting down' };
      return controller.hasSynced() ? { ok: true, detail: 'ok' } : { ok: false, detail: 'caches not synced' };
    },
  },
  metrics.registry,
);
log.info({ healthPort: config.healthPort, namespaces: config.namespaces.length ? config.namespaces : 'all' }, 'postmaster started');

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
      log,
    ).run(startReconciling, shutdown.signal)
  : (async () => {
      const stop = startReconciling();
      await new Promise((resolve) => shutdown.signal.addEventListener('abort', resolve, { once: true }));
      await stop();
    })();

async function stop(signal: string): Promise<void> {
  if (draining) return;
  draining = true;
  log.info({ signal }, 'shutting down');
  shutdown.abort();
  await elected;
  await controller.stopInformers();
  await health.close();
  client.close();
  log.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
