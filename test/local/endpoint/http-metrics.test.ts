// The send endpoint's metrics as Prometheus scrapes them: names, help, labels
// and buckets, and one set per registry however many pipelines ask.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { endpointMetrics } from '../../../src/endpoint/metrics.ts';

describe('endpointMetrics', () => {
  it('publishes each metric with its help and labels', async () => {
    const registry = new Registry();
    const m = endpointMetrics(registry);
    m.messages.inc({ door: 'http', namespace: 'team', identity: 'alerts', server: 'relay', provider: 'SMTP', route: 'primary', result: 'sent' });
    m.sendDuration.observe({ provider: 'SMTP', route: 'primary', result: 'sent' }, 0.02);
    m.upstreamErrors.inc({ provider: 'SendGrid', route: 'primary', reason: 'UpstreamUnavailable' });
    m.refused.inc({ door: 'any', code: 'unauthenticated' });
    m.replays.inc({ door: 'smtp' });
    m.inFlight.set(2);
    const text = await registry.metrics();
    for (const line of [
      '# HELP postmaster_endpoint_messages_total Messages for a known identity by door, namespace, identity, server, provider, route and result (sent or the error code).',
      '# TYPE postmaster_endpoint_messages_total counter',
      'postmaster_endpoint_messages_total{door="http",namespace="team",identity="alerts",server="relay",provider="SMTP",route="primary",result="sent"} 1',
      '# HELP postmaster_endpoint_send_duration_seconds Time the upstream took to accept or refuse one message, per attempt.',
      '# TYPE postmaster_endpoint_send_duration_seconds histogram',
      '# HELP postmaster_endpoint_upstream_errors_total Failed upstream attempts by provider, route and reason (e.g. UpstreamUnavailable, UpstreamRejected).',
      'postmaster_endpoint_upstream_errors_total{provider="SendGrid",route="primary",reason="UpstreamUnavailable"} 1',
      '# HELP postmaster_endpoint_errors_total Requests answered with an error, by door ("any" for token checks) and error code.',
      'postmaster_endpoint_errors_total{door="any",code="unauthenticated"} 1',
      '# HELP postmaster_endpoint_idempotent_replays_total Requests answered with the stored result of an earlier one with the same Idempotency-Key.',
      'postmaster_endpoint_idempotent_replays_total{door="smtp"} 1',
      '# HELP postmaster_endpoint_in_flight Messages being sent right now.',
      '# TYPE postmaster_endpoint_in_flight gauge',
      'postmaster_endpoint_in_flight 2',
    ]) {
      expect(text.split('\n'), line).toContain(line);
    }
    const buckets = [...text.matchAll(/postmaster_endpoint_send_duration_seconds_bucket\{le="([^"]+)"/g)].map((b) => b[1]);
    expect(buckets).toEqual(['0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf']);
    expect(text).toContain('postmaster_endpoint_send_duration_seconds_bucket{le="0.025",provider="SMTP",route="primary",result="sent"} 1');
    expect(text).toContain('postmaster_endpoint_send_duration_seconds_bucket{le="0.01",provider="SMTP",route="primary",result="sent"} 0');
  });

  it('a second pipeline on the same registry counts into the same metrics', async () => {
    const registry = new Registry();
    const a = endpointMetrics(registry);
    const b = endpointMetrics(registry);
    for (const k of Object.keys(a) as (keyof typeof a)[]) expect(b[k], k).toBe(a[k]);
    a.replays.inc({ door: 'http' });
    b.replays.inc({ door: 'http' });
    expect(await registry.metrics()).toContain('postmaster_endpoint_idempotent_replays_total{door="http"} 2');
    expect(endpointMetrics(new Registry()).replays).not.toBe(a.replays);
  });
});
