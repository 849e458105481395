// Send throughput and latency: N messages through the operator's HTTP door
// (TokenReview + SubjectAccessReview, cached; pooled SMTP upstream) and, in
// the same run, N messages straight to the same local sink with a pooled
// nodemailer transport at the same concurrency.
//
//   npm run bench:send                  # 2000 messages, concurrency 16
//   npm run bench:send -- 5000 32
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { startCluster } from '../test/support/cluster.ts';
import { applyCrds, kubectlFor } from '../test/support/kubectl-run.ts';
import { startOperator } from '../test/support/operator.ts';
import { benchNamespace } from './relay/namespace.ts';

const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const POOL = 5;

let received = 0;
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData: (stream, _session, cb) => stream.resume().on('end', () => ((received += 1), cb())),
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.server.address() as { port: number }).port;

const cluster = await startCluster();
const kubectl = kubectlFor(cluster.kubeconfig);
await applyCrds(cluster.kubeconfig);
const token = await benchNamespace(kubectl, { sinkPort, pool: POOL });
const op = await startOperator({ kubeconfig: cluster.kubeconfig, namespaces: ['bench'], extraArgs: ['--log-level=warn'] });
await kubectl(['wait', '--for=condition=Ready', '--timeout=60s', '-n', 'bench', 'senderidentity/bench']);

const body = (i: number) => ({
  sender: 'bench',
  to: [`rcpt${i}@example.com`],
  subject: `bench message ${i}`,
  text: 'x'.repeat(2000),
});

async function run(label: string, send: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const before = received;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < N; i = next++) {
        const t = performance.now();
        await send(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  if (received - before !== N) throw new Error(`${label}: sink received ${received - before} of ${N}`);
  return { label, rate: N / seconds, p50: pct(50), p99: pct(99) };
}

// Warm-up: TCP pools, TokenReview/SAR caches, JIT.
const url = `http://127.0.0.1:${op.httpPort}/v1/messages`;
const viaEndpoint = async (i: number) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body(i)),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
};
for (let i = 0; i < 50; i++) await viaEndpoint(i);
received = 0;

const direct = createTransport({ host: '127.0.0.1', port: sinkPort, secure: false, ignoreTLS: true, pool: true, maxConnections: POOL, maxMessages: 100000 });
const viaNodemailer = async (i: number) => {
  const b = body(i);
  await direct.sendMail({ from: '"Bench" <bench@example.com>', to: b.to, subject: b.subject, text: b.text });
};
for (let i = 0; i < 50; i++) await viaNodemailer(i);
received = 0;

const endpoint = await run('HTTP door (postmaster)', viaEndpoint);
const baseline = await run('nodemailer pool, direct', viaNodemailer);
direct.close();

const fmt = (r: typeof endpoint) => `| ${r.label} | ${r.rate.toFixed(0)} msg/s | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms |`;
console.log(`\n${N} messages of ~2 kB, concurrency ${CONCURRENCY}, ${POOL} upstream SMTP connections, local smtp-server sink\n`);
console.log('| path | throughput | p50 | p99 |');
console.log('|---|---|---|---|');
console.log(fmt(endpoint));
console.log(fmt(baseline));
console.log(`\nratio (endpoint / direct): ${(endpoint.rate / baseline.rate).toFixed(2)}`);

await op.stop();
await cluster.stop();
await new Promise<void>((r) => sink.close(() => r()));
