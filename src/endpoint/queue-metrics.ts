// Metrics of the store and the delivery queue. The queue's gauges are sampled
// (every replica sees the same queue: aggregate them with max(), not sum()).
import { Counter, Gauge, type Registry } from 'prom-client';

export interface QueueMetrics {
  accepted: Counter;
  outcomes: Counter<'namespace' | 'identity' | 'result'>;
  deferrals: Counter<'reason'>;
  messages: Gauge<'state'>;
  oldestAge: Gauge;
  storeUp: Gauge;
  storeInfo: Gauge<'store' | 'appendonly'>;
}

export function queueMetrics(registry: Registry): QueueMetrics {
  const reuse = <T>(name: string, make: (name: string) => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make(name);
  const registers = [registry];
  return {
    accepted: reuse('postmaster_queue_accepted_total', (name) => new Counter({ name, help: 'Messages stored for Queued delivery by this replica.', registers })),
    outcomes: reuse(
      'postmaster_queue_outcomes_total',
      (name) =>
        new Counter({
          name,
          help: 'Queued messages finished by this replica, by namespace, identity and result (sent, bounced, expired).',
          labelNames: ['namespace', 'identity', 'result'] as const,
          registers,
        }),
    ),
    deferrals: reuse(
      'postmaster_queue_deferrals_total',
      (name) =>
        new Counter({ name, help: 'Queued delivery attempts that failed for now and were deferred, by error code.', labelNames: ['reason'] as const, registers }),
    ),
    messages: reuse(
      'postmaster_queue_messages',
      (name) =>
        new Gauge({ name, help: 'Messages in the shared queue by state (queued, deferred, sending); the same on every replica.', labelNames: ['state'] as const, registers }),
    ),
    oldestAge: reuse(
      'postmaster_queue_oldest_age_seconds',
      (name) => new Gauge({ name, help: 'Age of the oldest queued or deferred message (0 when none).', registers }),
    ),
    storeUp: reuse('postmaster_store_up', (name) => new Gauge({ name, help: '1 when the state store answers, 0 when it is unreachable.', registers })),
    storeInfo: reuse(
      'postmaster_store_info',
      (name) =>
        new Gauge({ name, help: 'The state store in use, and whether it keeps an append-only file.', labelNames: ['store', 'appendonly'] as const, registers }),
    ),
  };
}
