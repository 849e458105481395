// The chart's PrometheusRule through promtool: the rules are valid, and each
// alert fires on the series that mean trouble (and not on healthy ones), with
// the summary the README documents. The kube-state-metrics config reads fields
// the CRDs have, and the dashboard is a Grafana dashboard.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { render } from '../../support/helm.ts';
import { ksmMetricNames } from '../../support/promql.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const chart = join(repo, 'charts', 'postmaster');
const op = 'job="postmaster-metrics", namespace="postmaster-system"';
const runbook = (alert: string) => `https://github.com/postmaster-dev/postmaster/blob/main/README.md#${alert.toLowerCase()}`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'postmaster-rules-'));
  const rule = render({ set: ['prometheusRule.enabled=true'] }).find((o) => o.kind === 'PrometheusRule') as unknown as { spec: unknown };
  writeFileSync(join(dir, 'rules.yaml'), stringify(rule.spec));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const promtool = (args: string[]) =>
  new Promise<{ code: number; out: string }>((resolve) =>
    execFile('promtool', args, { cwd: dir }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    ),
  );

/** The PostmasterMessagesBounced alert promtool should see for one identity. */
const bounced = (namespace: string, identity: string, result: 'bounced' | 'expired', count: number) => ({
  exp_labels: { severity: 'warning', exported_namespace: namespace, identity, result },
  exp_annotations: {
    summary: `${count} queued message(s) from ${namespace}/${identity} ${result === 'expired' ? 'expired undelivered' : 'bounced'} in the last 15 minutes.`,
    description: `${result === 'expired' ? 'They were retried until spec.delivery.expireAfter ran out' : 'The upstream refused them permanently'}; the Warning events of SenderIdentity ${namespace}/${identity} say why.`,
    runbook_url: runbook('PostmasterMessagesBounced'),
  },
});

describe('the PrometheusRule', () => {
  it('passes promtool check rules', async () => {
    const r = await promtool(['check', 'rules', 'rules.yaml']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: 9 rules found/);
  });

  it('fires each alert on trouble and stays quiet otherwise (promtool test rules)', async () => {
    const tests = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // mail/relay: 10% of sends fail upstream; mail/healthy: 2%.
            { series: `postmaster_endpoint_messages_total{${op}, server="mail/relay", result="sent"}`, values: '0+90x40' },
            { series: `postmaster_endpoint_messages_total{${op}, server="mail/relay", result="upstream_unavailable"}`, values: '0+10x40' },
            { series: `postmaster_endpoint_messages_total{${op}, server="mail/relay", result="forbidden"}`, values: '0+500x40' },
            { series: `postmaster_endpoint_messages_total{${op}, server="mail/healthy", result="sent"}`, values: '0+98x40' },
            { series: `postmaster_endpoint_messages_total{${op}, server="mail/healthy", result="upstream_rejected"}`, values: '0+2x40' },
            { series: `postmaster_reconcile_total{${op}, kind="SmtpTarget", result="error"}`, values: '0+1x40' },
            { series: `postmaster_reconcile_total{${op}, kind="EmailServer", result="error"}`, values: '0x40' },
            { series: `postmaster_leader{${op}, pod="a"}`, values: '0x40' },
            { series: `postmaster_leader{${op}, pod="b"}`, values: '0x40' },
            { series: `up{${op}, pod="a"}`, values: '0x40' },
            {
              series: 'kube_customresource_postmaster_status_condition{customresource_kind="SmtpTarget", namespace="mail", name="relay", type="Ready", reason="AuthenticationFailed"}',
              values: '0x40',
            },
            {
              series: 'kube_customresource_postmaster_status_condition{customresource_kind="EmailServer", namespace="mail", name="relay", type="Ready", reason="Succeeded"}',
              values: '1x40',
            },
            // The store: replica b loses it at 6m, replica a never does.
            { series: `postmaster_store_up{${op}, pod="a"}`, values: '1x40' },
            { series: `postmaster_store_up{${op}, pod="b"}`, values: '1x5 0x35' },
            // shop/alerts: 5 bounces on replica a (11m to 15m) and 1 on b (13m); sent mail is no trouble.
            { series: `postmaster_queue_outcomes_total{${op}, pod="a", exported_namespace="shop", identity="alerts", result="sent"}`, values: '0+10x40' },
            { series: `postmaster_queue_outcomes_total{${op}, pod="a", exported_namespace="shop", identity="alerts", result="bounced"}`, values: '0x10 1 2 3 4 5 5x25' },
            { series: `postmaster_queue_outcomes_total{${op}, pod="b", exported_namespace="shop", identity="alerts", result="bounced"}`, values: '0x12 1x28' },
            // billing/invoices: its first expiry ever at 20m, a series that starts at 1.
            { series: `postmaster_queue_outcomes_total{${op}, pod="b", exported_namespace="billing", identity="invoices", result="expired"}`, values: '_x20 1x20' },
            // The oldest message ages two minutes a minute; both replicas see the same queue.
            { series: `postmaster_queue_oldest_age_seconds{${op}, pod="a"}`, values: '0+120x40' },
            { series: `postmaster_queue_oldest_age_seconds{${op}, pod="b"}`, values: '0+120x40' },
            { series: `postmaster_queue_messages{${op}, pod="a", state="deferred"}`, values: '5x40' },
            // Expires 10 days (and, for the other, 30 days) after the test's time 0.
            { series: 'kube_customresource_postmaster_certificate_expiry_timestamp_seconds{namespace="mail", name="relay", host="smtp.example.com"}', values: '864000x80' },
            { series: 'kube_customresource_postmaster_certificate_expiry_timestamp_seconds{namespace="mail", name="far", host="far.example.com"}', values: '2592000x80' },
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'PostmasterSendErrorRatioHigh', exp_alerts: [] },
            {
              eval_time: '30m',
              alertname: 'PostmasterSendErrorRatioHigh',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', server: 'mail/relay' },
                  exp_annotations: {
                    summary: 'More than 5% of the mail sent through mail/relay has failed for 10 minutes.',
                    description: '10% of sends failed upstream; postmaster_endpoint_upstream_errors_total says why.',
                    runbook_url: runbook('PostmasterSendErrorRatioHigh'),
                  },
                },
              ],
            },
            {
              eval_time: '30m',
              alertname: 'PostmasterReconcileErrors',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', kind: 'SmtpTarget' },
                  exp_annotations: {
                    summary: 'Reconciles of SmtpTarget have failed with errors for 15 minutes.',
                    description: 'Errors are failures of the operator itself (API server trouble, a bug), not a bad spec; the operator logs name the object.',
                    runbook_url: runbook('PostmasterReconcileErrors'),
                  },
                },
              ],
            },
            {
              eval_time: '10m',
              alertname: 'PostmasterNoLeader',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning' },
                  exp_annotations: {
                    summary: 'No postmaster replica has held the leader Lease for 5 minutes.',
                    description: 'Mail is still sent, but no object is reconciled or re-tested.',
                    runbook_url: runbook('PostmasterNoLeader'),
                  },
                },
              ],
            },
            {
              eval_time: '10m',
              alertname: 'PostmasterDown',
              exp_alerts: [
                {
                  exp_labels: { severity: 'critical' },
                  exp_annotations: {
                    summary: 'No postmaster replica has been scraped for 5 minutes.',
                    description: 'Nothing reconciles and no pod serves the send endpoint, or Prometheus cannot reach /metrics.',
                    runbook_url: runbook('PostmasterDown'),
                  },
                },
              ],
            },
            { eval_time: '10m', alertname: 'PostmasterObjectNotReady', exp_alerts: [] },
            {
              eval_time: '20m',
              alertname: 'PostmasterObjectNotReady',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', customresource_kind: 'SmtpTarget', namespace: 'mail', name: 'relay' },
                  exp_annotations: {
                    summary: 'SmtpTarget mail/relay has not been Ready for 15m.',
                    description: '`kubectl describe smtptarget -n mail relay` shows the condition that is not met and why.',
                    runbook_url: runbook('PostmasterObjectNotReady'),
                  },
                },
              ],
            },
            { eval_time: '8m', alertname: 'PostmasterStoreDown', exp_alerts: [] },
            {
              eval_time: '15m',
              alertname: 'PostmasterStoreDown',
              exp_alerts: [
                {
                  exp_labels: { severity: 'critical', pod: 'b' },
                  exp_annotations: {
                    summary: 'postmaster replica b has not reached its Valkey/Redis store for 5 minutes.',
                    description: 'Queued sends are refused (503, SMTP 451) and nothing queued is delivered by it; Direct sends go on with per-replica idempotency keys and rate limits.',
                    runbook_url: runbook('PostmasterStoreDown'),
                  },
                },
              ],
            },
            { eval_time: '10m', alertname: 'PostmasterMessagesBounced', exp_alerts: [] },
            {
              eval_time: '18m',
              alertname: 'PostmasterMessagesBounced',
              exp_alerts: [bounced('shop', 'alerts', 'bounced', 6)],
            },
            {
              eval_time: '25m',
              alertname: 'PostmasterMessagesBounced',
              exp_alerts: [bounced('billing', 'invoices', 'expired', 1), bounced('shop', 'alerts', 'bounced', 6)],
            },
            // Fifteen quiet minutes later, and the new series is no longer new.
            { eval_time: '40m', alertname: 'PostmasterMessagesBounced', exp_alerts: [] },
            { eval_time: '20m', alertname: 'PostmasterQueueStuck', exp_alerts: [] },
            {
              eval_time: '30m',
              alertname: 'PostmasterQueueStuck',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning' },
                  exp_annotations: {
                    summary: 'The oldest queued message has waited 1h 0m 0s (more than 30 minutes) for 10 minutes.',
                    description:
                      'Queued mail is not leaving; an upstream is refusing or failing it temporarily, a rate limit holds it back, or no replica works the queue. postmaster_queue_messages by state and postmaster_endpoint_upstream_errors_total say which.',
                    runbook_url: runbook('PostmasterQueueStuck'),
                  },
                },
              ],
            },
            { eval_time: '30m', alertname: 'PostmasterCertificateExpiringSoon', exp_alerts: [] },
            {
              eval_time: '70m',
              alertname: 'PostmasterCertificateExpiringSoon',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', namespace: 'mail', name: 'relay', host: 'smtp.example.com' },
                  exp_annotations: {
                    summary: 'The certificate of smtp.example.com (SmtpTarget mail/relay) expires within 14 days.',
                    description: 'It expires 9d 22h 50m 0s from now; once it has, TLS and STARTTLS connections to it fail and so does mail sent through it.',
                    runbook_url: runbook('PostmasterCertificateExpiringSoon'),
                  },
                },
              ],
            },
          ],
        },
        {
          // A healthy operator: one leader, scraped, nothing failing.
          interval: '1m',
          input_series: [
            { series: `up{${op}, pod="a"}`, values: '1x40' },
            { series: `postmaster_leader{${op}, pod="a"}`, values: '1x40' },
            { series: `postmaster_leader{${op}, pod="b"}`, values: '0x40' },
            { series: `postmaster_reconcile_total{${op}, kind="SmtpTarget", result="success"}`, values: '0+5x40' },
            { series: `postmaster_endpoint_messages_total{${op}, server="mail/relay", result="sent"}`, values: '0+90x40' },
            // A queue that drains: messages come and go, none waits long, all are sent.
            { series: `postmaster_store_up{${op}, pod="a"}`, values: '1x40' },
            { series: `postmaster_store_up{${op}, pod="b"}`, values: '1x40' },
            { series: `postmaster_queue_oldest_age_seconds{${op}, pod="a"}`, values: '0 30 0 90 0 10 0 0x34' },
            { series: `postmaster_queue_outcomes_total{${op}, pod="a", exported_namespace="shop", identity="alerts", result="sent"}`, values: '0+10x40' },
            { series: `postmaster_queue_outcomes_total{${op}, pod="a", exported_namespace="shop", identity="alerts", result="bounced"}`, values: '0x40' },
          ],
          alert_rule_test: [
            'PostmasterDown',
            'PostmasterNoLeader',
            'PostmasterSendErrorRatioHigh',
            'PostmasterReconcileErrors',
            'PostmasterStoreDown',
            'PostmasterMessagesBounced',
            'PostmasterQueueStuck',
          ].map((alertname) => ({
            eval_time: '30m',
            alertname,
            exp_alerts: [],
          })),
        },
      ],
    };
    writeFileSync(join(dir, 'tests.yaml'), stringify(tests));
    const r = await promtool(['test', 'rules', 'tests.yaml']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });

  it('has a runbook section in the README for every alert', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const rules = parse(readFileSync(join(dir, 'rules.yaml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] };
    for (const { alert } of rules.groups.flatMap((g) => g.rules)) expect(readme).toMatch(new RegExp(`^#### ${alert}$`, 'm'));
  });

  it('takes the queue age threshold from prometheusRule.queueOldestMessageMinutes', () => {
    const rule = render({ set: ['prometheusRule.enabled=true', 'prometheusRule.queueOldestMessageMinutes=45'] }).find((o) => o.kind === 'PrometheusRule') as unknown as {
      spec: { groups: { rules: { alert: string; expr: string; annotations: { summary: string } }[] }[] };
    };
    const stuck = rule.spec.groups.flatMap((g) => g.rules).find((r) => r.alert === 'PostmasterQueueStuck')!;
    expect(stuck.expr).toMatch(/\) > 2700$/);
    expect(stuck.annotations.summary).toContain('(more than 45 minutes)');
  });

  it('leaves out the kube-state-metrics alerts when told to', () => {
    const rule = render({ set: ['prometheusRule.enabled=true', 'prometheusRule.kubeStateMetrics.enabled=false'] }).find(
      (o) => o.kind === 'PrometheusRule',
    ) as unknown as { spec: { groups: { name: string }[] } };
    expect(rule.spec.groups.map((g) => g.name)).toEqual(['postmaster.operator', 'postmaster.store']);
  });
});

describe('the kube-state-metrics config', () => {
  const values = parse(readFileSync(join(chart, 'files', 'kube-state-metrics.yaml'), 'utf8')) as {
    customResourceState: {
      config: {
        spec: {
          resources: {
            groupVersionKind: { group: string; version: string; kind: string };
            labelsFromPath: Record<string, string[]>;
            metrics: { name: string; labelsFromPath?: Record<string, string[]>; each: { gauge: { path: string[]; labelsFromPath?: Record<string, string[]>; valueFrom?: string[] } } }[];
          }[];
        };
      };
    };
  };

  interface Schema {
    properties?: Record<string, Schema>;
    items?: Schema;
  }
  interface Crd {
    spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
  }
  const crds = new Map(
    readdirSync(join(repo, 'crds'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => parse(readFileSync(join(repo, 'crds', f), 'utf8')) as Crd)
      .map((c) => [c.spec.names.kind, c] as const),
  );
  const crdOf = (kind: string): Crd => {
    const crd = crds.get(kind);
    if (!crd) throw new Error(`no CRD in crds/ for ${kind}`);
    return crd;
  };
  const crdSchema = (kind: string): Schema => crdOf(kind).spec.versions[0]!.schema.openAPIV3Schema;
  const resolve = (schema: Schema | undefined, path: string[]): Schema | undefined =>
    path.reduce<Schema | undefined>((s, seg) => (seg.startsWith('[') ? s?.items : s?.properties?.[seg] ?? s?.items?.properties?.[seg]), schema);

  it('covers every kind of the API, at the version the CRDs serve', () => {
    const resources = values.customResourceState.config.spec.resources;
    expect(resources.map((r) => r.groupVersionKind.kind).sort()).toEqual([...crds.keys()].sort());
    for (const r of resources) {
      const crd = crdOf(r.groupVersionKind.kind);
      expect(r.groupVersionKind.group).toBe(crd.spec.group);
      expect(crd.spec.versions.map((v) => v.name)).toContain(r.groupVersionKind.version);
    }
  });

  it('reads only fields the CRDs define', () => {
    for (const r of values.customResourceState.config.spec.resources) {
      const schema = crdSchema(r.groupVersionKind.kind);
      for (const m of r.metrics) {
        const path = m.each.gauge.path;
        const at = resolve(schema, path);
        expect(at, `${r.groupVersionKind.kind} ${path.join('.')}`).toBeDefined();
        for (const p of [...Object.values(m.each.gauge.labelsFromPath ?? {}), m.each.gauge.valueFrom ?? []]) {
          if (p.length) expect(resolve(at?.items ?? at, p), `${r.groupVersionKind.kind} ${path.join('.')}.${p.join('.')}`).toBeDefined();
        }
        for (const p of Object.values(m.labelsFromPath ?? {})) expect(resolve(schema, p), `${r.groupVersionKind.kind} ${p.join('.')}`).toBeDefined();
      }
    }
  });

  it('defines the metrics the alerts read', () => {
    expect([...ksmMetricNames(values)].sort()).toEqual([
      'kube_customresource_postmaster_certificate_expiry_timestamp_seconds',
      'kube_customresource_postmaster_status_condition',
    ]);
  });
});

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(chart, 'files', 'dashboards', 'postmaster.json'), 'utf8')) as {
    uid: string;
    panels: { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string; refId: string }[] }[];
  };

  it('is a dashboard whose panels all query the selected Prometheus data source', () => {
    expect(dashboard.uid).toBe('postmaster');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('shows what the issue asks for', () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Sends by identity', 'Sends by server and route', 'Sends by result', 'Send latency', 'Upstream errors', 'Refusals by code', 'Reconcile errors', 'Connection tests', 'SMTP certificate expiry']) {
      expect(titles).toContain(t);
    }
  });

  it('has a queue row: messages by state, the oldest message, outcomes by result and the store, aggregated as the metrics need', () => {
    const row = dashboard.panels.findIndex((p) => p.type === 'row' && p.title === 'Queue and store');
    expect(row).toBeGreaterThan(0);
    const next = dashboard.panels.findIndex((p, i) => i > row && p.type === 'row');
    const panels = new Map(dashboard.panels.slice(row + 1, next).map((p) => [p.title, p.targets!.map((t) => t.expr).join(' ')]));
    expect([...panels.keys()]).toEqual(['Queued messages by state', 'Oldest queued message', 'Queue outcomes by result', 'Bounced and expired by identity', 'Store up', 'Store']);
    // The queue gauges are the same shared queue seen from every replica: max, never sum.
    expect(panels.get('Queued messages by state')).toMatch(/^max by \(state\) \(postmaster_queue_messages\{/);
    expect(panels.get('Oldest queued message')).toMatch(/^max\(postmaster_queue_oldest_age_seconds\{/);
    // Outcomes are counted per replica: summed.
    expect(panels.get('Queue outcomes by result')).toMatch(/^sum by \(result\) \(rate\(postmaster_queue_outcomes_total\{/);
    expect(panels.get('Bounced and expired by identity')).toMatch(/^sum by \(exported_namespace, identity, result\)/);
    expect(panels.get('Store up')).toMatch(/postmaster_store_up\{/);
    expect(panels.get('Store')).toMatch(/postmaster_store_info\{/);
  });

  it('is the one the chart ships as a ConfigMap', () => {
    const cm = render({ set: ['grafanaDashboard.enabled=true'] }).find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string>; metadata: { labels: Record<string, string> } };
    expect(JSON.parse(cm.data['postmaster.json']!)).toEqual(dashboard);
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
  });
});
