// The send endpoint's Prometheus metrics, on the registry the operator serves.
// Labels name only objects that exist (a resolved identity, its server), never
// what a caller typed, so a caller cannot grow the label space.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface EndpointMetrics {
  messages: Counter<'door' | 'namespace' | 'identity' | 'server' | 'provider' | 'route' | 'result'>;
  sendDuration: Histogram<'provider' | 'route' | 'result'>;
  upstreamErrors: Counter<'provider' | 'route' | 'reason'>;
  refused: Counter<'door' | 'code'>;
  replays: Counter<'door'>;
  inFlight: Gauge;
}

/** Creates the metrics on `registry`, or reuses them when another pipeline already did. */
export function endpointMetrics(registry: Registry): EndpointMetrics {
  const reuse = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  const registers = [registry];
  return {
    messages: reuse(
      'postmaster_endpoint_messages_total',
      () =>
        new Counter({
          name: 'postmaster_endpoint_messages_total',
          help: 'Messages for a known identity by door, namespace, identity, server, provider, route and result (sent or the error code).',
          labelNames: ['door', 'namespace', 'identity', 'server', 'provider', 'route', 'result'] as const,
          registers,
        }),
    ),
    sendDuration: reuse(
      'postmaster_endpoint_send_duration_seconds',
      () =>
        new Histogram({
          name: 'postmaster_endpoint_send_duration_seconds',
          help: 'Time the upstream took to accept or refuse one message, per attempt.',
          labelNames: ['provider', 'route', 'result'] as const,
          buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
          registers,
        }),
    ),
    upstreamErrors: reuse(
      'postmaster_endpoint_upstream_errors_total',
      () =>
        new Counter({
          name: 'postmaster_endpoint_upstream_errors_total',
          help: 'Failed upstream attempts by provider, route and reason (e.g. UpstreamUnavailable, UpstreamRejected).',
          labelNames: ['provider', 'route', 'reason'] as const,
          registers,
        }),
    ),
    refused: reuse(
      'postmaster_endpoint_errors_total',
      () =>
        new Counter({
          name: 'postmaster_endpoint_errors_total',
          help: 'Requests answered with an error, by door ("any" for token checks) and error code.',
          labelNames: ['door', 'code'] as const,
          registers,
        }),
    ),
    replays: reuse(
      'postmaster_endpoint_idempotent_replays_total',
      () =>
        new Counter({
          name: 'postmaster_endpoint_idempotent_replays_total',
          help: 'Requests answered with the stored result of an earlier one with the same Idempotency-Key.',
          labelNames: ['door'] as const,
          registers,
        }),
    ),
    inFlight: reuse(
      'postmaster_endpoint_in_flight',
      () => new Gauge({ name: 'postmaster_endpoint_in_flight', help: 'Messages being sent right now.', registers }),
    ),
  };
}
