// Reconcile at scale: applies S×100 SmtpTargets (each with its own login
// Secret), S×100 EmailServers and S×1,000 SenderIdentities to a real API
// server that also holds 20,000 unrelated 4 kB Secrets, with connection tests
// and sender verification running against a local SMTP sink. Prints the time
// until every object is Ready, reconciles, SMTP sessions, the operator's peak
// memory, and how long a Secret change takes to reach the status of every
// object that depends on it, each next to its target.
//
//   npm run bench:controller              # scales 1, 2 and 10
//   npm run bench:controller -- 1 2       # some scales
//   BENCH_NOISE=0 npm run bench:controller -- 1   # without the unrelated Secrets
//   OPERATOR_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" ...  # profile the operator
//   BENCH_WORKERS=8 BENCH_NODE_ARGS=... ...  # other --workers, extra Node flags
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { API_VERSION } from '../src/api/index.ts';
import { KubeConfigFile } from '../src/kube/kubeconfig.ts';
import { collectionPath, KubeClient, objectPath } from '../src/kube/rest.ts';
import { resources } from '../src/kube/resources.ts';
import { startCluster } from '../test/support/cluster.ts';
import { startOperator } from '../test/support/operator.ts';
import { applyCrds } from '../test/support/kubectl-run.ts';
import { imageRuntime } from './image.ts';
import { ReadyWatch } from './ready-watch.ts';

const scales = process.argv.slice(2).map(Number).filter((n) => n > 0);
const runs = scales.length > 0 ? scales : [1, 2, 10];
const noise = Number(process.env.BENCH_NOISE ?? 20_000);
const samples = 6;
// Reconciles wait on the API server, not on CPU: 32 at once at platform scale (the default is 4).
const workers = Number(process.env.BENCH_WORKERS ?? 32);
/** The figures of issue #16, before this work (same bench, same machine kind). */
const before: Record<number, { ready: number; rss: number }> = { 1: { ready: 17.4, rss: 246 }, 2: { ready: 34.8, rss: 262 } };
const rssTarget: Record<number, number> = { 2: 150, 10: 250 };
const WRONG = 'wrong-password';

const sink = new SMTPServer({
  authOptional: true,
  allowInsecureAuth: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  // A Secret "rotated" to the wrong password flips its target (and all that depends on it) to not Ready.
  onAuth: (auth, _session, cb) => (auth.password === WRONG ? cb(new Error('Invalid login')) : cb(null, { user: auth.username })),
  onData: (s, _x, cb) => s.resume().on('end', () => cb()),
});
let sessions = 0;
sink.server.on('connection', () => sessions++);
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.server.address() as { port: number }).port;

// The operator runs as the image runs it: compiled (type stripping at run time keeps a TypeScript parser in memory).
const repo = join(import.meta.dirname, '..');
execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json')], { stdio: 'inherit' });
const main = join(repo, 'dist', 'main.js');
// ...with the Node flags the image's ENTRYPOINT gives it, and the image's ENV.
const image = imageRuntime(repo);
const nodeArgs = [...image.nodeArgs, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
const nodeFlags = nodeArgs.join(' ');

const cluster = await startCluster();
await applyCrds(cluster.kubeconfig);
const client = new KubeClient(KubeConfigFile.fromFile(cluster.kubeconfig));

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => { for (let i = queue.shift(); i !== undefined; i = queue.shift()) await fn(i); }));
}
const range = (n: number) => [...Array(n).keys()];
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// Unrelated Secrets (Helm values, certificates, tokens in real clusters) in a watched namespace.
const noiseNs = 'bench-unrelated';
await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: noiseNs } } });
const noiseStarted = performance.now();
await inParallel(range(noise), 64, (i) =>
  client.request('POST', collectionPath(resources.secret, noiseNs), {
    body: { metadata: { name: `unrelated-${i}` }, type: 'Opaque', data: { blob: randomBytes(3072).toString('base64') } },
  }),
);
if (noise > 0) console.log(`${noise} unrelated 4 kB Secrets created in ${secs(performance.now() - noiseStarted)}`);

interface Row { scale: number; created: number; ready: number; reconciles: number; sessions: number; rss: number; p50: number; max: number }
const rows: Row[] = [];
for (const scale of runs) {
  const ns = `bench-${scale}-${Date.now() % 100000}`;
  const targets = 100 * scale;
  const servers = 100 * scale;
  const identities = 1000 * scale;
  await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
  const watch = await ReadyWatch.start(client, ns);
  const op = await startOperator({
    kubeconfig: cluster.kubeconfig,
    namespaces: [ns, noiseNs],
    main,
    extraArgs: ['--log-level=warn', '--max-concurrent-tests=16', `--workers=${workers}`],
    // e.g. OPERATOR_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the operator.
    nodeArgs,
    env: { ...image.env, ...(process.env.OPERATOR_NODE_OPTIONS ? { NODE_OPTIONS: process.env.OPERATOR_NODE_OPTIONS } : {}) },
  });
  const post = (r: typeof resources.smtpTarget, body: object) => client.request('POST', collectionPath(r, ns), { body });
  const sessionsBefore = sessions;
  const started = performance.now();
  await inParallel(range(targets), 64, async (i) => {
    await post(resources.secret, { metadata: { name: `login-t${i}` }, stringData: { username: 'bench', password: 'bench-password' } });
    await post(resources.smtpTarget, {
      apiVersion: API_VERSION, kind: 'SmtpTarget', metadata: { name: `t${i}` },
      spec: { host: '127.0.0.1', port: sinkPort, security: 'None', credentials: { secretRef: { name: `login-t${i}` } } },
    });
  });
  await inParallel(range(servers), 64, (i) =>
    post(resources.emailServer, {
      apiVersion: API_VERSION, kind: 'EmailServer', metadata: { name: `s${i}` },
      spec: { provider: 'SMTP', smtp: { targetRef: { name: `t${i % targets}` } } },
    }),
  );
  await inParallel(range(identities), 64, (i) =>
    post(resources.senderIdentity, {
      apiVersion: API_VERSION, kind: 'SenderIdentity', metadata: { name: `i${i}` },
      spec: { email: `sender${i}@example.com`, serverRef: { name: `s${i % servers}` } },
    }),
  );
  const created = performance.now();
  const total = targets + servers + identities;
  await watch.untilReady(total, 15 * 60_000);
  const allReady = performance.now();
  const reconciles = await op.metric('postmaster_reconcile_total');
  const usedSessions = sessions - sessionsBefore;

  // A Secret changes (rotated to a wrong password, then back): time until the
  // last of its target, that target's server and the server's identities flips.
  const latencies: number[] = [];
  for (let k = 0; k < samples; k++) {
    const t = Math.floor(((k + 0.5) * targets) / samples);
    const dependents = [`SmtpTarget/t${t}`, `EmailServer/s${t}`, ...range(identities / servers).map((j) => `SenderIdentity/i${t + j * servers}`)];
    const breaking = k % 2 === 0;
    const since = performance.now();
    await client.request('PATCH', objectPath(resources.secret, ns, `login-t${t}`), {
      body: { stringData: { password: breaking ? WRONG : 'bench-password' } },
      patch: 'merge',
    });
    const last = await watch.untilAll(dependents, !breaking, 60_000);
    latencies.push(last - since);
    if (!breaking) continue;
    // Restore before the next sample (measured as its own sample).
    k++;
    const back = performance.now();
    await client.request('PATCH', objectPath(resources.secret, ns, `login-t${t}`), { body: { stringData: { password: 'bench-password' } }, patch: 'merge' });
    latencies.push((await watch.untilAll(dependents, true, 60_000)) - back);
  }
  latencies.sort((a, b) => a - b);
  // With OPERATOR_NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2: a heap snapshot in the working directory.
  if (process.env.OPERATOR_NODE_OPTIONS?.includes('heapsnapshot-signal')) {
    op.process.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 20_000));
  }
  const status = readFileSync(`/proc/${op.process.pid}/status`, 'utf8');
  const rss = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  await op.stop();
  watch.stop();
  const row: Row = {
    scale,
    created: created - started,
    ready: allReady - started,
    reconciles,
    sessions: usedSessions,
    rss,
    p50: latencies[Math.floor(latencies.length / 2)] ?? 0,
    max: latencies.at(-1) ?? 0,
  };
  rows.push(row);
  console.log(JSON.stringify({ ...row, objects: total }));
}

const base = rows.find((r) => r.scale === 1);
console.log(`\n${noise} unrelated 4 kB Secrets in a watched namespace; each target has its own login Secret.`);
console.log('| scale (targets / servers / identities) | all created | all Ready | before (#16) | target | reconciles | SMTP sessions | peak RSS | before | target | Secret change → last dependent (p50 / max) | target |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const readyTarget =
    r.scale === 10 ? `< 60 s (${((r.ready / 60_000) * 100).toFixed(0)}%)` : r.scale === 2 && base ? `≤ 2.1× scale 1 (${(r.ready / base.ready).toFixed(2)}×)` : '';
  const rssGoal = rssTarget[r.scale] ? `≤ ${rssTarget[r.scale]} MiB (${((r.rss / rssTarget[r.scale]!) * 100).toFixed(0)}%)` : '';
  const latGoal = r.scale === 10 ? `< 2 s (${((r.max / 2000) * 100).toFixed(0)}%)` : '';
  const b = before[r.scale];
  console.log(
    `| ${r.scale} (${100 * r.scale} / ${100 * r.scale} / ${1000 * r.scale}) | ${secs(r.created)} | ${secs(r.ready)} | ${b ? `${b.ready} s` : '-'} | ${readyTarget} | ` +
      `${r.reconciles} | ${r.sessions} | ${r.rss.toFixed(0)} MiB | ${b ? `${b.rss} MiB` : '-'} | ${rssGoal} | ` +
      `${(r.p50 / 1000).toFixed(2)} s / ${(r.max / 1000).toFixed(2)} s | ${latGoal} |`,
  );
}
console.log(`\nThe operator ran as dist/main.js with the image's flags (${nodeFlags || 'none'}) and ENV (${Object.entries(image.env).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}).`);
console.log(`Connection tests and sender verification against a local SMTP sink (16 tests at once, ${workers} workers); latency over ${samples} Secret changes per scale.`);
client.close();
await cluster.stop();
await new Promise<void>((r) => sink.close(() => r()));
