// Reconcile at scale: applies S×100 SmtpTargets, S×100 EmailServers and
// S×1,000 SenderIdentities to a real API server, with connection tests and
// sender verification running against a local SMTP sink, and prints the time
// until every object is Ready and the operator's peak memory.
//
//   npm run bench:controller              # scales 1 and 2
//   npm run bench:controller -- 1         # one scale
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { SMTPServer } from 'smtp-server';
import { API_VERSION } from '../src/api/index.ts';
import { collectionPath, KubeClient } from '../src/kube/rest.ts';
import { resources } from '../src/kube/resources.ts';
import { startCluster } from '../test/support/cluster.ts';
import { startOperator } from '../test/support/operator.ts';
import { applyCrds } from '../test/support/kubectl-run.ts';

const scales = process.argv.slice(2).map(Number).filter((n) => n > 0);
const runs = scales.length > 0 ? scales : [1, 2];

const sink = new SMTPServer({
  authOptional: true,
  allowInsecureAuth: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onAuth: (auth, _session, cb) => cb(null, { user: auth.username }),
  onData: (s, _x, cb) => s.resume().on('end', () => cb()),
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.server.address() as { port: number }).port;

const cluster = await startCluster();
await applyCrds(cluster.kubeconfig);
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const client = new KubeClient(kc);

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => { for (let i = queue.shift(); i !== undefined; i = queue.shift()) await fn(i); }));
}

interface Listed { items: { status?: { conditions?: { type: string; status: string }[] } }[] }
async function readyCount(ns: string): Promise<number> {
  let n = 0;
  for (const r of [resources.smtpTarget, resources.emailServer, resources.senderIdentity]) {
    const list = await client.get<Listed>(collectionPath(r, ns));
    n += list.items.filter((o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  }
  return n;
}

const rows: string[] = [];
for (const scale of runs) {
  const ns = `bench-${scale}-${Date.now() % 100000}`;
  const targets = 100 * scale;
  const servers = 100 * scale;
  const identities = 1000 * scale;
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
  const op = await startOperator({
    kubeconfig: cluster.kubeconfig,
    namespaces: [ns],
    extraArgs: ['--log-level=warn', '--max-concurrent-tests=16', '--workers=8'],
  });
  const post = (r: typeof resources.smtpTarget, body: object) => client.request('POST', collectionPath(r, ns), { body });
  const started = performance.now();
  await post(resources.secret, { metadata: { name: 'login' }, stringData: { username: 'bench', password: 'bench-password' } });
  await inParallel([...Array(targets).keys()], 32, (i) =>
    post(resources.smtpTarget, {
      apiVersion: API_VERSION, kind: 'SmtpTarget', metadata: { name: `t${i}` },
      spec: { host: '127.0.0.1', port: sinkPort, security: 'None', credentials: { secretRef: { name: 'login' } } },
    }),
  );
  await inParallel([...Array(servers).keys()], 32, (i) =>
    post(resources.emailServer, {
      apiVersion: API_VERSION, kind: 'EmailServer', metadata: { name: `s${i}` },
      spec: { provider: 'SMTP', smtp: { targetRef: { name: `t${i % targets}` } } },
    }),
  );
  await inParallel([...Array(identities).keys()], 32, (i) =>
    post(resources.senderIdentity, {
      apiVersion: API_VERSION, kind: 'SenderIdentity', metadata: { name: `i${i}` },
      spec: { email: `sender${i}@example.com`, serverRef: { name: `s${i % servers}` } },
    }),
  );
  const created = performance.now();
  const total = targets + servers + identities;
  for (let ready = await readyCount(ns); ready < total; ready = await readyCount(ns)) {
    if (performance.now() - started > 15 * 60_000) throw new Error(`only ${ready}/${total} Ready after 15 minutes`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const allReady = performance.now();
  const status = readFileSync(`/proc/${op.process.pid}/status`, 'utf8');
  const peakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  const reconciles = await op.metric('postmaster_reconcile_total');
  await op.stop();
  rows.push(
    `| ${targets} / ${servers} / ${identities} | ${((created - started) / 1000).toFixed(1)} s | ${((allReady - started) / 1000).toFixed(1)} s | ${peakMiB.toFixed(0)} MiB | ${reconciles} |`,
  );
  console.log(rows.at(-1));
}

console.log('\n| targets / servers / identities | all created | all Ready (from first create) | operator peak RSS | reconciles |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('\nEvery object connection-tested or verified against a local SMTP sink (16 tests at once, 8 workers).');
client.close();
await cluster.stop();
await new Promise<void>((r) => sink.close(() => r()));
