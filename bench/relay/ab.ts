// Two builds or two sets of Node flags of the operator, side by side in one run:
// both operators serve the same namespace and sink, and take turns, round after
// round (SMTP door, then HTTP door), so a machine that gets busier or quieter
// meanwhile weighs on both alike. For choosing flags; bench/relay.ts is the report.
//
//   node bench/relay/ab.ts 20000 "--max-semi-space-size=2 --optimize-for-size" "--max-semi-space-size=8"
//   node bench/relay/ab.ts 20000 "" "" dist-b/main.js   # flags alike, a second build (compiled elsewhere)
//   node bench/relay/ab.ts 20000 "" "" dist-b/main.js dist-a/main.js   # two builds, neither the current one
//   node bench/relay/ab.ts 20000 "" "MALLOC_ARENA_MAX=2"  # NAME=value words are environment variables
//
// The operators run the compiled dist/main.js (tsc runs first), as the image does.
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../../test/support/cluster.ts';
import { applyCrds, kubectlFor } from '../../test/support/kubectl-run.ts';
import { startOperator, type Operator } from '../../test/support/operator.ts';
import { benchNamespace } from './namespace.ts';
import { memoryOf, merge, type LoadResult } from './report.ts';
import { startSmtpSink } from './sinks.ts';

const [nArg, flagsA = '', flagsB = '', mainB, mainA] = process.argv.slice(2);
const N = Number(nArg ?? 20_000);
const ROUNDS = 4;
const SESSIONS = 16;
const SIZE = 2000;
const repo = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);
const ENV_WORD = /^[A-Z_][A-Z0-9_]*=/;

// dist/ is built only when a variant runs it.
if (!mainA || !mainB) execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json')], { stdio: 'inherit' });
const { stdout: built } = await run('bash', [join(repo, 'bench', 'smtp-load', 'build.sh')], { env: { ...process.env, GOTOOLCHAIN: 'local' } });
const bin = built.trim().split('\n').pop()!;

const sink = await startSmtpSink();
const cluster = await startCluster();
const stops: (() => Promise<unknown>)[] = [() => sink.stop(), async () => {
  await cluster.stop();
  rmSync(cluster.dataDir, { recursive: true, force: true });
}];
try {
  const kubectl = kubectlFor(cluster.kubeconfig);
  await applyCrds(cluster.kubeconfig);
  const token = await benchNamespace(kubectl, { sinkPort: sink.port, pool: 16, tokenDuration: '2h' });
  const variants: { name: string; op: Operator; smtp: LoadResult[]; http: LoadResult[] }[] = [];
  for (const [name, flags, main] of [['A', flagsA, mainA], ['B', flagsB, mainB]] as const) {
    const op = await startOperator({
      kubeconfig: cluster.kubeconfig,
      namespaces: ['bench'],
      main: main ? join(repo, main) : join(repo, 'dist', 'main.js'),
      nodeArgs: flags.split(' ').filter((w) => w && !ENV_WORD.test(w)),
      env: Object.fromEntries(flags.split(' ').filter((w) => ENV_WORD.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)])),
      extraArgs: ['--log-level=warn'],
    });
    stops.unshift(() => op.stop());
    variants.push({ name, op, smtp: [], http: [] });
  }
  await kubectl(['wait', '--for=condition=Ready', '--timeout=120s', '-n', 'bench', 'senderidentity/bench']);
  const auth = ['-username', 'bench', '-password', token];
  const common = (n: number) => ['-sessions', String(SESSIONS), '-messages', String(n), '-size', String(SIZE), ...auth, '-raw'];
  const load = async (flags: string[]) => JSON.parse((await run(bin, flags, { maxBuffer: 256 * 1024 * 1024 })).stdout) as LoadResult;
  const smtp = (op: Operator, n: number) => load(['-address', `127.0.0.1:${op.smtpPort}`, ...common(n)]);
  const http = (op: Operator, n: number) => load(['-http', `http://127.0.0.1:${op.httpPort}/v1/messages`, ...common(n)]);
  for (const v of variants) {
    await smtp(v.op, 500);
    await http(v.op, 500);
  }
  const per = Math.ceil(N / ROUNDS);
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate who goes first, so neither always follows the other's garbage.
    for (const v of round % 2 ? variants : [...variants].reverse()) v.smtp.push(await smtp(v.op, per));
    for (const v of round % 2 ? variants : [...variants].reverse()) v.http.push(await http(v.op, per));
    process.stderr.write(`round ${round} of ${ROUNDS} done\n`);
  }
  console.log(`\n${per * ROUNDS} messages per door and variant, ${SESSIONS} sessions, ${ROUNDS} alternating rounds\n`);
  console.log('| variant | node flags | SMTP msg/s | p50 | p99 | HTTP msg/s | p50 | p99 | VmRSS | VmHWM |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const v of variants) {
    const s = merge(v.smtp);
    const h = merge(v.http);
    const m = memoryOf(v.op.process.pid!);
    const main = v.name === 'A' ? mainA : mainB;
    const flags = (v.name === 'A' ? flagsA : flagsB) + (main ? ` (${main})` : '');
    console.log(
      `| ${v.name} | ${flags || '(none)'} | ${Math.round(s.msgPerSec)} | ${s.p50Ms.toFixed(1)} | ${s.p99Ms.toFixed(1)} | ${Math.round(h.msgPerSec)} | ${h.p50Ms.toFixed(1)} | ${h.p99Ms.toFixed(1)} | ${m.rssMiB.toFixed(0)} MiB | ${m.hwmMiB.toFixed(0)} MiB |`,
    );
  }
  const [a, b] = variants.map((v) => [merge(v.smtp).msgPerSec, merge(v.http).msgPerSec] as const);
  console.log(`\nB / A: SMTP ${(b![0] / a![0]).toFixed(2)}x, HTTP ${(b![1] / a![1]).toFixed(2)}x`);
} finally {
  for (const stop of stops) await stop().catch(() => undefined);
}
