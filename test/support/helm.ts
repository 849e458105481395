// helm as users run it: the binary test/helm/build.sh builds from Go modules
// (cached), against the test API server when a kubeconfig is given.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { helmTemplate, type KubeObject, type TemplateOptions } from '../../scripts/lib/manifests.ts';

const repo = join(import.meta.dirname, '..', '..');
export const chartDir = join(repo, 'charts', 'postmaster');
/** The values files the chart is tested with (chart-testing's ci/ convention). */
export const ciValues = (name: string): string => join(chartDir, 'ci', `${name}-values.yaml`);
export const CI_VALUES = ['single-namespace', 'smtp-tls', 'minimal', 'ha', 'monitoring', 'store', 'valkey'] as const;

let cached: string | undefined;
export function helmBinary(): string {
  if (cached) return cached;
  const out = execFileSync('bash', [join(repo, 'test', 'helm', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  cached = out.trim().split('\n').pop();
  if (!cached) throw new Error('test/helm/build.sh printed no path');
  return cached;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[], kubeconfig?: string): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(
      helmBinary(),
      args,
      { env: { ...process.env, ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}) }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

export function render(opts: TemplateOptions = {}): KubeObject[] {
  return helmTemplate(helmBinary(), chartDir, opts);
}

export type { KubeObject };
