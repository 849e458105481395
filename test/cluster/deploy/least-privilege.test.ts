// manifests/ (the kustomize base rendered from the chart) as a cluster admin
// would apply it, and the operator running with nothing but the postmaster
// ServiceAccount's RBAC: reconciling, events, leader election, generated
// Secrets, TokenReview and SubjectAccessReview all allowed.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseObjects } from '../../../scripts/lib/manifests.ts';
import { createNamespace, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { serviceAccountKubeconfig } from '../../support/service-account.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

const manifests = join(import.meta.dirname, '..', '..', '..', 'manifests');
let ns: string;
let op: Operator;
let sink: SmtpSink;

beforeAll(async () => {
  // The install on a fresh cluster, CRDs and Namespace included, in one command.
  await kubectlOk(['apply', '--server-side', '-k', manifests]);
  // A second apply (a GitOps tool's next sync) is valid and conflicts with nothing.
  const again = await kubectl(['apply', '--server-side', '--dry-run=server', '-k', manifests]);
  expect(again.code, again.stderr).toBe(0);

  // A kubeconfig that is only the operator's ServiceAccount.
  const saConfig = await serviceAccountKubeconfig('postmaster-system', 'postmaster');

  ns = await createNamespace('least-priv');
  sink = await startSmtpSink({ mode: 'None', noAuth: true });
  op = await startOperator({
    kubeconfig: saConfig,
    namespaces: [ns],
    leaseNamespace: 'postmaster-system',
    // The Lease the chart's Role names (the default id, postmaster-leader, for release "postmaster").
    extraArgs: ['--check-step-timeout=2s', '--leader-election-id=postmaster-leader'],
  });
  await apply(
    ns,
    resource('SmtpTarget', 'sink', { host: '127.0.0.1', port: sink.port, security: 'None' }),
    resource('EmailServer', 'sink', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, default: true }),
    resource('SenderIdentity', 'app', { email: 'app@example.com', smtpCredentials: { secretName: 'app-smtp' } }),
  );
});

afterAll(async () => {
  await op?.stop();
  await sink?.close();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

it('installs every object of manifests/ with kubectl apply -k', async () => {
  const built = await kubectlOk(['kustomize', manifests]);
  const objects = parseObjects(built);
  expect(objects.length).toBeGreaterThan(10);
  const listed = await kubectlOk(['get', '-f', '-', '-o', 'name'], built);
  expect(listed.trim().split('\n')).toHaveLength(objects.length);
  expect(listed).toContain('customresourcedefinition.apiextensions.k8s.io/smtptargets.email.postmaster.dev');
  expect(listed).toContain('deployment.apps/postmaster');
  const labels = await kubectlOk(['get', 'ns', 'postmaster-system', '-o', 'jsonpath={.metadata.labels}']);
  expect(JSON.parse(labels)).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
});

it('reconciles, records events, holds the lease and writes credentials with only its own RBAC', async () => {
  await eventually(async () => {
    expect(await getCondition('senderidentity', ns, 'app', 'Ready')).toMatchObject({ status: 'True' });
    expect(await getCondition('senderidentity', ns, 'app', 'CredentialsReady')).toMatchObject({ status: 'True' });
  }, 30_000);
  const lease = await getObject<{ spec: { holderIdentity: string } }>('lease', 'postmaster-system', 'postmaster-leader');
  expect(lease?.spec.holderIdentity).toMatch(/^op-/);
  const events = JSON.parse(await kubectlOk(['get', 'events', '-n', ns, '-o', 'json'])).items as { reason: string }[];
  expect(events.map((e) => e.reason)).toContain('Succeeded');
  expect(op.logs()).not.toMatch(/forbidden/i);
});

it('authenticates and authorises callers with only its own RBAC', async () => {
  await kubectlOk(['create', 'serviceaccount', 'caller', '-n', ns]);
  await kubectlOk(['create', 'role', 'send', '-n', ns, '--verb=send', '--resource=senderidentities.email.postmaster.dev']);
  await kubectlOk(['create', 'rolebinding', 'send', '-n', ns, '--role=send', `--serviceaccount=${ns}:caller`]);
  const token = (await kubectlOk(['create', 'token', 'caller', '-n', ns, '--audience', 'postmaster'])).trim();
  const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sender: 'app', to: ['ops@example.com'], subject: 'least privilege', text: 'ok' }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.arrayBuffer();
  expect(sink.messages).toHaveLength(1);
});
