// `npm run demo`: a real API server, the CRDs, the examples, the operator, a
// local inbox, and one message delivered to it through the send endpoint.
// `npm run demo -- --keep` leaves it all running until Ctrl-C.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { startCluster } from '../test/support/cluster.ts';
import { kubectlFor } from '../test/support/kubectl-run.ts';
import { startOperator } from '../test/support/operator.ts';

const repo = join(import.meta.dirname, '..');
const inboxDir = join(repo, '.cache', 'demo', 'inbox');
const keep = process.argv.includes('--keep');
const step = (text: string) => console.log(`\n==> ${text}`);

step('Starting a real kube-apiserver with etcd (built once from the Kubernetes Go modules, then cached)');
const cluster = await startCluster();
// Asynchronous: the local inbox lives in this process and must keep answering.
const kubectl = kubectlFor(cluster.kubeconfig);
const show = async (args: string[]) => {
  console.log(`$ kubectl ${args.join(' ')}`);
  console.log((await kubectl(args)).trimEnd());
};
console.log(`export KUBECONFIG=${cluster.kubeconfig}`);

step('A local inbox: an SMTP server on loopback that files every message under .cache/demo/inbox/');
rmSync(inboxDir, { recursive: true, force: true });
mkdirSync(inboxDir, { recursive: true });
const inbox = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const file = join(inboxDir, `${Date.now()}-${session.id}.eml`);
      writeFileSync(file, Buffer.concat(chunks));
      callback(null, `queued as ${session.id}`);
    });
  },
});
await new Promise<void>((resolve) => inbox.listen(0, '127.0.0.1', resolve));
const inboxPort = (inbox.server.address() as { port: number }).port;
console.log(`inbox listening on 127.0.0.1:${inboxPort}`);

step('Installing the CRDs and applying every example, as a platform team would');
await show(['apply', '--server-side', '-f', join(repo, 'crds')]);
await kubectl(['wait', '--for=condition=Established', 'crd', '-l', 'app.kubernetes.io/part-of=postmaster']);
await kubectl(['create', 'namespace', 'examples']);
for (const file of readdirSync(join(repo, 'examples')).filter((f) => f.endsWith('.yaml'))) {
  const text = readFileSync(join(repo, 'examples', file), 'utf8');
  const own = /^\s+namespace:/m.test(text);
  await kubectl(['apply', '--server-side', ...(own ? [] : ['-n', 'examples']), '-f', '-'], text);
}

step('The demo namespace: an SMTP target pointing at the local inbox, a server, an identity');
await kubectl(['create', 'namespace', 'demo']);
await kubectl(
  ['apply', '--server-side', '-n', 'demo', '-f', '-'],
  `apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata: {name: local-inbox}
spec: {host: 127.0.0.1, port: ${inboxPort}, security: None}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: local}
spec:
  provider: SMTP
  smtp: {targetRef: {name: local-inbox}}
  senderEmail: demo@example.com
  default: true
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: demo}
spec: {email: demo@example.com, displayName: Postmaster Demo, replyTo: team@example.com}
`,
);

step('Starting the operator (node src/main.ts), watching the example and demo namespaces');
const op = await startOperator({
  kubeconfig: cluster.kubeconfig,
  namespaces: ['examples', 'demo', 'platform-mail', 'team-checkout'],
  leaseNamespace: 'demo',
  extraArgs: ['--check-step-timeout=3s', '--log-level=info'],
});
await kubectl(['wait', '--for=condition=Ready', '--timeout=60s', '-n', 'demo', 'senderidentity/demo', 'emailserver/local']);
await show(['get', 'email', '-n', 'demo']);
console.log('\nThe examples name real providers this machine cannot reach: their status says exactly why.');
await show(['get', 'smtptargets,emailservers', '-n', 'examples']);

step('A workload allowed by RBAC (verb "send" on senderidentities/demo) gets a ServiceAccount token');
await kubectl(['create', 'serviceaccount', 'demo-app', '-n', 'demo']);
await kubectl(['create', 'role', 'send-as-demo', '-n', 'demo', '--verb=send', '--resource=senderidentities.email.postmaster.dev', '--resource-name=demo']);
await kubectl(['create', 'rolebinding', 'demo-app-sends', '-n', 'demo', '--role=send-as-demo', '--serviceaccount=demo:demo-app']);
const token = (await kubectl(['create', 'token', 'demo-app', '-n', 'demo', '--audience', 'postmaster'])).trim();

step(`POST http://127.0.0.1:${op.httpPort}/v1/messages as demo-app, sender "demo"`);
const response = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'demo-1' },
  body: JSON.stringify({
    sender: 'demo',
    to: ['You <you@example.com>'],
    subject: 'Hello from postmaster',
    text: 'This message went through the in-cluster send endpoint, authorised by RBAC.',
  }),
});
console.log(`HTTP ${response.status}: ${await response.text()}`);
const deadline = Date.now() + 10_000;
while (readdirSync(inboxDir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
const delivered = readdirSync(inboxDir);
if (!response.ok || delivered.length === 0) {
  console.error('no message arrived in the inbox');
  process.exitCode = 1;
} else {
  console.log(`\ndelivered to the local inbox: .cache/demo/inbox/${delivered[0]}`);
  console.log(readFileSync(join(inboxDir, delivered[0]!), 'utf8').split(/\r?\n\r?\n/)[0]);
}

const stop = async () => {
  await op.stop();
  await new Promise<void>((resolve) => inbox.close(() => resolve()));
  await cluster.stop();
};
if (keep) {
  console.log(`\nStill running. export KUBECONFIG=${cluster.kubeconfig}   (Ctrl-C stops everything)`);
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
} else {
  await stop();
  console.log('\nDemo finished. `npm run demo -- --keep` keeps everything running for a look around.');
}
