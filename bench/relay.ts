// The send path beside its peers, in one run, as ratios (figures on a shared
// 2-core machine move from run to run; ratios from one run are what count):
//
//   1. smtp-load (compiled Go client) -> smtp-sink: the limit of client and sink
//   2. smtp-source -s 16 -> a private Postfix relay -> smtp-sink, end to end
//   3. smtp-load, AUTH PLAIN -> the postmaster SMTP door -> smtp-sink
//   4. smtp-load -http -> the HTTP door -> smtp-sink, beside pooled nodemailer -> smtp-sink
//   5. the operator's VmRSS and VmHWM after N and 2N messages through the doors
//
// The doors take two rounds of N/2 messages each (SMTP then HTTP), so the two
// memory readings follow the same work; their figures are both rounds together.
// It prints; it asserts nothing about time.
//
//   npm run bench:relay                    # 20,000 messages of ~2 kB, 16 sessions
//   npm run bench:relay -- 2000            # a quick run
//   npm run bench:relay -- 5000 --profile  # only the SMTP door, under node --cpu-prof; top self time
//   npm run bench:relay -- 5000 --profile=http  # the same for the HTTP door
//   npm run bench:relay -- 10000 --no-postfix  # quick: row 2 skipped (it takes a minute)
//
// The operator runs as the image runs it: the compiled dist/main.js with the Node
// flags of the Dockerfile's ENTRYPOINT (BENCH_NODE_ARGS adds or overrides flags to try).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster, type Cluster } from '../test/support/cluster.ts';
import { applyCrds, kubectlFor } from '../test/support/kubectl-run.ts';
import { startOperator, type Operator } from '../test/support/operator.ts';
import { imageRuntime } from './image.ts';
import { benchNamespace } from './relay/namespace.ts';
import { startPostfixRelay } from './relay/postfix-relay.ts';
import { cpuSecondsOf, memoryOf, merge, selfTimes, type LoadResult, type Memory } from './relay/report.ts';
import { startSmtpSink, type Sink } from './relay/sinks.ts';

const args = process.argv.slice(2);
const PROFILE = args.includes('--profile') || args.includes('--profile=http');
const PROFILE_DOOR = args.includes('--profile=http') ? 'HTTP' : 'SMTP';
const POSTFIX = !args.includes('--no-postfix');
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 20_000);
const SESSIONS = 16;
const SIZE = 2000;
const POOL = 16; // the SmtpTarget's maxConnections, and the nodemailer peer's pool
const run = promisify(execFile);
const here = import.meta.dirname;
const repo = join(here, '..');

/** Compiles src/ to dist/ and reads the image's Node flags and ENV, so the operator runs as in the image. */
function imageEntrypoint(): { main: string; nodeArgs: string[]; env: Record<string, string> } {
  execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json')], { stdio: 'inherit' });
  const image = imageRuntime(repo);
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  // A flag given in BENCH_NODE_ARGS replaces the image's flag of the same name.
  const named = (a: string) => a.replace(/=.*$/, '').replace(/^--no-/, '--');
  const kept = image.nodeArgs.filter((a) => !extra.some((e) => named(e) === named(a)));
  return { main: join(repo, 'dist', 'main.js'), nodeArgs: [...kept, ...extra], env: image.env };
}

// Everything started is stopped at the end, in reverse order, also on error or Ctrl-C.
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    for (const stop of cleanups.reverse()) await stop().catch((err: Error) => console.error(`cleanup: ${err.message}`));
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().then(() => process.exit(130)));

function progress(text: string): void {
  process.stderr.write(`[bench:relay ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

async function buildLoadClient(): Promise<string> {
  const { stdout } = await run('bash', [join(here, 'smtp-load', 'build.sh')], { env: { ...process.env, GOTOOLCHAIN: 'local' } });
  return stdout.trim().split('\n').pop()!;
}

async function load(bin: string, flags: string[]): Promise<LoadResult> {
  const { stdout } = await run(bin, flags, { maxBuffer: 256 * 1024 * 1024 }).catch((err: Error & { stderr?: string; stdout?: string }) => {
    throw new Error(`smtp-load ${flags.filter((f) => !f.startsWith('ey')).join(' ')} failed: ${err.stderr ?? err.message}`);
  });
  return JSON.parse(stdout) as LoadResult;
}

/** smtp-source -s 16 -m N through Postfix: accepted when smtp-source ends, delivered when the sink has all N. */
async function postfixEndToEnd(): Promise<{ accepted: number; delivered: number; seconds: number }> {
  const sink = await startSmtpSink({ count: true });
  cleanups.push(() => sink.stop());
  const relay = await startPostfixRelay(sink.port);
  cleanups.push(() => relay.stop());
  const source = (m: number) =>
    run('smtp-source', ['-s', String(SESSIONS), '-m', String(m), '-l', String(SIZE), '-f', 'bench@example.com', '-t', 'rcpt@example.com', `127.0.0.1:${relay.port}`]);
  await source(200); // warm-up: processes forked, connection cache filled
  await sink.waitForDelivered(200, 60_000);
  const before = sink.delivered();
  const started = performance.now();
  await source(N);
  const acceptedAt = performance.now();
  await sink.waitForDelivered(before + N, Math.max(120_000, N * 20)).catch((err: Error) => {
    throw new Error(`${err.message}\n${relay.log().slice(-3000)}`);
  });
  const seconds = (performance.now() - started) / 1000;
  await relay.stop();
  await sink.stop();
  return { accepted: N / ((acceptedAt - started) / 1000), delivered: N / seconds, seconds };
}

let operatorCommand = '';

interface Heap {
  usedMiB: number;
  totalMiB: number;
  externalMiB: number;
}

/** The V8 heap (used, reserved) and memory outside it (Buffers), from the operator's own /metrics. */
async function heapOf(op: Operator): Promise<Heap> {
  const mib = async (name: string) => (await op.metric(name)) / 1024 / 1024;
  return {
    usedMiB: await mib('postmaster_nodejs_heap_size_used_bytes'),
    totalMiB: await mib('postmaster_nodejs_heap_size_total_bytes'),
    externalMiB: await mib('postmaster_nodejs_external_memory_bytes'),
  };
}

async function setUp(opts: { doorSink: Sink; env?: Record<string, string> }): Promise<{ cluster: Cluster; op: Operator; token: string }> {
  progress('starting the API server and the operator');
  const cluster = await startCluster();
  cleanups.push(async () => {
    await cluster.stop();
    rmSync(cluster.dataDir, { recursive: true, force: true });
  });
  const kubectl = kubectlFor(cluster.kubeconfig);
  await applyCrds(cluster.kubeconfig);
  const token = await benchNamespace(kubectl, { sinkPort: opts.doorSink.port, pool: POOL, tokenDuration: '2h' });
  const { main, nodeArgs, env } = imageEntrypoint();
  operatorCommand = `${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}node ${nodeArgs.join(' ')} dist/main.js`;
  progress(`operator: ${operatorCommand}`);
  const op = await startOperator({
    main,
    nodeArgs,
    kubeconfig: cluster.kubeconfig,
    namespaces: ['bench'],
    extraArgs: ['--log-level=warn'],
    env: { ...env, ...opts.env },
  });
  cleanups.push(() => op.stop());
  await kubectl(['wait', '--for=condition=Ready', '--timeout=120s', '-n', 'bench', 'senderidentity/bench']);
  return { cluster, op, token };
}

const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
const rate = (r: number) => (Number.isNaN(r) ? 'skipped' : Math.round(r).toLocaleString('en-US'));
const ms = (v: number) => `${v.toFixed(1)} ms`;
/** CPU per message of the sending process, in µs. */
const cpu = (r: LoadResult) => (r.cpuSeconds === undefined ? '' : `${Math.round((r.cpuSeconds / r.messages) * 1e6)} µs`);
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

async function benchmark(): Promise<void> {
  const bin = await buildLoadClient();
  const smtpFlags = (port: number, n: number) => ['-address', `127.0.0.1:${port}`, '-sessions', String(SESSIONS), '-messages', String(n), '-size', String(SIZE)];

  const doorSink = await startSmtpSink({ count: true });
  cleanups.push(() => doorSink.stop());

  if (PROFILE) {
    const profDir = mkdtempSync(join(tmpdir(), 'postmaster-bench-prof-'));
    const { op, token } = await setUp({ doorSink, env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` } });
    const auth = ['-username', 'bench', '-password', token];
    const door = (n: number) =>
      PROFILE_DOOR === 'SMTP'
        ? [...smtpFlags(op.smtpPort, n), ...auth]
        : ['-http', `http://127.0.0.1:${op.httpPort}/v1/messages`, '-sessions', String(SESSIONS), '-messages', String(n), '-size', String(SIZE), ...auth];
    await load(bin, door(500));
    progress(`${PROFILE_DOOR} door under --cpu-prof: ${N} messages`);
    const r = await load(bin, door(N));
    await op.stop();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`the operator wrote no .cpuprofile in ${profDir}`);
    console.log(`\n${PROFILE_DOOR} door under node --cpu-prof: ${rate(r.msgPerSec)} msg/s, p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)} (${N} messages, ${SESSIONS} sessions)`);
    console.log(`profile: ${join(profDir, file)} (the whole operator run: start-up, warm-up, load)`);
    const print = (by: 'function' | 'owner', top: number) => {
      console.log(`\n| self time | share | ${by === 'owner' ? 'package or file' : 'function'} |`);
      console.log('|---|---|---|');
      for (const e of selfTimes(join(profDir, file), top, by)) console.log(`| ${e.ms.toFixed(0)} ms | ${(e.share * 100).toFixed(1)}% | ${e.name.replace(/\|/g, '\\|')} |`);
    };
    print('function', 25);
    print('owner', 15);
    return;
  }

  const directSink = await startSmtpSink();
  cleanups.push(() => directSink.stop());
  const peerSink = await startSmtpSink({ count: true });
  cleanups.push(() => peerSink.stop());
  const { op, token } = await setUp({ doorSink });
  const pid = op.process.pid!;
  const idle = memoryOf(pid); // started and Ready, nothing sent yet
  const idleHeap = await heapOf(op);
  const auth = ['-username', 'bench', '-password', token];
  const httpFlags = (n: number) => ['-http', `http://127.0.0.1:${op.httpPort}/v1/messages`, '-sessions', String(SESSIONS), '-messages', String(n), '-size', String(SIZE), ...auth];

  progress(`1. Go client -> smtp-sink: ${N} messages`);
  await load(bin, smtpFlags(directSink.port, 500));
  const direct = await load(bin, smtpFlags(directSink.port, N));

  progress(`4. pooled nodemailer -> smtp-sink: ${N} messages`);
  const { stdout } = await run(process.execPath, [join(here, 'relay', 'nodemailer-load.ts'), String(peerSink.port), String(N), String(SESSIONS), String(POOL), String(SIZE)]);
  const peer = JSON.parse(stdout) as LoadResult;

  // Warm-up of both doors: token and RBAC caches, upstream pool, JIT.
  await load(bin, [...smtpFlags(op.smtpPort, 500), ...auth]);
  await load(bin, httpFlags(500));
  const half = Math.ceil(N / 2);
  const smtpRuns: LoadResult[] = [];
  const httpRuns: LoadResult[] = [];
  const memory: { after: number; mem: Memory; heap: Heap }[] = [];
  let through = 0;
  // The operator's CPU over each round: what a message costs it, whatever else runs on the machine.
  const measured = async (flags: string[]) => {
    const before = cpuSecondsOf(pid);
    const r = await load(bin, flags);
    return { ...r, cpuSeconds: cpuSecondsOf(pid) - before };
  };
  for (const round of [1, 2]) {
    progress(`3. SMTP door, round ${round}: ${half} messages`);
    smtpRuns.push(await measured([...smtpFlags(op.smtpPort, half), ...auth, '-raw']));
    progress(`4. HTTP door, round ${round}: ${half} messages`);
    httpRuns.push(await measured([...httpFlags(half), '-raw']));
    through += 2 * half;
    memory.push({ after: through, mem: memoryOf(pid), heap: await heapOf(op) });
  }
  const smtpDoor = merge(smtpRuns);
  const httpDoor = merge(httpRuns);
  const doorDelivered = doorSink.delivered();
  await op.stop();

  progress(POSTFIX ? `2. smtp-source -> Postfix relay -> smtp-sink: ${N} messages` : '2. Postfix skipped (--no-postfix)');
  const postfix = POSTFIX ? await postfixEndToEnd() : { accepted: NaN, delivered: NaN, seconds: NaN };

  const [m1, m2] = [memory[0]!, memory[1]!];
  const grew = m2.mem.rssMiB - m1.mem.rssMiB;
  const row = (cells: string[]) => console.log(`| ${cells.join(' | ')} |`);
  console.log(`\n${N.toLocaleString('en-US')} messages of ~${SIZE / 1000} kB per path, ${SESSIONS} sessions, loopback, one run (${new Date().toISOString().slice(0, 16)}Z)\n`);
  row(['#', 'path', 'msg/s', 'p50', 'p99', 'CPU/msg', 'ratio', 'target', '']);
  row(['---', '---', '---', '---', '---', '---', '---', '---', '---']);
  row(['1', 'Go client -> `smtp-sink` (the limit of client and sink)', rate(direct.msgPerSec), ms(direct.p50Ms), ms(direct.p99Ms), '', '1.00x', '', '']);
  row(['2', '`smtp-source -s 16` -> Postfix relay -> `smtp-sink`, end to end', `${rate(postfix.delivered)} (accepted ${rate(postfix.accepted)})`, '', '', '', x(postfix.delivered, direct.msgPerSec), '', '']);
  row(['3', 'Go client, AUTH PLAIN -> postmaster SMTP door -> `smtp-sink`', rate(smtpDoor.msgPerSec), ms(smtpDoor.p50Ms), ms(smtpDoor.p99Ms), cpu(smtpDoor), x(smtpDoor.msgPerSec, direct.msgPerSec), '>= 0.30x of 1', verdict(smtpDoor.msgPerSec >= 0.3 * direct.msgPerSec)]);
  row(['', '', '', '', '', '', `${x(smtpDoor.msgPerSec, postfix.delivered)} of 2`, '>= 6x of 2', verdict(smtpDoor.msgPerSec >= 6 * postfix.delivered)]);
  row(['', '', '', '', '', '', '', 'p99 < 10 ms', verdict(smtpDoor.p99Ms < 10)]);
  const cpuRatio = httpDoor.cpuSeconds && peer.cpuSeconds ? ` (CPU/msg ${x(httpDoor.cpuSeconds / httpDoor.messages, peer.cpuSeconds / peer.messages)} of 4b's)` : '';
  row(['4a', 'Go client -> postmaster HTTP door -> `smtp-sink`', rate(httpDoor.msgPerSec), ms(httpDoor.p50Ms), ms(httpDoor.p99Ms), cpu(httpDoor), `${x(httpDoor.msgPerSec, peer.msgPerSec)} of 4b${cpuRatio}`, '>= 0.80x of 4b', verdict(httpDoor.msgPerSec >= 0.8 * peer.msgPerSec)]);
  row(['4b', `pooled nodemailer (pool ${POOL}, own process) -> \`smtp-sink\``, rate(peer.msgPerSec), ms(peer.p50Ms), ms(peer.p99Ms), cpu(peer), x(peer.msgPerSec, direct.msgPerSec), '', '']);
  console.log('');
  row(['operator memory', 'Ready, nothing sent', `after ${m1.after.toLocaleString('en-US')} messages`, `after ${m2.after.toLocaleString('en-US')} messages`, 'target', '']);
  row(['---', '---', '---', '---', '---', '---']);
  row(['VmRSS', `${idle.rssMiB.toFixed(0)} MiB`, `${m1.mem.rssMiB.toFixed(0)} MiB`, `${m2.mem.rssMiB.toFixed(0)} MiB (${grew >= 0 ? '+' : ''}${grew.toFixed(0)})`, '<= 150 MiB, no growth (within 5%)', verdict(m2.mem.rssMiB <= 150 && grew <= 0.05 * m1.mem.rssMiB)]);
  row(['VmHWM (peak)', `${idle.hwmMiB.toFixed(0)} MiB`, `${m1.mem.hwmMiB.toFixed(0)} MiB`, `${m2.mem.hwmMiB.toFixed(0)} MiB`, '', '']);
  const heapRow = (h: Heap) => `${h.usedMiB.toFixed(0)} / ${h.totalMiB.toFixed(0)} / ${h.externalMiB.toFixed(0)} MiB`;
  row(['V8 heap used / total / external', heapRow(idleHeap), heapRow(m1.heap), heapRow(m2.heap), '', '']);
  console.log(
    `\nOperator: ${operatorCommand}.` +
      `\nDoors: two rounds of ${half} per door, SMTP then HTTP; the SmtpTarget pool has ${POOL} connections; the door sink received ${doorDelivered} messages (warm-up included).` +
      `\nPostfix: ${postfix.seconds.toFixed(1)} s from the first connection to the last message at the sink; "accepted" is smtp-source's own rate.`,
  );
}

try {
  await benchmark();
} finally {
  await cleanup();
}
