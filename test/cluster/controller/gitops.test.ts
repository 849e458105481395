// A GitOps tool must see no drift: the controller writes status, and of metadata only its
// in-use finalizer (a field no manifest sets, owned by the operator's own field manager).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { eventually, getCondition } from '../../support/wait.ts';

let ns: string;
let op: Operator;
const manifest = `
apiVersion: v1
kind: Secret
metadata: {name: relay-login, labels: {app: mail}}
stringData: {username: app, password: not-a-real-password}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata: {name: relay, labels: {team: a}, annotations: {note: from-git}}
spec: {host: relay.example.com, port: 587, credentials: {secretRef: {name: relay-login}}}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: relay}
spec: {provider: SMTP, smtp: {targetRef: {name: relay}}, default: true}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: app}
spec: {email: app@example.com, displayName: App}
`;

beforeAll(async () => {
  ns = await createNamespace('ctl-gitops');
  op = await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--connection-tests=false'] });
});
afterAll(async () => {
  await op?.stop();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

interface ManagedFields {
  manager: string;
  subresource?: string;
  operation: string;
  fieldsV1?: Record<string, unknown>;
}

const snapshot = async (kind: string, name: string) => {
  const o = JSON.parse(await kubectlOk(['get', kind, name, '-n', ns, '-o', 'json', '--show-managed-fields']));
  const { resourceVersion: _rv, managedFields, finalizers, generation: _g, ...metadata } = o.metadata;
  return { spec: o.spec, metadata, finalizers: finalizers as string[] | undefined, generation: o.metadata.generation as number, managedFields: managedFields as ManagedFields[] };
};

it('changes no spec and, of metadata, only its in-use finalizer; owns status and that finalizer', async () => {
  await kubectlOk(['apply', '--server-side', '--field-manager=flux', '-n', ns, '-f', '-'], manifest);
  const before = {
    target: await snapshot('smtptarget', 'relay'),
    server: await snapshot('emailserver', 'relay'),
    identity: await snapshot('senderidentity', 'app'),
  };
  await eventually(async () => expect(await getCondition('senderidentity', ns, 'app', 'Ready')).toMatchObject({ status: 'True' }));
  // Let a few more reconciles happen (a Secret change re-reconciles everything that uses it).
  await kubectlOk(['label', 'secret', 'relay-login', '-n', ns, 'touched=yes']);
  await new Promise((r) => setTimeout(r, 1500));

  for (const [kind, name, prev, inUse] of [
    ['smtptarget', 'relay', before.target, true],
    ['emailserver', 'relay', before.server, true],
    ['senderidentity', 'app', before.identity, false],
  ] as const) {
    const after = await snapshot(kind, name);
    expect(after.spec, kind).toEqual(prev.spec);
    expect(after.metadata, kind).toEqual(prev.metadata);
    expect(after.generation, kind).toBe(prev.generation);
    // The target is used by the server, the server by the identity: both carry in-use protection.
    expect(after.finalizers, kind).toEqual(inUse ? ['email.postmaster.dev/in-use-protection'] : undefined);
    const ours = after.managedFields.filter((f) => f.manager === 'postmaster');
    expect(ours.length, `${kind} has a postmaster field manager`).toBeGreaterThan(0);
    for (const f of ours) {
      if (f.subresource === 'status') continue;
      expect(f.fieldsV1, `${kind}: outside status, postmaster owns only its finalizer`).toEqual({ 'f:metadata': { 'f:finalizers': { '.': {}, 'v:"email.postmaster.dev/in-use-protection"': {} } } });
    }
  }

  // Re-applying the same manifest as the GitOps tool is a no-op: no conflict, no new generation.
  const r = await kubectl(['apply', '--server-side', '--field-manager=flux', '-n', ns, '-f', '-'], manifest);
  expect(r.code, r.stderr).toBe(0);
  expect((await snapshot('smtptarget', 'relay')).generation).toBe(before.target.generation);
});
