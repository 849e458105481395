// The JSON Schemas in crds/schemas/ as kubeconform users meet them: generated
// from src/api (stale files fail here), strict, in the CRDs-catalog layout, and
// read by kubeconform itself (built from the Go module proxy, cached) to pass
// the examples and refuse every invalid manifest a JSON Schema can express.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateOurObject } from '../../../src/cli/validate/objects.ts';
import { jsonSchemaFiles } from '../../../src/cli/schemas.ts';
import { invalidCases, invalidManifest } from '../../support/invalid-manifests.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const schemas = join(repo, 'crds', 'schemas');
const LOCATION = join(schemas, '{{.Group}}', '{{.ResourceKind}}_{{.ResourceAPIVersion}}.json');
const tmp = mkdtempSync(join(tmpdir(), 'postmaster-kubeconform-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('crds/schemas/', () => {
  it('matches src/api (run `npm run generate` after changing the API)', () => {
    for (const { file, content } of jsonSchemaFiles()) {
      expect(readFileSync(join(schemas, file), 'utf8'), `crds/schemas/${file} is out of date`).toBe(content);
    }
    const present = readdirSync(schemas, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(schemas.length + 1));
    expect(present.sort()).toEqual(jsonSchemaFiles().map((f) => f.file).sort());
  });

  it('is laid out as kubeconform and the CRDs-catalog expect: <group>/<kind>_<version>.json, kind lower-cased', () => {
    expect(jsonSchemaFiles().map((f) => f.file).sort()).toEqual([
      'email.postmaster.dev/emailserver_v1alpha1.json',
      'email.postmaster.dev/senderidentity_v1alpha1.json',
      'email.postmaster.dev/sendingdomain_v1alpha1.json',
      'email.postmaster.dev/smtptarget_v1alpha1.json',
    ]);
  });

  it('is strict: every object that lists its properties allows no others', () => {
    const loose: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      if (props) {
        if (node.additionalProperties !== false) loose.push(path || '<root>');
        for (const [k, v] of Object.entries(props)) walk(v, `${path}.${k}`);
      }
      if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`);
    };
    for (const { file, content } of jsonSchemaFiles()) walk(JSON.parse(content) as Record<string, unknown>, file);
    expect(loose).toEqual([]);
  });
});

interface KubeconformResult {
  resources: { name: string; kind: string; status: string; msg: string; validationErrors?: { path: string; msg: string }[] }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

describe('kubeconform with our schemas', () => {
  let bin: string;
  beforeAll(async () => {
    const { stdout } = await promisify(execFile)('bash', [join(repo, 'test', 'kubeconform', 'build.sh')], {
      env: { ...process.env, GOTOOLCHAIN: 'local' },
    });
    bin = stdout.trim().split('\n').pop()!;
  }, 300_000);

  // Only local schemas: nothing is fetched; built-in kinds (Secret, Role) have none here and are skipped.
  const kubeconform = (paths: string[]) =>
    promisify(execFile)(bin, ['-strict', '-summary', '-ignore-missing-schemas', '-schema-location', LOCATION, '-output', 'json', ...paths]).then(
      (r) => ({ code: 0, out: JSON.parse(r.stdout) as KubeconformResult }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: JSON.parse(e.stdout || '{}') as KubeconformResult, stderr: e.stderr }),
    );

  it('is the pinned version', async () => {
    const { stdout } = await promisify(execFile)(bin, ['-v']);
    expect(stdout.trim()).toMatch(/^v\d+\.\d+\.\d+$/);
  });

  it('passes every example', async () => {
    const r = await kubeconform([join(repo, 'examples')]);
    expect(r.out.resources.filter((x) => x.status !== 'statusSkipped')).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.summary).toMatchObject({ invalid: 0, errors: 0 });
    expect(r.out.summary.valid).toBeGreaterThanOrEqual(16);
  });

  it('refuses every invalid manifest the schema can express, naming its field, and only those', async () => {
    const named = invalidCases.map((c, i) => ({ c, name: `case-${i}` }));
    const file = join(tmp, 'invalid.yaml');
    writeFileSync(file, named.map(({ c, name }) => stringify({ ...invalidManifest(c), metadata: { name } })).join('---\n'));
    const r = await kubeconform([file]);
    const byName = new Map(r.out.resources.map((x) => [x.name, x]));
    const wrong: string[] = [];
    for (const { c, name } of named) {
      // What a JSON Schema cannot say: the CEL rules. Everything else it must refuse.
      const expressible = validateOurObject(invalidManifest(c) as never).problems.some((p) => p.source === 'schema' || p.source === 'format');
      const res = byName.get(name);
      const refused = res?.status === 'statusInvalid';
      if (refused !== expressible) wrong.push(`${c.name}: kubeconform ${refused ? 'refused' : 'accepted'} it (${res?.msg ?? 'not listed'})`);
      if (!refused) continue;
      // kubeconform names the field, or for a missing or undeclared one its parent and the name.
      const segments = c.field.split('.');
      const leaf = segments.at(-1)!;
      const parent = `/${segments.slice(0, -1).join('/')}`;
      const names = (res.validationErrors ?? []).some(
        (e) => e.path === `/${segments.join('/')}` || ((e.path === parent || (parent === '/' && e.path === '')) && e.msg.includes(`'${leaf}'`)),
      );
      if (!names) wrong.push(`${c.name}: kubeconform did not name ${c.field}: ${JSON.stringify(res.validationErrors)}`);
    }
    expect(wrong).toEqual([]);
  });
});
