// Two (or more) operator replicas on one namespace, sharing a store when given
// one, with a ServiceAccount token allowed to send as the named identities, and
// a send helper that reports what a client sees (status, body, Retry-After).
import { createNamespace, kubeconfig } from './kubectl.ts';
import { kubectlFor, runKubectl } from './kubectl-run.ts';
import { startOperator, type Operator } from './operator.ts';
import type { RedisServer } from './redis.ts';

export interface Replicas {
  ns: string;
  ops: Operator[];
  token: string;
  /** Starts a new replica in place of ops[i] (once that one was stopped or killed), with the same flags and store. */
  replace(i: number): Promise<Operator>;
  stop(): Promise<void>;
}

/** Flags that make the queue's clock fit a test: quick retries, a dead replica's jobs taken over within seconds. */
export const FAST_QUEUE = ['--queue-retry-min=200ms', '--queue-retry-max=1s', '--queue-lock-duration=2s'];

export async function startReplicas(opts: {
  prefix: string;
  count: number;
  redis?: RedisServer;
  identities: string[];
  extraArgs?: string[];
  /** Another API server than the run's (a test that stops its own). */
  kubeconfig?: string;
}): Promise<Replicas> {
  const kc = opts.kubeconfig ?? kubeconfig();
  const kubectlOk = kubectlFor(kc);
  const ns = await createNamespace(opts.prefix, {}, kubectlOk);
  let started = 0;
  const replica = () =>
    startOperator({
      kubeconfig: kc,
      namespaces: [ns],
      identity: `${ns}-replica-${started++}`,
      extraArgs: ['--connection-tests=false', '--drain-delay=100ms', '--log-level=info', ...FAST_QUEUE, ...(opts.extraArgs ?? [])],
      ...(opts.redis ? { env: opts.redis.env } : {}),
    });
  const ops = await Promise.all(Array.from({ length: opts.count }, replica));
  await kubectlOk(['create', 'serviceaccount', 'app', '-n', ns]);
  await kubectlOk([
    'create', 'role', 'send', '-n', ns, '--verb=send', '--resource=senderidentities.email.postmaster.dev',
    ...opts.identities.map((i) => `--resource-name=${i}`),
  ]);
  await kubectlOk(['create', 'rolebinding', 'send', '-n', ns, '--role=send', `--serviceaccount=${ns}:app`]);
  const token = (await kubectlOk(['create', 'token', 'app', '-n', ns, '--audience', 'postmaster', '--duration=2h'])).trim();
  return {
    ns,
    ops,
    token,
    async replace(i) {
      const op = await replica();
      ops[i] = op;
      return op;
    },
    async stop() {
      await Promise.all(ops.map((op) => op.stop('SIGKILL')));
      await runKubectl(kc, ['delete', 'ns', ns, '--wait=false']);
    },
  };
}

export interface Sent {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  retryAfter?: string;
}

export async function sendHttp(op: Operator, token: string, message: Record<string, unknown>, idempotencyKey?: string): Promise<Sent> {
  const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    },
    body: JSON.stringify(message),
  });
  const body = (await res.json()) as Sent['body'];
  const retryAfter = res.headers.get('retry-after');
  return { status: res.status, body, ...(retryAfter ? { retryAfter } : {}) };
}

export async function messageState(op: Operator, token: string, id: string): Promise<Sent> {
  const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages/${id}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Sent['body'] };
}

/** Runs `count` jobs `concurrency` at a time. */
export async function inParallel<T>(count: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) out[i] = await job(i);
    }),
  );
  return out;
}
