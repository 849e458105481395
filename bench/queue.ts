// Direct vs Queued delivery, in one run, through the operator's HTTP door to one
// local sink (Postfix's smtp-sink): acceptance rate (messages/s answered 2xx) and drain rate
// (messages/s reaching the sink), with a real redis-server (AOF, appendfsync
// everysec, as the bundled Valkey component runs) as the store.
// Targets (issue 10): Queued acceptance >= Direct throughput; drain >= 0.9x Direct.
//
//   npm run bench:queue                  # 5000 messages, concurrency 16
//   npm run bench:queue -- 10000 32
import { startCluster } from '../test/support/cluster.ts';
import { applyCrds, kubectlFor } from '../test/support/kubectl-run.ts';
import { startOperator } from '../test/support/operator.ts';
import { startRedis } from '../test/support/redis.ts';
import { benchNamespace } from './relay/namespace.ts';
import { startSmtpSink } from './relay/sinks.ts';

const N = Number(process.argv[2] ?? 5000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const POOL = 5;

// Postfix's smtp-sink in its own process, counting what arrives: no sink shares the bench's event loop.
const sink = await startSmtpSink({ count: true });
const sinkPort = sink.port;
const received = () => sink.delivered();

const redis = await startRedis({ appendfsync: 'everysec' });
const cluster = await startCluster();
const kubectl = kubectlFor(cluster.kubeconfig);
await applyCrds(cluster.kubeconfig);
const token = await benchNamespace(kubectl, { sinkPort, pool: POOL });
await kubectl(
  ['apply', '--server-side', '-n', 'bench', '-f', '-'],
  `apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: queued}
spec: {provider: SMTP, smtp: {targetRef: {name: sink}}, delivery: {mode: Queued}}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: queued}
spec: {email: queued@example.com, serverRef: {name: queued}}
`,
);
const op = await startOperator({
  kubeconfig: cluster.kubeconfig,
  namespaces: ['bench'],
  extraArgs: ['--log-level=warn', '--connection-tests=false', ...(process.env.BENCH_OPERATOR_ARGS ?? '').split(' ').filter(Boolean)],
  env: redis.env,
  nodeArgs: ['--max-semi-space-size=2', ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)],
});
for (const id of ['bench', 'queued']) await kubectl(['wait', '--for=condition=Ready', '--timeout=60s', '-n', 'bench', `senderidentity/${id}`]);

const url = `http://127.0.0.1:${op.httpPort}/v1/messages`;
const send = (sender: string, expect: number) => async (i: number) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sender, to: [`rcpt${i}@example.com`], subject: `bench message ${i}`, text: 'x'.repeat(2000) }),
  });
  if (res.status !== expect) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
};

async function run(label: string, one: (i: number) => Promise<void>) {
  const before = received();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < N; i = next++) await one(i);
    }),
  );
  const accepted = (performance.now() - started) / 1000;
  while (received() - before < N) await new Promise((r) => setTimeout(r, 5));
  const drained = (performance.now() - started) / 1000;
  return { label, acceptance: N / accepted, drain: N / drained };
}

// Warm-up: pools, token caches, JIT, the queue's scripts.
for (let i = 0; i < 100; i++) await send('bench', 200)(i);
for (let i = 0; i < 100; i++) await send('queued', 202)(i);
while (received() < 200) await new Promise((r) => setTimeout(r, 5));

const direct = await run('Direct', send('bench', 200));
const queued = await run('Queued', send('queued', 202));

const fmt = (r: typeof direct) => `| ${r.label} | ${r.acceptance.toFixed(0)} msg/s | ${r.drain.toFixed(0)} msg/s |`;
console.log(`\n${N} messages of ~2 kB, concurrency ${CONCURRENCY}, one replica, ${POOL} upstream SMTP connections, redis-server appendfsync everysec\n`);
console.log('| mode | accepted (2xx) | reaching the sink |');
console.log('|---|---|---|');
console.log(fmt(direct));
console.log(fmt(queued));
console.log(`\nQueued acceptance / Direct throughput: ${(queued.acceptance / direct.drain).toFixed(2)} (target >= 1.0)`);
console.log(`Queued drain / Direct throughput: ${(queued.drain / direct.drain).toFixed(2)} (target >= 0.9)`);

await op.stop();
await cluster.stop();
await redis.destroy();
await sink.stop();
