// The Helm chart against the real API server: lint, render and server-side dry
// run for the defaults and every ci/ values file, the restricted Pod Security
// Standard enforced by the API server's own admission, the schema's refusals,
// and a real helm install, upgrade and uninstall.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CI_VALUES, chartDir, ciValues, helm, render, type KubeObject } from '../../support/helm.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';

const monitoringCrds = join(import.meta.dirname, '..', '..', 'support', 'fixtures', 'monitoring-crds.yaml');
const yamlOf = (objects: unknown[]): string => objects.map((o) => stringify(o)).join('---\n');

interface PodSpec {
  serviceAccountName: string;
  securityContext?: Record<string, unknown>;
  containers: { name: string; securityContext?: Record<string, unknown> }[];
}
const deploymentOf = (objects: KubeObject[]) => {
  const d = objects.find((o) => o.kind === 'Deployment');
  if (!d) throw new Error('the chart rendered no Deployment');
  return d as KubeObject & { spec: { replicas: number; template: { metadata: KubeObject['metadata']; spec: PodSpec } } };
};

/** A namespace that enforces (and warns about) the restricted Pod Security Standard. */
const restrictedNamespace = (prefix: string) =>
  createNamespace(prefix, {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/warn': 'restricted',
  });

beforeAll(async () => {
  await kubectlOk(['apply', '--server-side', '-f', monitoringCrds]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', '-f', monitoringCrds]);
  // The single-namespace values grant Roles in "mail"; other test files may use it too.
  await kubectlOk(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mail\n');
});

const variants = [{ name: 'default', files: [] as string[] }, ...CI_VALUES.map((v) => ({ name: v, files: [ciValues(v)] }))];

describe.each(variants)('values: $name', ({ name, files }) => {
  it('passes helm lint --strict', async () => {
    const r = await helm(['lint', '--strict', chartDir, ...files.flatMap((f) => ['--values', f])]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('0 chart(s) failed');
  });

  it('renders objects the API server accepts (server-side dry run), with no Pod Security warning', async () => {
    const ns = await restrictedNamespace(`chart-${name}`);
    const objects = render({ namespace: ns, valuesFiles: files });
    expect(objects.length).toBeGreaterThan(5);
    for (const o of objects) if (o.metadata.namespace) expect([ns, 'mail']).toContain(o.metadata.namespace);
    const r = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], yamlOf(objects));
    expect(r.code, r.stderr).toBe(0);
    // warn=restricted makes the API server say so when a Deployment's pods would be refused.
    expect(r.stderr).not.toMatch(/PodSecurity|violate/i);
  });

  it("renders a pod that the restricted Pod Security Standard admits", async () => {
    const ns = await restrictedNamespace(`pss-${name}`);
    const template = deploymentOf(render({ namespace: ns, valuesFiles: files })).spec.template;
    // Pods need their ServiceAccount to exist; the dry run creates nothing.
    await kubectlOk(['create', 'serviceaccount', template.spec.serviceAccountName, '-n', ns]);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'postmaster', namespace: ns, labels: template.metadata.labels }, spec: template.spec };
    const r = await kubectl(['create', '--dry-run=server', '-f', '-'], stringify(pod));
    expect(r.code, r.stderr).toBe(0);
  });
});

it('is refused by the restricted profile when the pod may run as root (the admission check is real)', async () => {
  const ns = await restrictedNamespace('pss-control');
  const template = deploymentOf(render({ namespace: ns })).spec.template;
  await kubectlOk(['create', 'serviceaccount', template.spec.serviceAccountName, '-n', ns]);
  const spec = structuredClone(template.spec);
  delete spec.securityContext?.runAsNonRoot;
  delete spec.securityContext?.runAsUser;
  delete spec.containers[0]!.securityContext?.runAsNonRoot;
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'root', namespace: ns }, spec };
  const r = await kubectl(['create', '--dry-run=server', '-f', '-'], stringify(pod));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/violates PodSecurity "restricted:latest": runAsNonRoot/);
  // And a Deployment of such pods draws the warning the dry runs above check for.
  const deployment = deploymentOf(render({ namespace: ns }));
  deployment.spec.template.spec = spec;
  const w = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], stringify(deployment));
  expect(w.code, w.stderr).toBe(0);
  expect(w.stderr).toMatch(/would violate PodSecurity "restricted:latest"/);
});

describe('kustomize', () => {
  const manifests = join(import.meta.dirname, '..', '..', '..', 'manifests');
  it('applies the single-namespace overlay and the monitoring component (server-side dry run)', async () => {
    await kubectlOk(['apply', '--server-side', '-f', join(manifests, 'base', 'namespace.yaml')]);
    const overlay = await kubectl(['apply', '--server-side', '--dry-run=server', '-k', join(manifests, 'overlays', 'single-namespace')]);
    expect(overlay.code, overlay.stderr).toBe(0);
    expect(overlay.stdout).toContain('role.rbac.authorization.k8s.io/postmaster-controller serverside-applied (server dry run)');
    const monitoring = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', join(manifests, 'components', 'monitoring', 'monitoring.yaml')]);
    expect(monitoring.code, monitoring.stderr).toBe(0);
    expect(monitoring.stdout).toContain('prometheusrule.monitoring.coreos.com/postmaster');
  });
});

describe('values.schema.json', () => {
  it.each([
    [['replicaCount=two'], "at '/replicaCount': got string, want integer"],
    [['store.url=redis://valkey:6379'], "additional properties 'store' not allowed"],
    [['namespaces={Mail}'], "at '/namespaces/0'"],
    [['image.pullPolicy=Sometimes'], "at '/image/pullPolicy'"],
    [['extraArgs={-v}'], "at '/extraArgs/0'"],
    [['prometheusRule.errorRatioThreshold=5'], "at '/prometheusRule/errorRatioThreshold'"],
  ])('refuses --set %s with the path that is wrong', async (set, message) => {
    const r = await helm(['template', 'postmaster', chartDir, ...set.flatMap((s) => ['--set', s])]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    expect(r.stderr).toContain(message);
  });
});

describe('CRDs in the chart', () => {
  it('are kept on uninstall by default, not when crds.keep is false, and absent when crds.enabled is false', () => {
    const crds = (set: string[]) => render({ set }).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds([]).map((c) => c.metadata.annotations?.['helm.sh/resource-policy'])).toEqual(['keep', 'keep', 'keep', 'keep']);
    expect(crds(['crds.keep=false']).map((c) => c.metadata.annotations?.['helm.sh/resource-policy'])).toEqual([undefined, undefined, undefined, undefined]);
    expect(crds(['crds.enabled=false'])).toEqual([]);
  });
});

describe('helm install against the real API server', () => {
  const release = `pm-${randomBytes(3).toString('hex')}`;
  const fullname = `${release}-postmaster`;
  let ns: string;

  beforeAll(async () => {
    ns = await restrictedNamespace('helm');
  });

  it('installs the release and every object it renders exists', async () => {
    // The CRDs are already installed (from crds/, by kubectl) and shared by every test file.
    const r = await helm(['install', release, chartDir, '--namespace', ns, '--set', 'crds.enabled=false'], kubeconfig());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`http://${fullname}.${ns}.svc/v1/messages`);
    const expected = render({ release, namespace: ns, set: ['crds.enabled=false'] });
    for (const o of expected) {
      const got = await kubectl(['get', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []), '-o', 'name']);
      expect(got.code, `${o.kind} ${o.metadata.name}: ${got.stderr}`).toBe(0);
    }
    const list = await helm(['list', '--namespace', ns, '-o', 'json'], kubeconfig());
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: release, status: 'deployed' }]);
  });

  it('upgrades with new values', async () => {
    const r = await helm(['upgrade', release, chartDir, '--namespace', ns, '--reuse-values', '--set', 'replicaCount=3'], kubeconfig());
    expect(r.code, r.stderr).toBe(0);
    expect((await kubectlOk(['get', 'deployment', fullname, '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).trim()).toBe('3');
  });

  it('uninstalls, cluster-scoped objects included', async () => {
    const r = await helm(['uninstall', release, '--namespace', ns], kubeconfig());
    expect(r.code, r.stderr).toBe(0);
    expect((await kubectl(['get', 'deployment', fullname, '-n', ns])).code).not.toBe(0);
    expect((await kubectl(['get', 'clusterrole', `${fullname}-controller`])).code).not.toBe(0);
    await kubectl(['delete', 'ns', ns, '--wait=false']);
  });
});
