// `npm run cluster`: a real API server on loopback for experiments, until Ctrl-C.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startCluster } from '../test/support/cluster.ts';

const cluster = await startCluster({ verbose: process.argv.includes('--verbose') });
execFileSync('kubectl', ['apply', '--server-side', '-f', join(import.meta.dirname, '..', 'crds')], {
  env: { ...process.env, KUBECONFIG: cluster.kubeconfig },
  stdio: 'inherit',
});
console.log(`\nAPI server ready at ${cluster.server}`);
console.log(`  export KUBECONFIG=${cluster.kubeconfig}`);
console.log('  kubectl get email -A');
console.log('Ctrl-C stops it.');

const stop = async () => {
  await cluster.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
cluster.process.once('exit', (code) => {
  console.error(`API server exited (${code})`);
  process.exit(1);
});
