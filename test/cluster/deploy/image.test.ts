// What the image runs, run the way the chart runs it: the tsc build (dist/) with
// a production-only install (npm ci --omit=dev), as uid 1000, with the root
// filesystem read-only (a private mount namespace remounts / read-only for it
// alone) and the chart's RBAC. It answers /healthz, sends a message, and its
// /metrics passes promtool and holds every metric the dashboard and the alerts
// query.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { render, type KubeObject } from '../../support/helm.ts';
import { createNamespace, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { freePort } from '../../support/ports.ts';
import { serviceAccountKubeconfig } from '../../support/service-account.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { ksmMetricNames, metricNamesIn } from '../../support/promql.ts';
import { eventually, getCondition } from '../../support/wait.ts';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..', '..');
const UID = 1000;

let app: string;
let ns: string;
let sink: SmtpSink;
let child: ChildProcess;
let output = '';
const ports = { health: 0, http: 0, smtp: 0 };
let scrape = '';

beforeAll(async () => {
  // The production install, as the Dockerfile's deps and build stages make it.
  app = mkdtempSync(join(tmpdir(), 'postmaster-image-'));
  chmodSync(app, 0o755);
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(repo, f), join(app, f));
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
  await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json'), '--outDir', join(app, 'dist')], {
    maxBuffer: 16 * 1024 * 1024,
  });

  // The chart's RBAC for a release watching one test namespace.
  ns = await createNamespace('image');
  const release = 'img';
  const rbac = render({ release, namespace: ns, set: [`namespaces={${ns}}`] }).filter(
    (o: KubeObject) => o.kind === 'ServiceAccount' || o.apiVersion.startsWith('rbac.authorization.k8s.io/'),
  );
  await kubectlOk(['apply', '--server-side', '-f', '-'], rbac.map((o) => stringify(o)).join('---\n'));
  const kubeconfig = await serviceAccountKubeconfig(ns, `${release}-postmaster`);

  sink = await startSmtpSink({ mode: 'None', noAuth: true });
  [ports.health, ports.http, ports.smtp] = [await freePort(), await freePort(), await freePort()];
  // The chart's flags, on loopback ports.
  const args = [
    'dist/main.js',
    `--kubeconfig=${kubeconfig}`,
    `--namespaces=${ns}`,
    `--health-port=${ports.health}`,
    `--http-port=${ports.http}`,
    `--smtp-port=${ports.smtp}`,
    '--bind-address=127.0.0.1',
    `--service-name=${release}-postmaster`,
    `--service-namespace=${ns}`,
    `--leader-election-namespace=${ns}`,
    `--leader-election-id=${release}-postmaster-leader`,
    '--check-step-timeout=2s',
  ];
  const script = 'mount -o remount,bind,ro / && exec setpriv --reuid=$0 --regid=$0 --clear-groups --no-new-privs -- "$@"';
  child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, String(UID), process.execPath, ...args], {
    cwd: app,
    env: { PATH: process.env.PATH, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}:\n${output}`);
    expect((await fetch(`http://127.0.0.1:${ports.health}/readyz`)).status).toBe(200);
  }, 30_000);
}, 240_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  }
  await sink?.close();
  if (ns) await kubectl(['delete', 'ns', ns, '--wait=false']);
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the compiled operator, as uid 1000 on a read-only root filesystem', () => {
  it('runs as uid 1000 and answers /healthz', async () => {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1, 3)).toEqual([String(UID), String(UID)]);
    expect(/^Gid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(UID));
    const res = await fetch(`http://127.0.0.1:${ports.health}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    // Its root filesystem is read-only (fields: id, parent, dev, root, mount point, options).
    const root = readFileSync(`/proc/${child.pid}/mountinfo`, 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[4] === '/');
    expect(root.at(-1)?.[5]?.split(',')).toContain('ro');
    expect(output).not.toMatch(/EROFS|EACCES|read-only file system/i);
  });

  it('reconciles and sends with the chart\'s RBAC', async () => {
    await apply(
      ns,
      resource('SmtpTarget', 'sink', { host: '127.0.0.1', port: sink.port, security: 'None' }),
      resource('EmailServer', 'sink', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, default: true }),
      resource('SenderIdentity', 'app', { email: 'app@example.com' }),
    );
    await eventually(async () => expect(await getCondition('senderidentity', ns, 'app', 'Ready')).toMatchObject({ status: 'True' }), 30_000);
    await kubectlOk(['create', 'serviceaccount', 'caller', '-n', ns]);
    await kubectlOk(['create', 'role', 'send', '-n', ns, '--verb=send', '--resource=senderidentities.email.postmaster.dev']);
    await kubectlOk(['create', 'rolebinding', 'send', '-n', ns, '--role=send', `--serviceaccount=${ns}:caller`]);
    const token = (await kubectlOk(['create', 'token', 'caller', '-n', ns, '--audience', 'postmaster'])).trim();
    const send = (auth: string) =>
      fetch(`http://127.0.0.1:${ports.http}/v1/messages`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ sender: 'app', to: ['ops@example.com'], subject: 'from the image', text: 'ok' }),
      });
    const ok = await send(`Bearer ${token}`);
    expect(ok.status, await ok.clone().text()).toBe(200);
    await ok.arrayBuffer();
    // And one refusal, so the error counters carry a sample too.
    const refused = await send('Bearer not-a-token');
    expect(refused.status).toBe(401);
    await refused.arrayBuffer();
    expect(sink.messages).toHaveLength(1);
    expect(output).not.toMatch(/forbidden/i);
  });

  it('serves /metrics that promtool check metrics accepts', async () => {
    scrape = await (await fetch(`http://127.0.0.1:${ports.health}/metrics`)).text();
    expect(scrape).toMatch(/^postmaster_endpoint_messages_total\{.*result="sent".*\} 1$/m);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (out += c.toString()));
      p.on('exit', (code) => resolve({ code, out }));
      p.stdin.end(scrape);
    });
    // Exit 1 is a parse error, 3 are lint findings. prom-client's default metrics
    // (collectDefaultMetrics) name three gauges *_total; any other finding fails.
    const known = /^postmaster_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    const findings = r.out.split('\n').filter((l) => l.trim() && !known.test(l));
    expect([0, 3], r.out).toContain(r.code);
    expect(findings).toEqual([]);
  });

  it('exports every metric the dashboard and the alerts query (or kube-state-metrics does, with the chart\'s config)', () => {
    const families = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const ksm = ksmMetricNames(parse(readFileSync(join(repo, 'charts', 'postmaster', 'files', 'kube-state-metrics.yaml'), 'utf8')));
    const known = (name: string) => families.has(name.replace(/_(bucket|sum|count)$/, '')) || ksm.has(name) || name === 'up';

    const dashboard = JSON.parse(readFileSync(join(repo, 'charts', 'postmaster', 'files', 'dashboards', 'postmaster.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
      templating: { list: { query?: { query: string } }[] };
    };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.flatMap((v) => (v.query?.query ? [v.query.query] : [])),
    ];
    const rule = render({ set: ['prometheusRule.enabled=true'] }).find((o) => o.kind === 'PrometheusRule') as unknown as {
      spec: { groups: { rules: { expr: string }[] }[] };
    };
    exprs.push(...rule.spec.groups.flatMap((g) => g.rules.map((r) => r.expr)));

    const used = new Set(exprs.flatMap(metricNamesIn));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !known(n))).toEqual([]);
    // The operator's own metrics come from this scrape, not from kube-state-metrics.
    for (const n of ['postmaster_endpoint_messages_total', 'postmaster_endpoint_send_duration_seconds_bucket', 'postmaster_reconcile_total']) {
      expect(used.has(n)).toBe(true);
      expect(families.has(n.replace(/_bucket$/, ''))).toBe(true);
    }
  });
});
