// SIGTERM during a stream of 500 messages through the operator's HTTP door:
// every message that got a 2xx is at the sink exactly once; every other
// request got an error. Nothing is lost, nothing is sent twice.
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

let ns: string;
let op: Operator;
let sink: SMTPServer;
let token: string;
const received: string[] = [];

beforeAll(async () => {
  ns = await createNamespace('ep-drain');
  // A sink that takes a few milliseconds per message, so messages are in flight when SIGTERM lands.
  sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString()));
      stream.on('end', () =>
        setTimeout(() => {
          received.push(/^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '?');
          callback();
        }, 5),
      );
    },
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const port = (sink.server.address() as { port: number }).port;
  op = await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--connection-tests=false', '--drain-delay=300ms'] });
  await apply(
    ns,
    resource('SmtpTarget', 'sink', { host: '127.0.0.1', port, security: 'None' }),
    resource('EmailServer', 'sink', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, default: true }),
    resource('SenderIdentity', 'app', { email: 'app@example.com', displayName: 'App' }),
  );
  await kubectlOk(['create', 'serviceaccount', 'app', '-n', ns]);
  await kubectlOk(['create', 'role', 'send', '-n', ns, '--verb=send', '--resource=senderidentities.email.postmaster.dev', '--resource-name=app']);
  await kubectlOk(['create', 'rolebinding', 'send', '-n', ns, '--role=send', `--serviceaccount=${ns}:app`]);
  token = (await kubectlOk(['create', 'token', 'app', '-n', ns, '--audience', 'postmaster'])).trim();
  await eventually(async () => expect(await getCondition('senderidentity', ns, 'app', 'Ready')).toMatchObject({ status: 'True' }));
});

afterAll(async () => {
  await op?.stop('SIGKILL');
  await new Promise<void>((r) => sink.close(() => r()));
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

it('shows workloads how to reach the endpoint', async () => {
  const identity = await getObject<{ status: { endpoint: unknown } }>('senderidentity', ns, 'app');
  expect(identity?.status.endpoint).toEqual({ service: 'postmaster.postmaster-system.svc', httpPath: '/v1/messages', smtpPort: 2525 });
});

it('drains on SIGTERM: every 2xx delivered exactly once, every other request an error', { timeout: 60_000 }, async () => {
  const url = `http://127.0.0.1:${op.httpPort}/v1/messages`;
  const outcomes = new Map<string, number | string>();
  let next = 0;
  let terminated: Promise<number | null> | undefined;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = next++; i < 500; i = next++) {
        const subject = `msg-${i}`;
        if (i === 150) terminated = op.stop('SIGTERM');
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ sender: 'app', to: ['rcpt@example.com'], subject, text: 'hello' }),
          });
          await res.arrayBuffer();
          outcomes.set(subject, res.status);
        } catch (err) {
          outcomes.set(subject, (err as Error).message); // connection refused once the door closed
        }
      }
    }),
  );
  expect(await terminated).toBe(0);

  const ok = [...outcomes].filter(([, o]) => o === 200).map(([s]) => s);
  const failed = [...outcomes].filter(([, o]) => o !== 200);
  expect(outcomes.size).toBe(500);
  expect(ok.length).toBeGreaterThanOrEqual(150);
  expect(failed.length).toBeGreaterThan(0);
  for (const [, o] of failed) expect(o === 503 || typeof o === 'string', String(o)).toBe(true);
  // Exactly the 2xx ones arrived, each once.
  expect([...received].sort()).toEqual([...ok].sort());
});
