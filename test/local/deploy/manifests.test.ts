// One source for the install: crds/ (from src/api), the chart's copy of it, and
// manifests/ (rendered from the chart) never drift apart, and kustomize builds
// what helm renders. The image's build context holds only what it copies.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { objectKey, parseObjects, renderManifests, withoutHelmMarks, type KubeObject } from '../../../scripts/lib/manifests.ts';
import { ciValues, helmBinary, render } from '../../support/helm.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(repo, path), 'utf8');
const kustomize = (dir: string): KubeObject[] =>
  parseObjects(execFileSync('kubectl', ['kustomize', join(repo, dir)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }));
const byKey = (objects: KubeObject[]) => new Map(objects.map((o) => [objectKey(o), o]));

describe('manifests/ and the chart', () => {
  it('are what npm run manifests renders (run it after changing the chart or crds/)', () => {
    const files = renderManifests(repo, helmBinary());
    const stale = files.filter((f) => {
      try {
        return read(f.path) !== f.content;
      } catch {
        return true;
      }
    });
    expect(stale.map((f) => f.path)).toEqual([]);
    // Nothing under manifests/ that the script would not write.
    const written = new Set(files.map((f) => f.path));
    const present = readdirSync(join(repo, 'manifests'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(repo.length + 1));
    expect(present.filter((p) => !written.has(p))).toEqual([]);
  });

  it('carry crds/ verbatim in the chart, and the same CRDs in manifests/', () => {
    const crds = readdirSync(join(repo, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(readdirSync(join(repo, 'charts', 'postmaster', 'files', 'crds')).sort()).toEqual(crds);
    for (const f of crds) expect(read(`charts/postmaster/files/crds/${f}`), f).toBe(read(`crds/${f}`));
    const rendered = byKey(parseObjects(read('manifests/base/crds.yaml')));
    expect(rendered.size).toBe(crds.length);
    for (const f of crds) {
      const crd = parse(read(`crds/${f}`)) as KubeObject & { spec: unknown };
      const got = rendered.get(objectKey(crd)) as (KubeObject & { spec: unknown }) | undefined;
      expect(got?.spec, f).toEqual(crd.spec);
    }
  });

  it('kubectl kustomize manifests/ builds the chart with its defaults, plus the Namespace', () => {
    const built = byKey(kustomize('manifests'));
    const helm = render().map(withoutHelmMarks);
    for (const o of helm) expect(isDeepStrictEqual(built.get(objectKey(o)), o), objectKey(o)).toBe(true);
    expect([...built.keys()].filter((k) => !helm.some((o) => objectKey(o) === k))).toEqual(['Namespace//postmaster-system']);
  });

  it('the single-namespace overlay builds what helm renders with ci/single-namespace-values.yaml', () => {
    const built = byKey(kustomize('manifests/overlays/single-namespace'));
    const helm = render({ valuesFiles: [ciValues('single-namespace')] }).map(withoutHelmMarks);
    for (const o of helm) expect(built.get(objectKey(o)), objectKey(o)).toEqual(o);
    expect(built.size).toBe(helm.length + 1);
    const clusterRules = (built.get('ClusterRole//postmaster-controller') as unknown as { rules: { resources: string[] }[] }).rules.flatMap((r) => r.resources);
    expect(clusterRules.sort()).toEqual(['namespaces', 'subjectaccessreviews', 'tokenreviews']);
  });
});

describe('the valkey component', () => {
  interface Container {
    name: string;
    image: string;
    command?: string[];
    env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
    securityContext?: Record<string, unknown>;
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  }
  interface Workload {
    spec: {
      replicas: number;
      selector: { matchLabels: Record<string, string> };
      template: { metadata: { labels: Record<string, string> }; spec: { securityContext: Record<string, unknown>; containers: Container[] } };
      volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }[];
    };
  }
  const built = () => byKey(kustomize('manifests/overlays/valkey'));
  const get = <T,>(objects: Map<string, KubeObject>, key: string): T => {
    const o = objects.get(key);
    if (!o) throw new Error(`${key} missing from ${[...objects.keys()].join(', ')}`);
    return o as unknown as T;
  };
  const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

  it('with the base (manifests/overlays/valkey) builds what helm renders with ci/valkey-values.yaml', () => {
    const objects = built();
    const helm = render({ valuesFiles: [ciValues('valkey')] }).map(withoutHelmMarks);
    for (const o of helm) expect(objects.get(objectKey(o)), objectKey(o)).toEqual(o);
    expect(objects.size).toBe(helm.length + 1);
    expect(parseObjects(read('manifests/components/valkey/valkey.yaml')).map(objectKey).sort()).toEqual([
      'ConfigMap/postmaster-system/postmaster-valkey',
      'NetworkPolicy/postmaster-system/postmaster-valkey',
      'Service/postmaster-system/postmaster-valkey',
      'StatefulSet/postmaster-system/postmaster-valkey',
    ]);
  });

  it('patches only the store variables into the operator, so it composes with the single-namespace overlay', () => {
    const patch = parseObjects(read('manifests/components/valkey/patch-deployment-postmaster.yaml'));
    expect(patch).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'postmaster', namespace: 'postmaster-system' },
        spec: {
          template: {
            spec: {
              containers: [
                {
                  name: 'postmaster',
                  env: [
                    { name: 'POSTMASTER_REDIS_URL', value: 'redis://postmaster-valkey.postmaster-system.svc:6379/0' },
                    { name: 'POSTMASTER_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'postmaster-valkey', key: 'password' } } },
                  ],
                },
              ],
            },
          },
        },
      },
    ]);
    // A kustomization of the user's own: the single-namespace overlay plus the component.
    const dir = mkdtempSync(join(tmpdir(), 'postmaster-kustomize-'));
    try {
      const rel = (p: string) => relative(dir, join(repo, p));
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        stringify({ resources: [rel('manifests/overlays/single-namespace')], components: [rel('manifests/components/valkey')] }),
      );
      const objects = byKey(parseObjects(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })));
      const helm = render({ valuesFiles: [ciValues('single-namespace'), ciValues('valkey')] }).map(withoutHelmMarks);
      for (const o of helm) expect(objects.get(objectKey(o)), objectKey(o)).toEqual(o);
      expect(objects.size).toBe(helm.length + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs one pinned, non-root Valkey on a read-only root, with resources and its data on a claim', () => {
    const sts = get<Workload>(built(), 'StatefulSet/postmaster-system/postmaster-valkey');
    expect(sts.spec.replicas).toBe(1);
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
    const [c] = pod.containers;
    expect(c!.image).toBe('valkey/valkey:8.1');
    expect(c!.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c!.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c!.resources?.limits).toMatchObject({ memory: expect.any(String) });
    expect(c!.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    expect(sts.spec.volumeClaimTemplates).toMatchObject([{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } } }]);
  });

  it('keeps an append-only file fsynced every second, never evicts, and takes its password from the Secret, not the command line', () => {
    const objects = built();
    const conf = get<{ data: Record<string, string> }>(objects, 'ConfigMap/postmaster-system/postmaster-valkey').data['valkey.conf']!;
    const directives = conf
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.trim());
    expect(directives).toEqual(
      expect.arrayContaining(['dir /data', 'appendonly yes', 'appendfsync everysec', 'maxmemory-policy noeviction', 'include /run/valkey/auth.conf']),
    );
    expect(conf).not.toMatch(/^requirepass/m);
    const c = get<Workload>(objects, 'StatefulSet/postmaster-system/postmaster-valkey').spec.template.spec.containers[0]!;
    expect(c.env).toEqual([{ name: 'VALKEY_PASSWORD', valueFrom: { secretKeyRef: { name: 'postmaster-valkey', key: 'password' } } }]);
    expect(c.command?.join(' ')).toMatch(/requirepass .*> \/run\/valkey\/auth\.conf[\s\S]*exec valkey-server \/etc\/valkey\/valkey\.conf/);
  });

  it('admits only the operator\'s pods, on 6379, and is selected by none of the operator\'s own objects', () => {
    const objects = built();
    const np = get<{ spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: unknown[]; egress?: unknown[] } }>(
      objects,
      'NetworkPolicy/postmaster-system/postmaster-valkey',
    );
    const operator = get<Workload>(objects, 'Deployment/postmaster-system/postmaster');
    const valkey = get<Workload>(objects, 'StatefulSet/postmaster-system/postmaster-valkey');
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.egress).toBeUndefined();
    expect(np.spec.ingress).toEqual([{ ports: [{ port: 'valkey', protocol: 'TCP' }], from: [{ podSelector: { matchLabels: operator.spec.selector.matchLabels } }] }]);
    expect(selects(np.spec.podSelector.matchLabels, valkey.spec.template.metadata.labels)).toBe(true);
    expect(selects(np.spec.podSelector.matchLabels, operator.spec.template.metadata.labels)).toBe(false);
    // The operator's Services, PodDisruptionBudget and NetworkPolicy select its pods and never Valkey's.
    for (const o of objects.values()) {
      const spec = o.spec as { selector?: Record<string, unknown>; podSelector?: { matchLabels: Record<string, string> } } | undefined;
      const selector = (o.kind === 'Service' ? spec?.selector : (spec?.selector?.matchLabels ?? spec?.podSelector?.matchLabels)) as Record<string, string> | undefined;
      if (!selector || o.metadata.name === 'postmaster-valkey') continue;
      expect(selects(selector, valkey.spec.template.metadata.labels), objectKey(o)).toBe(false);
    }
    const svc = get<{ spec: { selector: Record<string, string>; ports: { port: number }[] } }>(objects, 'Service/postmaster-system/postmaster-valkey');
    expect(selects(svc.spec.selector, valkey.spec.template.metadata.labels)).toBe(true);
    expect(svc.spec.ports.map((p) => p.port)).toEqual([6379]);
  });
});

describe('the image', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1)!;

  it('runs as a numeric non-root user, so the kubelet can verify runAsNonRoot', () => {
    const user = /^USER (\S+)$/m.exec(final)?.[1];
    expect(user).toMatch(/^[1-9][0-9]*(:[0-9]+)?$/);
    // The same user the chart's podSecurityContext names.
    const pod = render().find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { securityContext: { runAsUser: number } } } } };
    expect(user?.split(':')[0]).toBe(String(pod.spec.template.spec.securityContext.runAsUser));
  });

  it('carries compiled JavaScript and production dependencies only', () => {
    expect(final).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(final).toMatch(/^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(final).not.toMatch(/^COPY src|^RUN npm ci(?! --omit=dev)/m);
    // Node flags may come first (memory before speed, bench:controller); the entry point is the compiled one.
    expect(final).toMatch(/^ENTRYPOINT \["node", (?:"--[a-z-]+(?:=\d+)?", )*"dist\/main\.js"\]$/m);
  });

  it('has a build context of exactly what the Dockerfile copies (.dockerignore excludes the rest)', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // Everything is excluded first; only the sources the Dockerfile copies come back.
    expect(ignore[0]).toBe('*');
    const included = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/)).map((p) => p.replace(/\/$/, ''));
    expect(new Set(included)).toEqual(new Set(copied));
    // Secrets never, even under an included folder.
    for (const p of ['**/*.pem', '**/*.key', '**/.env']) expect(ignore).toContain(p);
  });
});
