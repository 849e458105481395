// Small builders for the manifests tests apply with kubectl.
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
