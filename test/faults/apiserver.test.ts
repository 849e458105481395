// The Kubernetes API server stopped for 20 seconds in the middle of a steady
// load, Direct and Queued side by side on two replicas: callers whose token was
// accepted before are served through the outage (--auth-outage-grace, 5 min by
// default), and nothing a 2xx answered is lost or sent twice. This file stops an
// API server, so it runs one of its own (as test/cluster/controller/outage.test.ts).
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/cluster.ts';
import { applyCrds, kubectlFor, runKubectl } from '../support/kubectl-run.ts';
import { directAndQueued, sendAs } from '../support/fault-setup.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { startReplicas, type Replicas } from '../support/replicas.ts';
import { ledger, load, printLedger, startCountingSink, until, type ClientOptions, type CountingSink } from '../support/fault-ledger.ts';

/** Per mode: 600 messages, one every 50 ms, so the load spans the outage (stopped at 5 s, back at 25 s). */
const MESSAGES = Number(process.env.FAULT_MESSAGES ?? 600);
const INTERVAL_MS = 50;
const OUTAGE = { fromMs: 5_000, toMs: 25_000 };

let cluster: Cluster;
let redis: RedisServer;
let sink: CountingSink;
let r: Replicas;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

beforeAll(async () => {
  cluster = await startCluster();
  await applyCrds(cluster.kubeconfig);
  redis = await startRedis();
  sink = await startCountingSink();
  r = await startReplicas({ prefix: 'faults-apiserver', count: 2, redis, identities: ['direct', 'queued'], kubeconfig: cluster.kubeconfig });
  const kubectl = kubectlFor(cluster.kubeconfig);
  await kubectl(['apply', '--server-side', '-n', r.ns, '-f', '-'], directAndQueued(sink.port).map((o) => stringify(o)).join('---\n'));
  await kubectl(['wait', '--for=condition=Ready', '--timeout=90s', '-n', r.ns, 'senderidentity/direct', 'senderidentity/queued']);
}, 240_000);

afterAll(async () => {
  await r?.stop();
  await sink?.kill();
  await redis?.destroy();
  await cluster?.stop();
});

const client = (sender: 'direct' | 'queued'): ClientOptions => sendAs(r, sender);

it('the API server stopped for 20 s mid-load: callers accepted before are served throughout, nothing lost, nothing twice', async () => {
  const started = Date.now();
  const outage = (async () => {
    await sleep(OUTAGE.fromMs);
    await cluster.stop();
    const during = await runKubectl(cluster.kubeconfig, ['get', 'namespaces', '--request-timeout=2s']);
    await sleep(Math.max(0, started + OUTAGE.toMs - Date.now()));
    cluster = await startCluster({ dataDir: cluster.dataDir, port: cluster.port });
    return { backAt: Date.now() - started, apiDuringOutage: during.code };
  })();
  const [direct, queued] = await Promise.all([
    load(client('direct'), 'apiserver-direct', MESSAGES, 8, undefined, INTERVAL_MS),
    load(client('queued'), 'apiserver-queued', MESSAGES, 8, undefined, INTERVAL_MS),
  ]);
  const loadEnded = Date.now() - started;
  const { backAt, apiDuringOutage } = await outage;
  expect(apiDuringOutage, 'the API server answered during the outage').not.toBe(0);
  // The load outlasted the outage: messages went before, during and after it.
  expect(loadEnded).toBeGreaterThan(backAt);
  const stored = queued.filter((m) => m.final.status === 202);
  await until(() => stored.every((m) => sink.count(m.name) > 0), 120_000, 250);
  await sleep(1500);

  for (const [l, records] of [
    [ledger('direct, API server down 20s', 'Direct', direct, sink), direct],
    [ledger('queued, API server down 20s', 'Queued', queued, sink), queued],
  ] as const) {
    printLedger(l);
    expect(l.accepted, JSON.stringify(l.gaveUp)).toBe(records.length);
    expect(l.lost).toBe(0);
    expect(l.duplicates).toBe(0);
    expect(l.unexplained).toEqual([]);
  }
  for (const op of r.ops) expect(op.process.exitCode).toBeNull();
});
