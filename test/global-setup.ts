// One real API server per test run; tests isolate themselves by namespace.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startCluster, type Cluster } from './support/cluster.ts';

let cluster: Cluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  // Fails the run loudly when the server cannot start: no test may skip for want of it.
  cluster = await startCluster();
  process.env.KUBECONFIG = cluster.kubeconfig;
  project.provide('kubeconfig', cluster.kubeconfig);
  // Users install the CRDs with kubectl; so do the tests, once.
  execFileSync('kubectl', ['apply', '--server-side', '-f', join(import.meta.dirname, '..', 'crds')], {
    env: { ...process.env, KUBECONFIG: cluster.kubeconfig },
    stdio: 'pipe',
  });
  execFileSync(
    'kubectl',
    ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=postmaster'],
    { env: { ...process.env, KUBECONFIG: cluster.kubeconfig }, stdio: 'pipe' },
  );
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}
