// A kubeconfig that is nothing but one ServiceAccount's token, so a process
// started with it has exactly the RBAC that account was granted.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kubectlOk } from './kubectl.ts';

export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const admin = JSON.parse(await kubectlOk(['config', 'view', '--raw', '-o', 'json']));
  const token = (await kubectlOk(['create', 'token', name, '-n', namespace, '--duration=1h'])).trim();
  const cluster = admin.clusters[0].cluster;
  const dir = mkdtempSync(join(tmpdir(), 'postmaster-sa-'));
  // Readable by an unprivileged user too: the image test runs the operator as uid 1000.
  chmodSync(dir, 0o755);
  const file = join(dir, 'kubeconfig');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'test',
          cluster: {
            server: cluster.server,
            'certificate-authority-data': cluster['certificate-authority-data'],
            ...(cluster['tls-server-name'] ? { 'tls-server-name': cluster['tls-server-name'] } : {}),
          },
        },
      ],
      users: [{ name, user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: name } }],
      'current-context': 'sa',
    }),
    { mode: 0o644 },
  );
  return file;
}
