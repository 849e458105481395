// kubectl as users run it, against a given kubeconfig: the one helper the
// tests, the demo, the cluster script and the benchmarks share. Asynchronous on
// purpose, so servers living in the calling process keep answering meanwhile.
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runKubectl(kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** kubectl bound to one kubeconfig, that must succeed; the error carries kubectl's own words. */
export function kubectlFor(kubeconfig: string): (args: string[], input?: string) => Promise<string> {
  return async (args, input) => {
    const r = await runKubectl(kubeconfig, args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
}

/** Applies crds/ and waits until the API server serves them. */
export async function applyCrds(kubeconfig: string): Promise<void> {
  const kubectl = kubectlFor(kubeconfig);
  await kubectl(['apply', '--server-side', '-f', join(import.meta.dirname, '..', '..', 'crds')]);
  await kubectl(['wait', '--for=condition=Established', 'crd', '-l', 'app.kubernetes.io/part-of=postmaster']);
}
