// The API server goes away for 20 s and comes back: the operator recovers
// without a restart and reconciles what changed. This file stops an API
// server, so it runs one of its own rather than the shared one.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../support/cluster.ts';
import { startOperator, type Operator } from '../../support/operator.ts';

let cluster: Cluster;
let op: Operator;
const ns = 'outage';

const kc = (args: string[], input?: string) =>
  execFileSync('kubectl', args, { env: { ...process.env, KUBECONFIG: cluster.kubeconfig }, input, encoding: 'utf8' });
const ready = (kind: string, name: string) => {
  try {
    const o = JSON.parse(kc(['get', kind, name, '-n', ns, '-o', 'json']));
    return (o.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready') as { status: string; reason: string } | undefined;
  } catch {
    return undefined;
  }
};
async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out; operator logs:\n${op.logs().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  cluster = await startCluster();
  kc(['apply', '--server-side', '-f', join(import.meta.dirname, '..', '..', '..', 'crds')]);
  kc(['wait', '--for=condition=Established', 'crd', '-l', 'app.kubernetes.io/part-of=postmaster']);
  kc(['create', 'namespace', ns]);
  op = await startOperator({ kubeconfig: cluster.kubeconfig, namespaces: [ns], extraArgs: ['--connection-tests=false'] });
}, 240_000);

afterAll(async () => {
  await op?.stop();
  await cluster?.stop();
});

it('recovers after the API server was down for 20 s, without restarting', { timeout: 120_000 }, async () => {
  kc(
    ['apply', '--server-side', '-n', ns, '-f', '-'],
    `apiVersion: v1\nkind: Secret\nmetadata: {name: login}\nstringData: {username: u, password: p}\n---\n` +
      `apiVersion: email.postmaster.dev/v1alpha1\nkind: SmtpTarget\nmetadata: {name: relay}\n` +
      `spec: {host: relay.example.com, port: 587, credentials: {secretRef: {name: login}}}\n`,
  );
  await until(() => ready('smtptarget', 'relay')?.status === 'True', 20_000);
  const pid = op.process.pid;

  await cluster.stop();
  await new Promise((r) => setTimeout(r, 20_000));
  expect(op.process.exitCode).toBeNull();
  cluster = await startCluster({ dataDir: cluster.dataDir, port: cluster.port });

  // Changes made as soon as the server is back, while the operator's watches are still backing off.
  kc(['delete', 'secret', 'login', '-n', ns]);
  kc(
    ['apply', '--server-side', '-n', ns, '-f', '-'],
    `apiVersion: email.postmaster.dev/v1alpha1\nkind: SmtpTarget\nmetadata: {name: added-after}\nspec: {host: relay.example.com, port: 25, security: None}\n`,
  );
  await until(() => ready('smtptarget', 'relay')?.reason === 'SecretNotFound', 60_000);
  await until(() => ready('smtptarget', 'added-after')?.status === 'True', 30_000);
  expect(op.process.pid).toBe(pid);
  expect(op.process.exitCode).toBeNull();
});
