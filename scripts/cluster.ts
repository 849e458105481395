// `npm run cluster`: a real API server on loopback for experiments, until Ctrl-C.
import { startCluster } from '../test/support/cluster.ts';
import { applyCrds } from '../test/support/kubectl-run.ts';

const cluster = await startCluster({ verbose: process.argv.includes('--verbose') });
await applyCrds(cluster.kubeconfig);
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
