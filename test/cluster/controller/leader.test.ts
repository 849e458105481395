// Two replicas, one leader: only it reconciles; when it dies the other takes over.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { eventually, getCondition } from '../../support/wait.ts';

let ns: string;
const ops: Operator[] = [];
const LEASE = ['--lease-duration=6s', '--renew-deadline=4s', '--retry-period=1s', '--connection-tests=false'];

const target = (name: string) =>
  `apiVersion: email.postmaster.dev/v1alpha1\nkind: SmtpTarget\nmetadata: {name: ${name}}\nspec: {host: relay.example.com, port: 25, security: None}\n`;
const holder = async () =>
  JSON.parse(await kubectlOk(['get', 'lease', 'postmaster-leader', '-n', ns, '-o', 'json'])).spec.holderIdentity as string;

beforeAll(async () => {
  ns = await createNamespace('ctl-leader');
  for (const id of ['replica-a', 'replica-b']) {
    ops.push(await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], identity: id, extraArgs: LEASE }));
  }
});
afterAll(async () => {
  await Promise.all(ops.map((o) => o.stop()));
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

it('only the leader reconciles, and the other takes over within the lease duration when it dies', async () => {
  const leaderId = await eventually(holder);
  const leader = ops.find((_, i) => ['replica-a', 'replica-b'][i] === leaderId)!;
  const follower = ops.find((o) => o !== leader)!;

  await kubectlOk(['apply', '--server-side', '-n', ns, '-f', '-'], target('first'));
  await eventually(async () => expect(await getCondition('smtptarget', ns, 'first', 'Ready')).toMatchObject({ status: 'True' }));
  expect(await leader.metric('postmaster_reconcile_total')).toBeGreaterThan(0);
  expect(await follower.metric('postmaster_reconcile_total')).toBe(0);
  expect(await follower.metric('postmaster_leader')).toBe(0);
  // Both serve health and readiness: every replica is ready to serve the send endpoint.
  expect((await fetch(`http://127.0.0.1:${follower.healthPort}/readyz`)).status).toBe(200);

  // Death without goodbye: the lease is not released, it must expire.
  await leader.stop('SIGKILL');
  const killedAt = Date.now();
  await kubectlOk(['apply', '--server-side', '-n', ns, '-f', '-'], target('second'));
  const followerId = leaderId === 'replica-a' ? 'replica-b' : 'replica-a';
  await eventually(async () => expect(await holder()).toBe(followerId), 15_000);
  // Taken over within the lease duration (6 s) plus one retry period of the follower.
  expect(Date.now() - killedAt).toBeLessThan(6_000 + 3_000);
  await eventually(async () => expect(await getCondition('smtptarget', ns, 'second', 'Ready')).toMatchObject({ status: 'True' }));
  expect(await follower.metric('postmaster_leader')).toBe(1);
});
