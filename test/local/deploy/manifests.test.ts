// One source for the install: crds/ (from src/api), the chart's copy of it, and
// manifests/ (rendered from the chart) never drift apart, and kustomize builds
// what helm renders. The image's build context holds only what it copies.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
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
