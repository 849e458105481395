// What scripts/render-manifests.ts writes, as data: the chart rendered with helm
// into a kustomize base, an overlay per variant, a monitoring component and a
// valkey component.
// Shared with the tests, which render the chart the same way.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface RenderedFile {
  /** Relative to the repository root. */
  path: string;
  content: string;
}

export const RELEASE = 'postmaster';
export const NAMESPACE = 'postmaster-system';
const HEADER = '# Rendered from charts/postmaster by `npm run manifests` (scripts/render-manifests.ts): do not edit.\n';

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  set?: string[];
}

/** `helm template` of a chart directory, parsed into objects. */
export function helmTemplate(helm: string, chartDir: string, opts: TemplateOptions = {}): KubeObject[] {
  const args = ['template', opts.release ?? RELEASE, chartDir, '--namespace', opts.namespace ?? NAMESPACE];
  for (const f of opts.valuesFiles ?? []) args.push('--values', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  const out = execFileSync(helm, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  return parseObjects(out);
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object' && typeof o.kind === 'string');
}

export const objectKey = (o: KubeObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Labels and annotations that speak only to Helm: a kustomize install carries none of them. */
export function withoutHelmMarks(o: KubeObject): KubeObject {
  const copy = structuredClone(o);
  const strip = (meta: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined) => {
    if (!meta) return;
    if (meta.labels) {
      delete meta.labels['helm.sh/chart'];
      delete meta.labels['app.kubernetes.io/managed-by'];
    }
    if (meta.annotations) {
      delete meta.annotations['helm.sh/resource-policy'];
      if (Object.keys(meta.annotations).length === 0) delete meta.annotations;
    }
  };
  strip(copy.metadata);
  const template = (copy.spec as { template?: { metadata?: KubeObject['metadata'] } } | undefined)?.template;
  strip(template?.metadata);
  return copy;
}

const yamlOf = (objects: unknown[]): string =>
  HEADER + objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');

/** A copy of the chart with crds/ in files/crds, so a render never depends on a stale copy. */
export function chartWithCurrentCrds(repo: string): { dir: string; cleanup(): void } {
  const tmp = mkdtempSync(join(tmpdir(), 'postmaster-chart-'));
  const dir = join(tmp, 'postmaster');
  cpSync(join(repo, 'charts', 'postmaster'), dir, { recursive: true });
  rmSync(join(dir, 'files', 'crds'), { recursive: true, force: true });
  cpSync(join(repo, 'crds'), join(dir, 'files', 'crds'), { recursive: true });
  return { dir, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
}

export function renderManifests(repo: string, helm: string): RenderedFile[] {
  const files: RenderedFile[] = [];
  const crdFiles = readdirSync(join(repo, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
  for (const f of crdFiles) {
    files.push({ path: `charts/postmaster/files/crds/${f}`, content: readFileSync(join(repo, 'crds', f), 'utf8') });
  }

  const chart = chartWithCurrentCrds(repo);
  try {
    const ci = (name: string) => join(chart.dir, 'ci', `${name}-values.yaml`);
    const base = helmTemplate(helm, chart.dir).map(withoutHelmMarks);
    const baseByKey = new Map(base.map((o) => [objectKey(o), o]));

    // The base: the chart's defaults, plus the Namespace (Helm leaves that to
    // --create-namespace) labelled to enforce the restricted Pod Security Standard.
    const namespace: KubeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: NAMESPACE,
        labels: {
          'app.kubernetes.io/name': 'postmaster',
          'app.kubernetes.io/part-of': 'postmaster',
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
        },
      },
    };
    const isCrd = (o: KubeObject) => o.kind === 'CustomResourceDefinition';
    const isRbac = (o: KubeObject) => o.apiVersion.startsWith('rbac.authorization.k8s.io/');
    files.push(
      { path: 'manifests/kustomization.yaml', content: kustomization({ resources: ['base'] }, 'Everything: the CRDs, the operator and its RBAC. kubectl apply -k manifests/ --server-side') },
      { path: 'manifests/base/kustomization.yaml', content: kustomization({ resources: ['namespace.yaml', 'crds.yaml', 'rbac.yaml', 'postmaster.yaml'] }, 'The chart with its default values.') },
      { path: 'manifests/base/namespace.yaml', content: yamlOf([namespace]) },
      { path: 'manifests/base/crds.yaml', content: yamlOf(base.filter(isCrd)) },
      { path: 'manifests/base/rbac.yaml', content: yamlOf(base.filter(isRbac)) },
      { path: 'manifests/base/postmaster.yaml', content: yamlOf(base.filter((o) => !isCrd(o) && !isRbac(o))) },
    );

    // The single-namespace overlay: the base, changed where the chart renders
    // the single-namespace values differently (new objects, whole-object
    // strategic merge patches, deletions), so kustomize builds exactly what helm does.
    const single = helmTemplate(helm, chart.dir, { valuesFiles: [ci('single-namespace')] }).map(withoutHelmMarks);
    const overlay = 'manifests/overlays/single-namespace';
    const added = single.filter((o) => !baseByKey.has(objectKey(o)));
    const changed = single.filter((o) => {
      const b = baseByKey.get(objectKey(o));
      return b !== undefined && JSON.stringify(b) !== JSON.stringify(o);
    });
    const singleKeys = new Set(single.map(objectKey));
    const removed = base.filter((o) => !singleKeys.has(objectKey(o)));
    const patchFile = (o: KubeObject) => `patch-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`;
    for (const o of changed) files.push({ path: `${overlay}/${patchFile(o)}`, content: yamlOf([o]) });
    for (const o of removed) {
      const del = { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace }, $patch: 'delete' };
      files.push({ path: `${overlay}/${patchFile(o)}`, content: yamlOf([del]) });
    }
    if (added.length > 0) files.push({ path: `${overlay}/resources.yaml`, content: yamlOf(added) });
    files.push({
      path: `${overlay}/kustomization.yaml`,
      content: kustomization(
        {
          resources: ['../../base', ...(added.length > 0 ? ['resources.yaml'] : [])],
          patches: [...changed, ...removed].map((o) => ({ path: patchFile(o) })),
        },
        'The operator watches the "mail" namespace only, with Roles there (charts/postmaster/ci/single-namespace-values.yaml). For another namespace, copy this folder and replace "mail".',
      ),
    });

    // The monitoring component: what the monitoring values add to the defaults.
    const monitoring = helmTemplate(helm, chart.dir, { valuesFiles: [ci('monitoring')] })
      .map(withoutHelmMarks)
      .filter((o) => !baseByKey.has(objectKey(o)));
    files.push(
      { path: 'manifests/components/monitoring/monitoring.yaml', content: yamlOf(monitoring) },
      {
        path: 'manifests/components/monitoring/kustomization.yaml',
        content: kustomization(
          { resources: ['monitoring.yaml'] },
          'A ServiceMonitor, a PrometheusRule and the Grafana dashboard (needs the prometheus-operator CRDs): add it under "components:".',
          'Component',
        ),
      },
    );

    // The valkey component: the objects ci/valkey-values.yaml adds to the
    // defaults (Valkey's StatefulSet, Service, ConfigMap, NetworkPolicy) and a
    // patch with only the variables it adds to the operator's container, so it
    // composes with an overlay that patches the Deployment too.
    const valkey = helmTemplate(helm, chart.dir, { valuesFiles: [ci('valkey')] }).map(withoutHelmMarks);
    const valkeyDir = 'manifests/components/valkey';
    const valkeyPatches: { file: string; patch: KubeObject }[] = [];
    for (const o of valkey) {
      const b = baseByKey.get(objectKey(o));
      if (b === undefined || isDeepStrictEqual(b, o)) continue;
      valkeyPatches.push({ file: patchFile(o), patch: envPatch(b, o) });
    }
    files.push(
      { path: `${valkeyDir}/valkey.yaml`, content: yamlOf(valkey.filter((o) => !baseByKey.has(objectKey(o)))) },
      ...valkeyPatches.map((p) => ({ path: `${valkeyDir}/${p.file}`, content: yamlOf([p.patch]) })),
      {
        path: `${valkeyDir}/kustomization.yaml`,
        content: kustomization(
          { resources: ['valkey.yaml'], patches: valkeyPatches.map((p) => ({ path: p.file })) },
          `A Valkey StatefulSet (append-only file on a PersistentVolumeClaim) as postmaster's shared store, and the operator pointed at it: add it under "components:". Create its password first: kubectl -n ${NAMESPACE} create secret generic postmaster-valkey --from-literal=password=$(openssl rand -hex 24)`,
          'Component',
        ),
      },
      {
        path: 'manifests/overlays/valkey/kustomization.yaml',
        content: kustomization(
          { resources: ['../../base'], components: ['../../components/valkey'] },
          'The base with the valkey component (charts/postmaster/ci/valkey-values.yaml): kubectl apply -k manifests/overlays/valkey --server-side. Your own kustomization lists the component the same way.',
        ),
      },
    );
  } finally {
    chart.cleanup();
  }
  return files;
}

interface PodTemplated {
  spec: { template: { spec: { containers: { name: string; env?: { name: string }[] }[] } } };
}

/**
 * A strategic merge patch of a workload that adds the environment variables
 * `changed` has beyond `base`, and nothing else; it throws when the two differ
 * in anything but those variables, since the patch would not build `changed`.
 */
export function envPatch(base: KubeObject, changed: KubeObject): KubeObject {
  const containersOf = (o: KubeObject) => (o as unknown as PodTemplated).spec.template.spec.containers;
  const patched = structuredClone(base);
  const containers: { name: string; env: { name: string }[] }[] = [];
  for (const c of containersOf(changed)) {
    const target = containersOf(patched).find((p) => p.name === c.name);
    const known = new Set((target?.env ?? []).map((e) => e.name));
    const added = (c.env ?? []).filter((e) => !known.has(e.name));
    if (!target || added.length === 0) continue;
    // kustomize puts the entries a patch adds to a list merged by key first.
    target.env = [...added, ...(target.env ?? [])];
    containers.push({ name: c.name, env: added });
  }
  if (!isDeepStrictEqual(patched, changed)) {
    throw new Error(`${objectKey(changed)} differs from the base in more than added environment variables; the component cannot patch it`);
  }
  return {
    apiVersion: changed.apiVersion,
    kind: changed.kind,
    metadata: { name: changed.metadata.name, namespace: changed.metadata.namespace },
    spec: { template: { spec: { containers } } },
  };
}

function kustomization(body: Record<string, unknown>, comment: string, kind = 'Kustomization'): string {
  const apiVersion = kind === 'Component' ? 'kustomize.config.k8s.io/v1alpha1' : 'kustomize.config.k8s.io/v1beta1';
  return `${HEADER}# ${comment}\n${stringify({ apiVersion, kind, ...body }, { lineWidth: 0 })}`;
}
