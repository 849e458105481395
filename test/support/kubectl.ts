// kubectl against the test API server of this run (vitest's global setup starts it).
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { runKubectl, type KubectlResult } from './kubectl-run.ts';

export type { KubectlResult };

export function kubeconfig(): string {
  return inject('kubeconfig');
}

export function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  return runKubectl(kubeconfig(), args, input);
}

/** kubectl that must succeed; the error carries kubectl's own words. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A fresh namespace for one test file, so files run in parallel against one server. */
export async function createNamespace(prefix: string, labels: Record<string, string> = {}, run: (args: string[], input?: string) => Promise<string> = kubectlOk): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const labelYaml = Object.entries(labels)
    .map(([k, v]) => `    ${k}: "${v}"`)
    .join('\n');
  await run(
    ['apply', '-f', '-'],
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels:\n    postmaster.dev/test: "true"\n${labelYaml}\n`,
  );
  return name;
}
