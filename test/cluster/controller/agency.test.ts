// An agency (a platform team) runs servers for its sub-accounts: a platform
// server as the default of labelled namespaces, who uses what in status, and
// deleting a server that cannot strand its senders (in-use protection).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

const FINALIZER = 'email.postmaster.dev/in-use-protection';

let platform: string;
let tenantA: string;
let tenantA2: string;
let tenantB: string;
let ownDefault: string;
let outsider: string;
let sinks: { a: SmtpSink; b: SmtpSink };
let op: Operator;
let agency: string;

interface Identity {
  status?: { server?: { name: string; namespace: string } };
}
interface Server {
  metadata: { finalizers?: string[]; deletionTimestamp?: string };
  status?: { usage?: { identities: number; namespaces: number; names: string[] } };
}

const label = (ns: string, ...labels: string[]) => kubectlOk(['label', 'namespace', ns, '--overwrite', ...labels]);
const identity = (name: string, spec: Record<string, unknown> = {}) => resource('SenderIdentity', name, { email: `${name}@example.com`, ...spec });
const serverOf = async (ns: string, name: string) => (await getObject<Identity>('senderidentity', ns, name))?.status?.server;
const platformServer = (name: string, tenant: string) =>
  resource('EmailServer', name, {
    provider: 'SMTP',
    smtp: { targetRef: { name } },
    defaultFor: { namespaceSelector: { matchLabels: { tenant } } },
    allowedNamespaces: { from: 'Selector', selector: { matchLabels: { agency } } },
  });

beforeAll(async () => {
  platform = await createNamespace('agency-platform');
  agency = platform; // a label value unique to this run, so other files' namespaces never match
  sinks = { a: await startSmtpSink({ mode: 'None', noAuth: true }), b: await startSmtpSink({ mode: 'None', noAuth: true }) };
  tenantA = await createNamespace('agency-a', { agency, tenant: `a-${agency}` });
  tenantA2 = await createNamespace('agency-a2', { agency, tenant: `a-${agency}` });
  tenantB = await createNamespace('agency-b', { agency, tenant: `b-${agency}` });
  ownDefault = await createNamespace('agency-own', { agency, tenant: `a-${agency}` });
  outsider = await createNamespace('agency-out', { tenant: `a-${agency}` }); // selected, but not admitted
  op = await startOperator({
    kubeconfig: kubeconfig(),
    namespaces: [platform, tenantA, tenantA2, tenantB, ownDefault, outsider],
    extraArgs: ['--connection-tests=false'],
  });
  await apply(
    platform,
    resource('SmtpTarget', 'group-a', { host: '127.0.0.1', port: sinks.a.port, security: 'None' }),
    resource('SmtpTarget', 'group-b', { host: '127.0.0.1', port: sinks.b.port, security: 'None' }),
    platformServer('group-a', `a-${agency}`),
    platformServer('group-b', `b-${agency}`),
  );
  await apply(tenantA, identity('notify'), identity('billing'));
  await apply(tenantA2, identity('notify'));
  await apply(tenantB, identity('notify'));
  await apply(
    ownDefault,
    resource('SmtpTarget', 'own', { host: '127.0.0.1', port: sinks.b.port, security: 'None' }),
    resource('EmailServer', 'own', { provider: 'SMTP', smtp: { targetRef: { name: 'own' } }, default: true }),
    identity('notify'),
  );
  await apply(outsider, identity('notify'));
});

afterAll(async () => {
  await op?.stop();
  await Promise.all([sinks?.a.close(), sinks?.b.close()]);
  await kubectl(['delete', 'ns', platform, tenantA, tenantA2, tenantB, ownDefault, outsider, '--wait=false']);
});

describe('defaults for other namespaces', () => {
  it('resolves each tenant group to its platform default, and a namespace of its own default to that', async () => {
    await eventually(async () => {
      expect(await serverOf(tenantA, 'notify')).toMatchObject({ namespace: platform, name: 'group-a' });
      expect(await serverOf(tenantB, 'notify')).toMatchObject({ namespace: platform, name: 'group-b' });
      expect(await serverOf(ownDefault, 'notify')).toMatchObject({ namespace: ownDefault, name: 'own' });
      expect(await getCondition('senderidentity', tenantA, 'notify', 'Ready')).toMatchObject({ status: 'True' });
    }, 30_000);
    expect((await getCondition('senderidentity', tenantA, 'notify', 'ReferencesResolved'))?.message).toBe(
      `Uses EmailServer "${platform}/group-a", the default for namespace "${tenantA}" (defaultFor).`,
    );
  });

  it('sends through the doors by that resolution: a tenant identity with no serverRef goes out through the platform default', async () => {
    await kubectlOk(['create', 'serviceaccount', 'app', '-n', tenantB]);
    await kubectlOk(['create', 'role', 'send', '-n', tenantB, '--verb=send', '--resource=senderidentities.email.postmaster.dev']);
    await kubectlOk(['create', 'rolebinding', 'send', '-n', tenantB, '--role=send', `--serviceaccount=${tenantB}:app`]);
    const token = (await kubectlOk(['create', 'token', 'app', '-n', tenantB, '--audience', 'postmaster'])).trim();
    await eventually(async () => expect(await getCondition('senderidentity', tenantB, 'notify', 'Ready')).toMatchObject({ status: 'True' }));
    const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sender: 'notify', to: ['customer@example.net'], subject: 'via the platform default', text: 'hi' }),
    });
    const body = (await res.json()) as { server?: unknown };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.server).toEqual({ namespace: platform, name: 'group-b' });
    expect(sinks.b.messages.map((m) => m.headers.get('subject')?.[0])).toContain('via the platform default');
    expect(sinks.a.messages).toHaveLength(0);
  });

  it('moves identities within seconds when a namespace is relabelled', async () => {
    await label(tenantA2, `tenant=b-${agency}`);
    await eventually(async () => expect(await serverOf(tenantA2, 'notify')).toMatchObject({ name: 'group-b' }), 5_000, 100);
    await label(tenantA2, `tenant=a-${agency}`);
    await eventually(async () => expect(await serverOf(tenantA2, 'notify')).toMatchObject({ name: 'group-a' }), 5_000, 100);
  });

  it('names both servers when two platform defaults select one namespace, and never picks one', async () => {
    await apply(platform, platformServer('group-a-too', `a-${agency}`));
    await eventually(async () => {
      const refs = await getCondition('senderidentity', tenantA, 'notify', 'ReferencesResolved');
      expect(refs).toMatchObject({ status: 'False', reason: 'MultipleDefaultServers' });
      expect(refs?.message).toContain(`"${platform}/group-a" and "${platform}/group-a-too"`);
      expect(await getCondition('senderidentity', tenantA, 'notify', 'Ready')).toMatchObject({ status: 'False', reason: 'MultipleDefaultServers' });
    });
    // The namespace's own default still wins over both.
    expect(await serverOf(ownDefault, 'notify')).toMatchObject({ name: 'own' });
    await kubectlOk(['delete', 'emailserver', 'group-a-too', '-n', platform]);
    await eventually(async () => expect(await getCondition('senderidentity', tenantA, 'notify', 'Ready')).toMatchObject({ status: 'True' }));
  });

  it('reports namespaces its defaultFor selects but allowedNamespaces does not admit', async () => {
    await eventually(async () => {
      const defaults = await getCondition('emailserver', platform, 'group-a', 'DefaultFor');
      expect(defaults).toMatchObject({ status: 'False', reason: 'DefaultForNotAllowed' });
      expect(defaults?.message).toContain(outsider);
      // Reported, not gating: the server serves the namespaces it admits.
      expect(await getCondition('emailserver', platform, 'group-a', 'Ready')).toMatchObject({ status: 'True' });
      expect(await getCondition('senderidentity', outsider, 'notify', 'Ready')).toMatchObject({ status: 'False', reason: 'NoDefaultServer' });
    });
  });

  it('is refused by the API server when allowedNamespaces would admit nobody else', async () => {
    const r = await kubectl(
      ['apply', '--server-side', '-n', platform, '-f', '-'],
      JSON.stringify(resource('EmailServer', 'closed', { provider: 'SMTP', smtp: { targetRef: { name: 'group-a' } }, defaultFor: { namespaceSelector: {} } })),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.defaultFor: Invalid value');
    expect(r.stderr).toContain('defaultFor needs allowedNamespaces.from All or Selector');
  });
});

describe('who uses what', () => {
  it('counts identities per server and servers per target, with IN USE columns', async () => {
    await eventually(async () => {
      const a = await getObject<Server>('emailserver', platform, 'group-a');
      expect(a?.status?.usage).toEqual({ identities: 3, namespaces: 2, names: [`${tenantA}/billing`, `${tenantA}/notify`, `${tenantA2}/notify`] });
    });
    await apply(tenantA, identity('reports'));
    await eventually(async () => expect((await getObject<Server>('emailserver', platform, 'group-a'))?.status?.usage?.identities).toBe(4));
    await kubectlOk(['delete', 'senderidentity', 'reports', '-n', tenantA]);
    await eventually(async () => expect((await getObject<Server>('emailserver', platform, 'group-a'))?.status?.usage?.identities).toBe(3));

    const servers = await kubectlOk(['get', 'emailservers', '-n', platform]);
    expect(servers.split('\n')[0]).toMatch(/NAME\s+PROVIDER\s+DEFAULT\s+IN USE\s+READY/);
    expect(servers).toMatch(/group-a\s+SMTP\s+false\s+3\s+True/);
    const targets = await kubectlOk(['get', 'smtptargets', '-n', platform]);
    expect(targets).toMatch(/group-a\s+127\.0\.0\.1\s+\d+\s+None\s+1\s+True/);
    expect((await getObject<{ status?: { usage?: unknown } }>('smtptarget', platform, 'group-a'))?.status?.usage).toEqual({
      servers: 1,
      names: ['group-a (primary)'],
    });
  });
});

describe('in-use protection', () => {
  it('leaves an in-use server Terminating, names who uses it, and lets it go once they are gone', async () => {
    await eventually(async () => expect((await getObject<Server>('emailserver', platform, 'group-b'))?.metadata.finalizers).toEqual([FINALIZER]));
    await kubectlOk(['delete', 'emailserver', 'group-b', '-n', platform, '--wait=false']);
    await eventually(async () => {
      const server = await getObject<Server>('emailserver', platform, 'group-b');
      expect(server?.metadata.deletionTimestamp).toBeDefined();
      expect(await getCondition('emailserver', platform, 'group-b', 'DeletionAllowed')).toMatchObject({ status: 'False', reason: 'InUse' });
      // Still Ready: it delivers for its users until they move, which is the point of the protection.
      const ready = await getCondition('emailserver', platform, 'group-b', 'Ready');
      expect(ready).toMatchObject({ status: 'True' });
      expect(ready?.message).toContain(`is being deleted but 1 SenderIdentity still uses it (${tenantB}/notify)`);
      const events = await kubectlOk(['get', 'events', '-n', platform, '--field-selector', 'involvedObject.name=group-b,type=Warning']);
      expect(events).toMatch(/InUse.*DeletionAllowed: EmailServer .*still uses it/);
    });
    // Its identity still resolves to it and stays Ready while it is held.
    expect(await getCondition('senderidentity', tenantB, 'notify', 'Ready')).toMatchObject({ status: 'True' });
    await kubectlOk(['delete', 'senderidentity', 'notify', '-n', tenantB]);
    await eventually(async () => expect(await getObject('emailserver', platform, 'group-b')).toBeUndefined());
    // Its target lost its only user, and with it its protection.
    await eventually(async () => expect((await getObject<Server>('smtptarget', platform, 'group-b'))?.metadata.finalizers).toBeUndefined());
  });

  it('deletes at once with the annotation; identities then report EmailServerNotFound and still show the server they expect', async () => {
    await kubectlOk(['annotate', 'emailserver', 'own', '-n', ownDefault, 'email.postmaster.dev/in-use-protection=disabled']);
    await apply(ownDefault, identity('named', { serverRef: { name: 'own' } }));
    await eventually(async () => expect(await getCondition('senderidentity', ownDefault, 'named', 'Ready')).toMatchObject({ status: 'True' }));
    expect((await getObject<Server>('emailserver', ownDefault, 'own'))?.metadata.finalizers).toBeUndefined();
    await kubectlOk(['delete', 'emailserver', 'own', '-n', ownDefault, '--timeout=10s']);
    await eventually(async () =>
      expect(await getCondition('senderidentity', ownDefault, 'named', 'Ready')).toMatchObject({ status: 'False', reason: 'EmailServerNotFound' }),
    );
    const list = await kubectlOk(['get', 'senderidentities', '-n', ownDefault]);
    expect(list).toMatch(/named\s+named@example\.com\s+own\s+False\s+EmailServerNotFound/);
  });

  it('never blocks a GitOps prune that deletes a server and its users in one operation', async () => {
    const pruned = [
      resource('SmtpTarget', 'pruned', { host: '127.0.0.1', port: sinks.a.port, security: 'None' }),
      resource('EmailServer', 'pruned', { provider: 'SMTP', smtp: { targetRef: { name: 'pruned' } } }),
      identity('pruned-user', { serverRef: { name: 'pruned' } }),
    ];
    await apply(ownDefault, ...pruned);
    await eventually(async () => expect((await getObject<Server>('emailserver', ownDefault, 'pruned'))?.metadata.finalizers).toEqual([FINALIZER]));
    // One kubectl delete of the whole set, as Flux or Argo CD prune it.
    await kubectlOk(['delete', '-n', ownDefault, '--timeout=30s', 'smtptarget/pruned', 'emailserver/pruned', 'senderidentity/pruned-user']);
    for (const kind of ['smtptarget', 'emailserver', 'senderidentity']) expect(await getObject(kind, ownDefault, kind === 'senderidentity' ? 'pruned-user' : 'pruned')).toBeUndefined();
  });

  it('never blocks deleting a whole namespace, users and all', async () => {
    const team = await createNamespace('agency-gone');
    const local = await startOperatorFor(team);
    try {
      await apply(
        team,
        resource('SmtpTarget', 'relay', { host: '127.0.0.1', port: sinks.a.port, security: 'None' }),
        resource('EmailServer', 'relay', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, default: true }),
        identity('app'),
      );
      await eventually(async () => {
        expect((await getObject<Server>('emailserver', team, 'relay'))?.metadata.finalizers).toEqual([FINALIZER]);
        expect((await getObject<Server>('smtptarget', team, 'relay'))?.metadata.finalizers).toEqual([FINALIZER]);
      }, 30_000);
      await kubectlOk(['delete', 'namespace', team, '--timeout=60s']);
      expect((await kubectl(['get', 'namespace', team])).code).not.toBe(0);
    } finally {
      await local.stop();
    }
  });
});

function startOperatorFor(ns: string): Promise<Operator> {
  return startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--connection-tests=false'] });
}
