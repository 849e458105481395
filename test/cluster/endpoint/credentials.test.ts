// Generated SMTP credentials: written and owned by the operator, rotated when
// the Secret is deleted, gone with the identity; a foreign Secret is not taken over.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource, secret } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

let ns: string;
let op: Operator;

interface SecretView {
  metadata: { uid: string; ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
  data: Record<string, string>;
}
const decoded = (s: SecretView) => Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

beforeAll(async () => {
  ns = await createNamespace('ep-creds');
  op = await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--connection-tests=false', '--service-namespace=mail-system'] });
  await apply(
    ns,
    resource('SmtpTarget', 'relay', { host: 'relay.example.com', port: 25, security: 'None' }),
    resource('EmailServer', 'relay', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, default: true }),
    resource('SenderIdentity', 'grafana', { email: 'grafana@example.com', smtpCredentials: { secretName: 'grafana-smtp' } }),
    secret('someone-elses', { password: 'not ours' }),
    resource('SenderIdentity', 'squatter', { email: 'squat@example.com', smtpCredentials: { secretName: 'someone-elses' } }),
  );
});

afterAll(async () => {
  await op?.stop();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

it('writes the Secret, owned by the identity, and says so in status', async () => {
  const s = await eventually(async () => {
    const got = await getObject<SecretView>('secret', ns, 'grafana-smtp');
    expect(got).toBeDefined();
    return got!;
  });
  expect(decoded(s)).toMatchObject({ host: 'postmaster.mail-system.svc', port: '2525', username: `${ns}/grafana` });
  expect(decoded(s).password!.length).toBeGreaterThanOrEqual(24);
  expect(s.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SenderIdentity', name: 'grafana', controller: true })]);
  await eventually(async () => {
    expect(await getCondition('senderidentity', ns, 'grafana', 'CredentialsReady')).toMatchObject({ status: 'True' });
    const identity = await getObject<{ status: { smtpCredentialsSecret: string } }>('senderidentity', ns, 'grafana');
    expect(identity?.status.smtpCredentialsSecret).toBe('grafana-smtp');
  });
});

it('rotates the password when the Secret is deleted', async () => {
  const before = decoded((await getObject<SecretView>('secret', ns, 'grafana-smtp'))!).password;
  await kubectlOk(['delete', 'secret', 'grafana-smtp', '-n', ns]);
  const after = await eventually(async () => {
    const got = await getObject<SecretView>('secret', ns, 'grafana-smtp');
    expect(got).toBeDefined();
    return decoded(got!).password;
  }, 10_000);
  expect(after).not.toBe(before);
});

it('refuses to take over a Secret it does not own', async () => {
  await eventually(async () => {
    const c = await getCondition('senderidentity', ns, 'squatter', 'CredentialsReady');
    expect(c).toMatchObject({ status: 'False', reason: 'CredentialsSecretConflict' });
    expect(c?.message).toContain(`Secret "${ns}/someone-elses" exists and is not owned by SenderIdentity "squatter"`);
  });
  expect(decoded((await getObject<SecretView>('secret', ns, 'someone-elses'))!)).toEqual({ password: 'not ours' });
});

it('the Secret goes with the identity (garbage collection by owner reference)', { timeout: 90_000 }, async () => {
  await kubectlOk(['delete', 'senderidentity', 'grafana', '-n', ns]);
  // The garbage collector learns new CRD types on a 30 s cycle: allow for it.
  await eventually(async () => expect(await getObject('secret', ns, 'grafana-smtp')).toBeUndefined(), 75_000, 1000);
});
