// The API server goes away for 20 s and comes back: the operator recovers
// without a restart and reconciles what changed, and meanwhile the send
// endpoint keeps serving a caller it accepted before, for the outage grace and
// no longer. This file stops an API server, so it runs one of its own.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../support/cluster.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';

let cluster: Cluster;
let op: Operator;
let sink: SmtpSink;
const ns = 'outage';
/** Shorter than the outage, longer than the 10 s auth cache: both ends are seen. */
const GRACE_S = 14;

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
  sink = await startSmtpSink({ mode: 'None', noAuth: true });
  op = await startOperator({ kubeconfig: cluster.kubeconfig, namespaces: [ns], extraArgs: ['--connection-tests=false', `--auth-outage-grace=${GRACE_S}s`] });
}, 240_000);

afterAll(async () => {
  await op?.stop();
  await sink?.close();
  await cluster?.stop();
});

const send = async (token: string, subject: string) => {
  const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sender: 'app', to: ['ops@example.org'], subject, text: 'hi' }),
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
};

it('recovers after the API server was down for 20 s, without restarting; sends keep working for known callers for the grace', { timeout: 120_000 }, async () => {
  kc(
    ['apply', '--server-side', '-n', ns, '-f', '-'],
    `apiVersion: v1\nkind: Secret\nmetadata: {name: login}\nstringData: {username: u, password: p}\n---\n` +
      `apiVersion: email.postmaster.dev/v1alpha1\nkind: SmtpTarget\nmetadata: {name: relay}\n` +
      `spec: {host: relay.example.com, port: 587, credentials: {secretRef: {name: login}}}\n`,
  );
  await until(() => ready('smtptarget', 'relay')?.status === 'True', 20_000);
  kc(
    ['apply', '--server-side', '-n', ns, '-f', '-'],
    `apiVersion: email.postmaster.dev/v1alpha1\nkind: SmtpTarget\nmetadata: {name: sink}\nspec: {host: 127.0.0.1, port: ${sink.port}, security: None}\n---\n` +
      `apiVersion: email.postmaster.dev/v1alpha1\nkind: EmailServer\nmetadata: {name: sink}\nspec: {provider: SMTP, smtp: {targetRef: {name: sink}}, default: true}\n---\n` +
      `apiVersion: email.postmaster.dev/v1alpha1\nkind: SenderIdentity\nmetadata: {name: app}\nspec: {email: app@example.com}\n`,
  );
  kc(['create', 'serviceaccount', 'app', '-n', ns]);
  kc(['create', 'role', 'send', '-n', ns, '--verb=send', '--resource=senderidentities.email.postmaster.dev']);
  kc(['create', 'rolebinding', 'send', '-n', ns, '--role=send', `--serviceaccount=${ns}:app`]);
  const token = kc(['create', 'token', 'app', '-n', ns, '--audience', 'postmaster']).trim();
  await until(() => ready('senderidentity', 'app')?.status === 'True', 20_000);
  expect((await send(token, 'before')).status).toBe(200);
  const pid = op.process.pid;

  await cluster.stop();
  const stopped = Date.now();
  const at = (s: number) => new Promise((r) => setTimeout(r, Math.max(0, stopped + s * 1000 - Date.now())));
  // Past the 10 s auth cache, within the grace: the caller accepted before is still served.
  await at(11);
  const during = await send(token, 'during the outage');
  expect(during.status, JSON.stringify(during.body)).toBe(200);
  // Past the grace: refused as temporary, never guessed.
  await at(GRACE_S + 2);
  const after = await send(token, 'after the grace');
  expect(after.status).toBe(503);
  expect(after.body.error?.code).toBe('POSTMASTER_AUTH_UNAVAILABLE');
  await at(20);
  expect(sink.messages.map((m) => m.headers.get('subject')?.[0])).toEqual(['before', 'during the outage']);
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
