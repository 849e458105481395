// The namespace the send benchmarks run in: an SmtpTarget pointing at the sink,
// the default EmailServer, one SenderIdentity "bench", and a ServiceAccount
// allowed to send as it. Returns that ServiceAccount's token (audience postmaster).
import type { kubectlFor } from '../../test/support/kubectl-run.ts';

export async function benchNamespace(
  kubectl: ReturnType<typeof kubectlFor>,
  opts: { sinkPort: number; pool: number; tokenDuration?: string },
): Promise<string> {
  await kubectl(['create', 'namespace', 'bench']);
  await kubectl(
    ['apply', '--server-side', '-n', 'bench', '-f', '-'],
    `apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata: {name: sink}
spec: {host: 127.0.0.1, port: ${opts.sinkPort}, security: None, pool: {maxConnections: ${opts.pool}, maxMessagesPerConnection: 100000}}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: sink}
spec: {provider: SMTP, smtp: {targetRef: {name: sink}}, default: true}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: bench}
spec: {email: bench@example.com, displayName: Bench}
`,
  );
  await kubectl(['create', 'serviceaccount', 'sender', '-n', 'bench']);
  await kubectl(['create', 'role', 'send', '-n', 'bench', '--verb=send', '--resource=senderidentities.email.postmaster.dev']);
  await kubectl(['create', 'rolebinding', 'send', '-n', 'bench', '--role=send', '--serviceaccount=bench:sender']);
  const duration = opts.tokenDuration ? ['--duration', opts.tokenDuration] : [];
  return (await kubectl(['create', 'token', 'sender', '-n', 'bench', '--audience', 'postmaster', ...duration])).trim();
}
