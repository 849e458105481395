// The Helm chart against the real API server: lint, render and server-side dry
// run for the defaults and every ci/ values file, the restricted Pod Security
// Standard enforced by the API server's own admission, the schema's refusals,
// and a real helm install, upgrade and uninstall.
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseObjects } from '../../../scripts/lib/manifests.ts';
import { CI_VALUES, chartDir, ciValues, helm, render, type KubeObject } from '../../support/helm.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { kubeconformLocation, kubeconformSchemas, kubeconformBinary } from '../../support/manifests.ts';
import { eventually } from '../../support/wait.ts';

const monitoringCrds = join(import.meta.dirname, '..', '..', 'support', 'fixtures', 'monitoring-crds.yaml');
const yamlOf = (objects: unknown[]): string => objects.map((o) => stringify(o)).join('---\n');

interface PodSpec {
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  containers: { name: string; securityContext?: Record<string, unknown> }[];
  volumes?: Record<string, unknown>[];
}
type Workload = KubeObject & {
  spec: { replicas: number; template: { metadata: KubeObject['metadata']; spec: PodSpec }; volumeClaimTemplates?: { metadata: { name: string } }[] };
};
const deploymentOf = (objects: KubeObject[]) => {
  const d = objects.find((o) => o.kind === 'Deployment');
  if (!d) throw new Error('the chart rendered no Deployment');
  return d as Workload;
};
/** Every workload's pod as its controller would create it (a StatefulSet's claims become volumes). */
const podsOf = (objects: KubeObject[], ns: string) =>
  (objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet') as Workload[]).map((w) => {
    const spec = structuredClone(w.spec.template.spec);
    for (const c of w.spec.volumeClaimTemplates ?? []) {
      spec.volumes = [...(spec.volumes ?? []), { name: c.metadata.name, persistentVolumeClaim: { claimName: `${c.metadata.name}-${w.metadata.name}-0` } }];
    }
    return { apiVersion: 'v1', kind: 'Pod', metadata: { name: w.metadata.name, namespace: ns, labels: w.spec.template.metadata.labels }, spec };
  });

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

  it("renders pods that the restricted Pod Security Standard admits (the operator's, and the bundled Valkey's)", async () => {
    const ns = await restrictedNamespace(`pss-${name}`);
    const pods = podsOf(render({ namespace: ns, valuesFiles: files }), ns);
    expect(pods.length).toBe(name === 'valkey' ? 2 : 1);
    for (const pod of pods) {
      // Pods need their ServiceAccount to exist; the dry run creates nothing.
      const sa = pod.spec.serviceAccountName;
      if (sa && (await kubectl(['get', 'serviceaccount', sa, '-n', ns])).code !== 0) await kubectlOk(['create', 'serviceaccount', sa, '-n', ns]);
      const r = await kubectl(['create', '--dry-run=server', '-f', '-'], stringify(pod));
      expect(r.code, `${pod.metadata.name}: ${r.stderr}`).toBe(0);
    }
  });
});

it('is refused by the restricted profile when the pod may run as root (the admission check is real)', async () => {
  const ns = await restrictedNamespace('pss-control');
  const template = deploymentOf(render({ namespace: ns })).spec.template;
  await kubectlOk(['create', 'serviceaccount', template.spec.serviceAccountName!, '-n', ns]);
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

  it('applies the base with the valkey component (server-side dry run), with no Pod Security warning', async () => {
    await kubectlOk(['apply', '--server-side', '-f', join(manifests, 'base', 'namespace.yaml')]);
    const r = await kubectl(['apply', '--server-side', '--dry-run=server', '-k', join(manifests, 'overlays', 'valkey')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('statefulset.apps/postmaster-valkey serverside-applied (server dry run)');
    expect(r.stdout).toContain('deployment.apps/postmaster serverside-applied (server dry run)');
    expect(r.stderr).not.toMatch(/PodSecurity|violate/i);
  });

  it("creates the valkey component's objects for real in a restricted namespace, and Valkey's pod is admitted", async () => {
    const ns = await restrictedNamespace('valkey');
    const objects = parseObjects(readFileSync(join(manifests, 'components', 'valkey', 'valkey.yaml'), 'utf8')).map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns } }));
    const r = await kubectl(['apply', '--server-side', '-f', '-'], yamlOf(objects));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/PodSecurity|violate/i);
    for (const o of objects) await kubectlOk(['get', o.kind, o.metadata.name, '-n', ns, '-o', 'name']);
    // No StatefulSet controller runs here: create its pod as that controller would.
    const [pod] = podsOf(objects, ns);
    const created = await kubectl(['create', '-f', '-'], stringify({ ...pod, metadata: { ...pod!.metadata, name: 'postmaster-valkey-0' } }));
    expect(created.code, created.stderr).toBe(0);
    await kubectl(['delete', 'ns', ns, '--wait=false']);
  });
});

describe('kubeconform, with strict schemas of the kinds the test API server serves', () => {
  const repo = join(import.meta.dirname, '..', '..', '..');
  const manifests = join(repo, 'manifests');
  let dir: string;
  let bin: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'postmaster-kubeconform-'));
    bin = kubeconformBinary();
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  interface Result {
    resources: { filename: string; kind: string; name: string; status: string; msg: string }[];
    summary: { valid: number; invalid: number; errors: number; skipped: number };
  }
  const kubeconform = (files: string[]) =>
    new Promise<{ code: number; out: Result; stderr: string }>((resolve) =>
      execFile(bin, ['-strict', '-summary', '-output', 'json', '-schema-location', kubeconformLocation(join(dir, 'schemas')), ...files], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: JSON.parse(stdout || '{}') as Result, stderr }),
      ),
    );
  // The monitoring CRDs (beforeAll above) are in the OpenAPI document a moment after they are Established.
  const schemasFor = async (objects: KubeObject[]) => {
    const swagger = await eventually(async () => {
      const doc = JSON.parse(await kubectlOk(['get', '--raw', '/openapi/v2'])) as { definitions: Record<string, unknown> };
      expect(Object.keys(doc.definitions)).toContain('com.coreos.monitoring.v1.PrometheusRule');
      return doc;
    }, 30_000);
    kubeconformSchemas(swagger as never, objects, join(dir, 'schemas'));
  };

  it('passes every object manifests/ builds and the chart renders with each ci/ values file, skipping none', async () => {
    const kustomize = (path: string) => execFileSync('kubectl', ['kustomize', join(manifests, path)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const sets: Record<string, string> = {
      'kustomize-manifests': kustomize('.'),
      'kustomize-single-namespace': kustomize('overlays/single-namespace'),
      'kustomize-valkey': kustomize('overlays/valkey'),
      'component-monitoring': readFileSync(join(manifests, 'components', 'monitoring', 'monitoring.yaml'), 'utf8'),
      'component-valkey': readFileSync(join(manifests, 'components', 'valkey', 'valkey.yaml'), 'utf8'),
      'helm-default': yamlOf(render()),
      ...Object.fromEntries(CI_VALUES.map((v) => [`helm-${v}`, yamlOf(render({ valuesFiles: [ciValues(v)] }))])),
    };
    const files = Object.entries(sets).map(([name, text]) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, text);
      return file;
    });
    const objects = Object.values(sets).flatMap(parseObjects);
    await schemasFor(objects);
    const r = await kubeconform(files);
    expect(r.out.resources?.filter((x) => x.status !== 'statusValid') ?? r.stderr, r.stderr).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 });
    // Every kind the installs hold, Valkey's StatefulSet and the monitoring kinds among them.
    expect(new Set(objects.map((o) => o.kind))).toEqual(
      new Set(['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'ConfigMap', 'StatefulSet', 'ServiceMonitor', 'PrometheusRule']),
    );
  });

  it('refuses an undeclared field and a wrong type in them, naming each (the schemas are real and strict)', async () => {
    const objects = parseObjects(readFileSync(join(manifests, 'components', 'valkey', 'valkey.yaml'), 'utf8'));
    await schemasFor(objects);
    const sts = structuredClone(objects.find((o) => o.kind === 'StatefulSet')!) as KubeObject & { spec: Record<string, unknown> & { template: { spec: { containers: { ports: Record<string, unknown>[] }[] } } } };
    sts.spec.replica = 1;
    sts.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'six';
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, yamlOf([sts]));
    const r = await kubeconform([file]);
    expect(r.code).not.toBe(0);
    expect(r.out.resources).toHaveLength(1);
    expect(r.out.resources[0]!.status).toBe('statusInvalid');
    expect(r.out.resources[0]!.msg).toMatch(/replica/);
    expect(r.out.resources[0]!.msg).toMatch(/containerPort/);
  });
});

describe('values.schema.json', () => {
  it.each([
    [['replicaCount=two'], "at '/replicaCount': got string, want integer"],
    [['store.url=redis://valkey:6379'], "at '/store': additional properties 'url' not allowed"],
    [['store.redis.url=http://valkey:6379'], "at '/store/redis/url'"],
    // The password belongs in store.redis.existingSecret, never in the URL (it would be in the pod spec).
    [['store.redis.url=redis://:hunter2@valkey:6379/0'], "at '/store/redis/url'"],
    [['store.valkey.appendfsync=no'], "at '/store/valkey/appendfsync'"],
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

describe('the store values', () => {
  const env = (set: string[] = [], valuesFiles: string[] = []) =>
    (deploymentOf(render({ set, valuesFiles })).spec.template.spec.containers[0] as unknown as { env: { name: string; value?: string; valueFrom?: unknown }[] }).env.filter((e) =>
      e.name.startsWith('POSTMASTER_REDIS_'),
    );

  it('set nothing by default: the in-memory store', () => {
    expect(env()).toEqual([]);
  });

  it('map a managed store onto the operator\'s environment, the password from a secretKeyRef and the CA as a mounted file', () => {
    const objects = render({ valuesFiles: [ciValues('store')] });
    expect(env([], [ciValues('store')])).toEqual([
      { name: 'POSTMASTER_REDIS_URL', value: 'rediss://valkey.example.internal:6380/0' },
      { name: 'POSTMASTER_REDIS_USERNAME', value: 'postmaster' },
      { name: 'POSTMASTER_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'postmaster-redis', key: 'password' } } },
      { name: 'POSTMASTER_REDIS_TLS_CA_FILE', value: '/etc/postmaster/redis-ca/ca.crt' },
    ]);
    const pod = deploymentOf(objects).spec.template.spec as PodSpec & { containers: { args: string[]; volumeMounts: unknown[] }[] };
    expect(pod.volumes).toContainEqual({ name: 'redis-ca', secret: { secretName: 'postmaster-redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'redis-ca', mountPath: '/etc/postmaster/redis-ca', readOnly: true });
    // Nothing of the store on the command line.
    expect(pod.containers[0]!.args.join(' ')).not.toMatch(/redis/);
    expect(objects.some((o) => o.kind === 'StatefulSet')).toBe(false);
  });

  it('read the user from the password\'s Secret when usernameKey names its key', async () => {
    expect(env(['store.redis.url=rediss://cache.example:6380/0', 'store.redis.existingSecret=cache', 'store.redis.usernameKey=user', 'store.redis.username=ignored'])).toEqual([
      { name: 'POSTMASTER_REDIS_URL', value: 'rediss://cache.example:6380/0' },
      { name: 'POSTMASTER_REDIS_USERNAME', valueFrom: { secretKeyRef: { name: 'cache', key: 'user' } } },
      { name: 'POSTMASTER_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'cache', key: 'password' } } },
    ]);
    const r = await helm(['template', 'postmaster', chartDir, '--set', 'store.redis.url=redis://cache:6379/0', '--set', 'store.redis.usernameKey=user']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('store.redis.usernameKey names a key of store.redis.existingSecret, which is not set');
  });

  it('leave out what is not set: no username, no AUTH, no CA', () => {
    expect(env(['store.redis.url=redis://valkey.cache.svc:6379/0'])).toEqual([{ name: 'POSTMASTER_REDIS_URL', value: 'redis://valkey.cache.svc:6379/0' }]);
  });

  it('point the operator at the bundled Valkey, and let restricted egress reach it', () => {
    expect(env(['store.valkey.enabled=true'])).toEqual([
      { name: 'POSTMASTER_REDIS_URL', value: 'redis://postmaster-valkey.postmaster-system.svc:6379/0' },
      { name: 'POSTMASTER_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'postmaster-valkey', key: 'password' } } },
    ]);
    expect(env(['store.valkey.enabled=true', 'store.valkey.existingSecret=my-valkey'])[1]).toMatchObject({ valueFrom: { secretKeyRef: { name: 'my-valkey' } } });
    const policy = (set: string[]) =>
      render({ set }).find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'postmaster') as unknown as { spec: { egress?: { ports: { port: number }[] }[] } };
    const dns = ['networkPolicy.egress[0].ports[0].port=53', 'networkPolicy.egress[0].ports[0].protocol=UDP'];
    expect(policy(dns).spec.egress).toHaveLength(1);
    expect(policy([...dns, 'store.valkey.enabled=true']).spec.egress?.[1]).toMatchObject({ ports: [{ port: 6379 }], to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'valkey' } } }] });
    expect(policy(['store.valkey.enabled=true']).spec.egress).toBeUndefined();
  });

  it('refuse a bundled Valkey and store.redis.url together', async () => {
    const r = await helm(['template', 'postmaster', chartDir, '--set', 'store.valkey.enabled=true', '--set', 'store.redis.url=redis://valkey:6379/0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('store.valkey.enabled and store.redis.url both set');
  });

  it.each([
    [[] as string[], 'With 2 replicas and no store, idempotency keys and rate limits are per replica'],
    [['replicaCount=1'], 'EmailServers in Queued mode are refused (NoDurableStore)'],
    [['store.valkey.enabled=true'], 'kubectl -n notes create secret generic notes-postmaster-valkey --from-literal=password=$(openssl rand -hex 24)'],
    [['store.redis.url=rediss://valkey.example.internal:6380/0', 'store.redis.username=postmaster'], 'State store: rediss://valkey.example.internal:6380/0 as user postmaster.'],
  ])('say in NOTES.txt what the store is (--set %s)', async (set, text) => {
    // A release of its own: a dry run still refuses objects another install owns.
    const r = await helm(['install', 'notes', chartDir, '--dry-run', '--namespace', 'notes', '--set', 'crds.enabled=false', ...set.flatMap((v) => ['--set', v])], kubeconfig());
    expect(r.code, r.stderr).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain(text);
    if (set.length > 0) expect(notes).not.toContain('are per replica');
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
