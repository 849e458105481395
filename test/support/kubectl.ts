// kubectl as users run it, against the test API server.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubeconfig(): string {
  return inject('kubeconfig');
}

export function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig() }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** kubectl that must succeed; the error carries kubectl's own words. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A fresh namespace for one test file, so files run in parallel against one server. */
export async function createNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const labelYaml = Object.entries(labels)
    .map(([k, v]) => `    ${k}: "${v}"`)
    .join('\n');
  await kubectlOk(
    ['apply', '-f', '-'],
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels:\n    postmaster.dev/test: "true"\n${labelYaml}\n`,
  );
  return name;
}
