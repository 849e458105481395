// Prometheus metrics on a registry of our own (no global state in tests).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'postmaster_' });
  const m = {
    registry,
    reconcileTotal: new Counter({
      name: 'postmaster_reconcile_total',
      help: 'Reconciles by kind and result (success, retry, error).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'postmaster_reconcile_duration_seconds',
      help: 'Time of one reconcile, connection tests included.',
      labelNames: ['kind'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'postmaster_workqueue_depth',
      help: 'Keys waiting in the reconcile queue.',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'postmaster_leader',
      help: '1 while this replica holds the leader lease.',
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
