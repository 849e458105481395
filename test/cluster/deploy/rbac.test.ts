// The chart's RBAC as the API server evaluates it, impersonating the operator's
// ServiceAccount: exactly the verbs the operator calls (src/kube, src/endpoint)
// and nothing more, cluster-wide by default and through Roles only when the
// chart is given namespaces to watch.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { render, type KubeObject } from '../../support/helm.ts';
import { createNamespace, kubectl, kubectlOk } from '../../support/kubectl.ts';

const isRbac = (o: KubeObject) => o.apiVersion.startsWith('rbac.authorization.k8s.io/') || o.kind === 'ServiceAccount';

interface Install {
  release: string;
  ns: string;
  sa: string;
  lease: string;
  objects: KubeObject[];
}

async function installRbac(prefix: string, set: string[] = []): Promise<Install> {
  const release = `${prefix}-${randomBytes(3).toString('hex')}`;
  const ns = await createNamespace(prefix);
  const objects = render({ release, namespace: ns, set }).filter(isRbac);
  await kubectlOk(['apply', '--server-side', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
  return { release, ns, sa: `system:serviceaccount:${ns}:${release}-postmaster`, lease: `${release}-postmaster-leader`, objects };
}

/** [verb, resource (with /subresource or /name), namespace ('*' for all namespaces, '' for cluster-scoped)] */
type Ask = [string, string, string];

async function canI(as: string, [verb, resource, ns]: Ask): Promise<boolean> {
  const [res, sub] = resource.split('/');
  const args = ['auth', 'can-i', verb, res!, `--as=${as}`];
  // "leases/NAME" names an object; the other slashes are subresources.
  if (sub && res === 'leases') args[3] = `${res}/${sub}`;
  else if (sub) args.push(`--subresource=${sub}`);
  if (ns === '*') args.push('--all-namespaces');
  else if (ns) args.push('-n', ns);
  const r = await kubectl(args);
  if (r.stdout.trim() === 'yes') return true;
  if (r.stdout.trim() === 'no') return false;
  throw new Error(`kubectl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

/** What the subject may do in `ns`, as `kubectl auth can-i --list` reports it, less what every account may do. */
async function listed(as: string, ns: string): Promise<string[]> {
  const out = await kubectlOk(['auth', 'can-i', '--list', `--as=${as}`, '-n', ns]);
  return out
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s{2,}/))
    .filter((cols) => cols.length >= 4 && cols[0] !== '' && !cols[0]!.startsWith('selfsubject'))
    .map(([resource, , names, verbs]) => `${resource} ${names === '[]' ? '' : names} ${verbs}`.replace(/\s+/g, ' '))
    .sort();
}

describe('watching every namespace (the default)', () => {
  let i: Install;
  let other: string;
  beforeAll(async () => {
    i = await installRbac('rbac');
    other = await createNamespace('rbac-other');
  });

  it.each<[...Ask, boolean]>([
    // Informers: the four kinds, Secrets and Namespaces, everywhere.
    ['list', 'smtptargets.email.postmaster.dev', '*', true],
    ['watch', 'sendingdomains.email.postmaster.dev', '*', true],
    ['watch', 'emailservers.email.postmaster.dev', '*', true],
    ['get', 'senderidentities.email.postmaster.dev', 'OTHER', true],
    ['list', 'secrets', '*', true],
    ['watch', 'secrets', '*', true],
    ['list', 'namespaces', '', true],
    ['watch', 'namespaces', '', true],
    // Status is patched, never spec; servers and targets are patched for their in-use finalizer only.
    ['patch', 'smtptargets.email.postmaster.dev/status', 'OTHER', true],
    ['patch', 'emailservers.email.postmaster.dev/status', 'OTHER', true],
    ['patch', 'senderidentities.email.postmaster.dev/status', 'OTHER', true],
    ['patch', 'sendingdomains.email.postmaster.dev/status', 'OTHER', true],
    ['patch', 'sendingdomains.email.postmaster.dev', 'OTHER', false],
    ['update', 'sendingdomains.email.postmaster.dev', 'OTHER', false],
    ['update', 'smtptargets.email.postmaster.dev/status', 'OTHER', false],
    ['update', 'smtptargets.email.postmaster.dev', 'OTHER', false],
    ['patch', 'emailservers.email.postmaster.dev', 'OTHER', true],
    ['patch', 'smtptargets.email.postmaster.dev', 'OTHER', true],
    ['patch', 'senderidentities.email.postmaster.dev', 'OTHER', false],
    ['update', 'emailservers.email.postmaster.dev', 'OTHER', false],
    ['create', 'senderidentities.email.postmaster.dev', 'OTHER', false],
    ['delete', 'smtptargets.email.postmaster.dev', 'OTHER', false],
    // Generated SMTP credentials (create, then merge patch) and DKIM keys (create only); the garbage collector deletes them.
    ['create', 'secrets', 'OTHER', true],
    ['patch', 'secrets', 'OTHER', true],
    ['update', 'secrets', 'OTHER', false],
    ['delete', 'secrets', 'OTHER', false],
    ['deletecollection', 'secrets', 'OTHER', false],
    // Events on the objects it reconciles.
    ['create', 'events', 'OTHER', true],
    ['patch', 'events', 'OTHER', true],
    ['delete', 'events', 'OTHER', false],
    // The send endpoint's reviews.
    ['create', 'tokenreviews.authentication.k8s.io', '', true],
    ['create', 'subjectaccessreviews.authorization.k8s.io', '', true],
    // Sending is the callers' right, not the operator's.
    ['send', 'senderidentities.email.postmaster.dev', 'OTHER', false],
    // Leader election: its own Lease in its own namespace.
    ['create', 'leases.coordination.k8s.io', 'OWN', true],
    ['get', 'leases/LEASE', 'OWN', true],
    ['update', 'leases/LEASE', 'OWN', true],
    ['get', 'leases/another-lease', 'OWN', false],
    ['update', 'leases/another-lease', 'OWN', false],
    ['delete', 'leases/LEASE', 'OWN', false],
    ['create', 'leases.coordination.k8s.io', 'OTHER', false],
    // Nothing else.
    ['get', 'configmaps', 'OTHER', false],
    ['list', 'pods', '*', false],
    ['create', 'pods', 'OWN', false],
    ['create', 'deployments.apps', 'OWN', false],
    ['get', 'nodes', '', false],
    ['create', 'namespaces', '', false],
    ['update', 'namespaces', '', false],
    ['create', 'serviceaccounts/token', 'OWN', false],
    ['impersonate', 'users', '', false],
    ['bind', 'clusterroles.rbac.authorization.k8s.io', '', false],
    ['escalate', 'clusterroles.rbac.authorization.k8s.io', '', false],
    ['create', 'clusterrolebindings.rbac.authorization.k8s.io', '', false],
    ['create', 'customresourcedefinitions.apiextensions.k8s.io', '', false],
  ])('%s %s in %s: %s', async (verb, resource, where, allowed) => {
    const ns = where === 'OWN' ? i.ns : where === 'OTHER' ? other : where;
    expect(await canI(i.sa, [verb, resource.replace('LEASE', i.lease), ns])).toBe(allowed);
  });

  it('lists exactly the operator\'s rules and no other', async () => {
    expect(await listed(i.sa, other)).toEqual(
      [
        'emailservers.email.postmaster.dev [get list watch patch]',
        'emailservers.email.postmaster.dev/status [patch]',
        'events [create patch]',
        'namespaces [get list watch]',
        'secrets [get list watch create patch]',
        'senderidentities.email.postmaster.dev [get list watch]',
        'senderidentities.email.postmaster.dev/status [patch]',
        'sendingdomains.email.postmaster.dev [get list watch]',
        'sendingdomains.email.postmaster.dev/status [patch]',
        'smtptargets.email.postmaster.dev [get list watch patch]',
        'smtptargets.email.postmaster.dev/status [patch]',
        'subjectaccessreviews.authorization.k8s.io [create]',
        'tokenreviews.authentication.k8s.io [create]',
      ].sort(),
    );
  });
});

describe('watching one namespace (namespaces: [...])', () => {
  let i: Install;
  let watched: string;
  let other: string;
  beforeAll(async () => {
    watched = await createNamespace('rbac-watched');
    other = await createNamespace('rbac-unwatched');
    i = await installRbac('rbacns', [`namespaces={${watched}}`]);
  });

  it('grants everything namespaced through Roles in the watched namespace', () => {
    const roles = i.objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding');
    expect(roles.map((o) => `${o.kind} ${o.metadata.namespace}`).sort()).toEqual(
      [`Role ${watched}`, `Role ${i.ns}`, `RoleBinding ${watched}`, `RoleBinding ${i.ns}`].sort(),
    );
    // The ClusterRole bound to the operator holds only what cannot be namespaced.
    const bound = i.objects.filter((o) => o.kind === 'ClusterRoleBinding').map((b) => (b as { roleRef?: { name: string } }).roleRef?.name);
    const rules = i.objects
      .filter((o) => o.kind === 'ClusterRole' && bound.includes(o.metadata.name))
      .flatMap((o) => (o as { rules?: { resources: string[] }[] }).rules ?? [])
      .flatMap((r) => r.resources);
    expect(rules.sort()).toEqual(['namespaces', 'subjectaccessreviews', 'tokenreviews']);
  });

  it.each<[...Ask, boolean]>([
    ['list', 'smtptargets.email.postmaster.dev', 'WATCHED', true],
    ['watch', 'secrets', 'WATCHED', true],
    ['create', 'secrets', 'WATCHED', true],
    ['patch', 'senderidentities.email.postmaster.dev/status', 'WATCHED', true],
    ['watch', 'sendingdomains.email.postmaster.dev', 'WATCHED', true],
    ['create', 'events', 'WATCHED', true],
    ['list', 'namespaces', '', true],
    ['create', 'tokenreviews.authentication.k8s.io', '', true],
    ['create', 'subjectaccessreviews.authorization.k8s.io', '', true],
    ['update', 'leases/LEASE', 'OWN', true],
    // Not in other namespaces, not across all of them, not in its own (unwatched) one.
    ['list', 'secrets', 'OTHER', false],
    ['get', 'secrets', 'OTHER', false],
    ['list', 'secrets', '*', false],
    ['list', 'smtptargets.email.postmaster.dev', 'OTHER', false],
    ['list', 'smtptargets.email.postmaster.dev', '*', false],
    ['patch', 'emailservers.email.postmaster.dev/status', 'OTHER', false],
    ['create', 'events', 'OTHER', false],
    ['list', 'secrets', 'OWN', false],
  ])('%s %s in %s: %s', async (verb, resource, where, allowed) => {
    const ns = where === 'OWN' ? i.ns : where === 'WATCHED' ? watched : where === 'OTHER' ? other : where;
    expect(await canI(i.sa, [verb, resource.replace('LEASE', i.lease), ns])).toBe(allowed);
  });

  it('lists only the cluster-scoped rules outside the watched namespace', async () => {
    expect(await listed(i.sa, other)).toEqual(
      ['namespaces [get list watch]', 'subjectaccessreviews.authorization.k8s.io [create]', 'tokenreviews.authentication.k8s.io [create]'].sort(),
    );
  });
});
