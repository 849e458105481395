// manifests/ as a cluster admin would apply them, and the operator running with
// nothing but the postmaster ServiceAccount's RBAC: reconciling, events, leader
// election, generated Secrets, TokenReview and SubjectAccessReview all allowed.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createNamespace, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

const manifests = join(import.meta.dirname, '..', '..', '..', 'manifests');
let ns: string;
let op: Operator;
let sink: SmtpSink;

beforeAll(async () => {
  await kubectlOk(['apply', '--server-side', '-f', join(manifests, '00-namespace.yaml')]);
  // Server-side dry run of everything (the Deployment and Services too): what a GitOps tool would be told.
  const dry = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', manifests]);
  expect(dry.code, dry.stderr).toBe(0);
  await kubectlOk(['apply', '--server-side', '-f', join(manifests, '10-rbac.yaml')]);

  // A kubeconfig that is only the operator's ServiceAccount.
  const admin = JSON.parse(await kubectlOk(['config', 'view', '--raw', '-o', 'json']));
  const token = (await kubectlOk(['create', 'token', 'postmaster', '-n', 'postmaster-system', '--duration=1h'])).trim();
  const cluster = admin.clusters[0].cluster;
  const saConfig = join(mkdtempSync(join(tmpdir(), 'postmaster-sa-')), 'kubeconfig');
  writeFileSync(
    saConfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'] } }],
      users: [{ name: 'postmaster', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: 'postmaster' } }],
      'current-context': 'sa',
    }),
  );

  ns = await createNamespace('least-priv');
  sink = await startSmtpSink({ mode: 'None', noAuth: true });
  op = await startOperator({
    kubeconfig: saConfig,
    namespaces: [ns],
    leaseNamespace: 'postmaster-system',
    extraArgs: ['--check-step-timeout=2s'],
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
