// Small builders for the manifests tests apply with kubectl, and kubeconform
// with schemas of the kinds the test API server serves.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kubectlOk } from './kubectl.ts';

export const API = 'email.postmaster.dev/v1alpha1';

export function secret(name: string, stringData: Record<string, string>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData };
}

export function resource(kind: string, name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) {
  return { apiVersion: API, kind, metadata: { name, ...(annotations ? { annotations } : {}) }, spec };
}

/** Applies objects into `ns` with server-side apply, as a GitOps tool would. */
export async function apply(ns: string, ...objects: Record<string, unknown>[]): Promise<void> {
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '-n', ns, '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
}

/** kubeconform as test/kubeconform/build.sh builds it (pinned, cached); its path. */
export function kubeconformBinary(): string {
  const out = execFileSync('bash', [join(import.meta.dirname, '..', 'kubeconform', 'build.sh')], {
    encoding: 'utf8',
    env: { ...process.env, GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const path = out.trim().split('\n').pop();
  if (!path) throw new Error('test/kubeconform/build.sh printed no path');
  return path;
}

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; items?: JsonSchema; additionalProperties?: unknown; $ref?: string };
interface Swagger {
  definitions: Record<string, JsonSchema & { 'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[] }>;
}

/** Where kubeconformSchemas writes, as kubeconform's -schema-location template (its Group of the core kinds is "v1"). */
export const kubeconformLocation = (dir: string): string => `${dir}/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json`;

/**
 * Strict JSON Schemas, in kubeconform's layout, for the kinds of `objects`,
 * from an API server's OpenAPI v2 document (`kubectl get --raw /openapi/v2`):
 * the kinds that server serves, CRDs included, at the versions it serves, so
 * nothing is fetched. As kubeconform's own openapi2jsonschema does, an object
 * that lists its properties allows no others (unless it preserves unknown
 * fields) and int-or-string and quantities take a string or a number.
 */
export function kubeconformSchemas(swagger: Swagger, objects: { apiVersion: string; kind: string }[], dir: string): void {
  const byGvk = new Map<string, string>();
  for (const [name, def] of Object.entries(swagger.definitions)) {
    for (const g of def['x-kubernetes-group-version-kind'] ?? []) byGvk.set(`${g.group ? `${g.group}/` : ''}${g.version}/${g.kind}`, name);
  }
  const strict = (s: JsonSchema): JsonSchema => {
    if (s.format === 'int-or-string') return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
    const out: JsonSchema = { ...s };
    if (s.properties) {
      out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, strict(v)]));
      if (s.additionalProperties === undefined && !s['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
    }
    if (s.items) out.items = strict(s.items);
    if (s.additionalProperties && typeof s.additionalProperties === 'object') out.additionalProperties = strict(s.additionalProperties as JsonSchema);
    return out;
  };
  const special: Record<string, JsonSchema> = {
    'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { oneOf: [{ type: 'string' }, { type: 'integer' }] },
    'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
  };
  const refsOf = (s: unknown, into: Set<string>) => {
    if (Array.isArray(s)) for (const v of s) refsOf(v, into);
    else if (s && typeof s === 'object') {
      for (const [k, v] of Object.entries(s)) {
        if (k === '$ref' && typeof v === 'string') into.add(v.replace('#/definitions/', ''));
        else refsOf(v, into);
      }
    }
  };
  for (const { apiVersion, kind } of objects) {
    const name = byGvk.get(`${apiVersion}/${kind}`);
    if (!name) throw new Error(`the API server's OpenAPI document has no ${apiVersion} ${kind}`);
    const needed = new Set([name]);
    for (const n of needed) refsOf(swagger.definitions[n], needed);
    const definitions = Object.fromEntries([...needed].map((n) => [n, special[n] ?? strict(swagger.definitions[n]!)]));
    const group = apiVersion.split('/')[0]!;
    const version = apiVersion.split('/').pop()!;
    mkdirSync(join(dir, group), { recursive: true });
    writeFileSync(join(dir, group, `${kind.toLowerCase()}_${version}.json`), JSON.stringify({ $ref: `#/definitions/${name}`, definitions }));
  }
}
