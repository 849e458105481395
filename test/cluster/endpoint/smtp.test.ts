// The SMTP door end to end: the real API server (TokenReview, SubjectAccessReview,
// RBAC and the generated credentials Secret), the real controller caches and
// pipeline, and a real SMTP sink upstream. The client is a raw socket dialogue, so
// every byte and every reply is the test's own.
import { KubeConfig } from '@kubernetes/client-node';
import { simpleParser } from 'mailparser';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SenderIdentity } from '../../../src/api/index.ts';
import { Controller } from '../../../src/controller/manager.ts';
import { noTester } from '../../../src/controller/tester.ts';
import { ensureCredentialsSecret, type EndpointAddress } from '../../../src/endpoint/credentials.ts';
import { createDirectory } from '../../../src/endpoint/directory.ts';
import { createPipeline, type DeliveryPipeline } from '../../../src/endpoint/pipeline.ts';
import { createSmtpDoor, type SmtpDoor } from '../../../src/endpoint/smtp.ts';
import { EventRecorder } from '../../../src/kube/events.ts';
import { KubeClient } from '../../../src/kube/rest.ts';
import { createLogger } from '../../../src/log.ts';
import { createMetrics } from '../../../src/metrics.ts';
import { ClusterCache } from '../../../src/routing/cache.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { authPlain, openDialogue, type SmtpDialogue } from '../../support/smtp-dialogue.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort, handleCounts, settledResources, trackResources, type HandleCounts, type ResourceTracker } from '../../support/smtp-sockets.ts';
import { eventually, getCondition } from '../../support/wait.ts';

const logs: string[] = [];
const log = createLogger('debug', { write: (line: string) => void logs.push(line) });

let ns: string;
let sink: SmtpSink;
let client: KubeClient;
let controller: Controller;
let cache: ClusterCache;
let stopReconciling: () => Promise<void>;
let pipeline: DeliveryPipeline;
let door: SmtpDoor;
let port: number;
const address: EndpointAddress = { service: 'postmaster.postmaster-system.svc', httpPath: '/v1/messages', smtpPort: 0 };
const secrets: string[] = [];
const dialogues: SmtpDialogue[] = [];
let generated: { host: string; port: string; username: string; password: string };
let grafanaToken: string;
let intruderToken: string;

let baseline: HandleCounts;
let tracker: ResourceTracker;

beforeAll(async () => {
  baseline = handleCounts();
  tracker = trackResources();
  ns = await createNamespace('smtp-door');
  sink = await startSmtpSink({ mode: 'None' });
  const down = await closedPort();
  await kubectlOk(
    ['apply', '-n', ns, '-f', '-'],
    `
apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata: {name: relay}
spec: {host: 127.0.0.1, port: ${sink.port}, security: None}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: mail}
spec: {provider: SMTP, smtp: {targetRef: {name: relay}}, default: true}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: alerts}
spec:
  email: alerts@example.com
  displayName: Example Alerts
  replyTo: oncall@example.com
  smtpCredentials: {secretName: alerts-smtp}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: reports}
spec: {email: reports@example.com, displayName: Weekly Reports}
---
# A server whose relay is down (nobody listens on its port) until a test fixes it.
apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata: {name: flaky}
spec: {host: 127.0.0.1, port: ${down}, security: None}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: flaky-mail}
spec: {provider: SMTP, smtp: {targetRef: {name: flaky}}}
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: status}
spec: {email: status@example.com, serverRef: {name: flaky-mail}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: grafana}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: intruder}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: send-reports}
rules:
- apiGroups: [email.postmaster.dev]
  resources: [senderidentities]
  resourceNames: [reports, status]
  verbs: [send]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: grafana-sends-reports}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: send-reports}
subjects:
- {kind: ServiceAccount, name: grafana, namespace: ${ns}}
`,
  );

  // The operator's parts, wired as src/main.ts wires them, in this process.
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig());
  client = new KubeClient(kc);
  const metrics = createMetrics();
  const recorder = new EventRecorder(client, { component: 'postmaster', instance: 'smtp-test', aggregateWindowMs: 60_000, minWriteIntervalMs: 1000 }, log);
  cache = new ClusterCache(client, { namespaces: [ns], resyncMs: 10 * 60_000, watchTimeoutSeconds: 300 }, log);
  controller = new Controller({
    client,
    cache,
    options: {
      queue: { workers: 2, baseRetryMs: 200, maxRetryMs: 5000 },
      routing: { apiBaseUrls: {} },
    },
    tester: noTester,
    recorder,
    metrics,
    log,
    hooks: {
      // The controller writes the generated credentials (credentials.ts), as the operator does.
      identityExtras: async (identity: SenderIdentity) => {
        const secretName = identity.spec.smtpCredentials?.secretName;
        if (!secretName) return { endpoint: address };
        try {
          const existing = cache.secret(identity.metadata.namespace, secretName);
          return { endpoint: address, smtpCredentialsSecret: await ensureCredentialsSecret(client, identity, existing, address) };
        } catch (err) {
          return { endpoint: address, credentialsProblem: (err as Error).message };
        }
      },
    },
  });
  const directory = createDirectory(cache, { apiBaseUrls: {} });
  pipeline = createPipeline({ client, directory, log });
  door = createSmtpDoor({ pipeline, directory, log, maxMessageBytes: 1024 * 1024, port: 0, host: '127.0.0.1' });
  port = await door.listen();
  address.smtpPort = port;
  cache.start();
  stopReconciling = controller.startReconciling();

  for (const name of ['alerts', 'reports', 'status']) {
    await eventually(async () => expect((await getCondition('senderidentity', ns, name, 'Ready'))?.status).toBe('True'), 30_000);
  }
  // The Secret as users mount it: host, port, username, password.
  generated = await eventually(async () => {
    const secret = JSON.parse(await kubectlOk(['get', 'secret', 'alerts-smtp', '-n', ns, '-o', 'json'])) as { data: Record<string, string> };
    const d = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    expect(cache.secret(ns, 'alerts-smtp')).toBeDefined(); // and the door's cache has it
    return d as typeof generated;
  }, 30_000);
  secrets.push(generated.password);
  grafanaToken = (await kubectlOk(['create', 'token', 'grafana', '-n', ns, '--audience', 'postmaster'])).trim();
  intruderToken = (await kubectlOk(['create', 'token', 'intruder', '-n', ns, '--audience', 'postmaster'])).trim();
  secrets.push(grafanaToken, intruderToken);
}, 120_000);

afterAll(async () => {
  await Promise.all(dialogues.splice(0).map((d) => d.close()));
  await door?.close();
  await pipeline?.close();
  await stopReconciling?.();
  await cache?.stop();
  client?.close();
  await sink?.close();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  const joined = logs.join('');
  for (const secret of secrets) expect(joined).not.toContain(secret);
  // Door, pipeline, controller, client and sink all closed what they opened.
  const left = await settledResources(baseline, tracker, 5000);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

async function dialogue(): Promise<SmtpDialogue> {
  const d = await openDialogue(port);
  dialogues.push(d);
  expect((await d.command('EHLO app.test')).code).toBe(250);
  return d;
}

async function login(username: string, password: string): Promise<SmtpDialogue> {
  const d = await dialogue();
  const r = await d.command(authPlain(username, password));
  expect(r.code, r.text).toBe(235);
  return d;
}

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

describe('generated credentials', () => {
  it('the Secret says how to log in; a raw SMTP dialogue delivers exactly the expected message to the sink', async () => {
    expect(generated).toMatchObject({ host: address.service, port: String(port), username: `${ns}/alerts` });
    expect(generated.password.length).toBeGreaterThanOrEqual(24);
    const before = sink.messages.length;
    const pdf = Buffer.from('%PDF-1.4\n% test bytes \u00e9\n', 'latin1');
    const d = await login(generated.username, generated.password);
    expect((await d.command('MAIL FROM:<alerts@example.com>')).code).toBe(250);
    expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
    expect((await d.command('RCPT TO:<bob@example.org>')).code).toBe(250); // in no header: a Bcc
    const sent = crlf([
        'From: Grafana <alerts@example.com>',
        'To: Ann Example <ann@example.org>',
        'Subject: [FIRING:1] DiskFull node-1',
        'X-Grafana-Alert: disk-full',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="outer"',
        '',
        '--outer',
        'Content-Type: multipart/alternative; boundary="inner"',
        '',
        '--inner',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Disk is 97% full.',
        '--inner',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p>Disk is <b>97%</b> full.</p>',
        '--inner--',
        '--outer',
        'Content-Type: application/pdf; name="report.pdf"',
        'Content-Disposition: attachment; filename="report.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        pdf.toString('base64'),
        '--outer--',
        '',
      ]);
    const { start, end } = await d.data(sent);
    expect(start.code).toBe(354);
    expect(end!.code, end!.text).toBe(250);
    expect(end!.text).toMatch(/^2\.0\.0 Ok: sent as SINK\d+ via SMTP \(primary\)$/);
    expect((await d.command('QUIT')).code).toBe(221);

    expect(sink.messages).toHaveLength(before + 1);
    const got = sink.messages.at(-1)!;
    expect(got.from).toBe('alerts@example.com'); // envelope
    expect(got.to).toEqual(['ann@example.org', 'bob@example.org']);
    expect(got.headers.get('from')).toEqual(['Example Alerts <alerts@example.com>']);
    expect(got.headers.get('reply-to')).toEqual(['oncall@example.com']);
    expect(got.headers.get('to')).toEqual(['Ann Example <ann@example.org>']);
    expect(got.headers.has('bcc')).toBe(false);
    expect(got.raw.toString()).not.toContain('bob@example.org');
    expect(got.headers.get('subject')).toEqual(['[FIRING:1] DiskFull node-1']);
    expect(got.headers.get('x-grafana-alert')).toEqual(['disk-full']);
    // A relay: the client's fields as written, plus what the policy adds when absent and one Received.
    expect([...got.headers.keys()].sort()).toEqual(
      ['content-type', 'date', 'from', 'message-id', 'mime-version', 'received', 'reply-to', 'subject', 'to', 'x-grafana-alert'].sort(),
    );
    expect(got.headers.get('received')![0]).toMatch(/^from app\.test \(\[127\.0\.0\.1\]\) by postmaster \(postmaster\) with ESMTPA? id \w+; \w{3}, \d{2} \w{3} \d{4} [\d:]{8} \+0000$/);
    // The body, MIME structure and all, byte for byte as the client sent it.
    const sentBody = sent.subarray(sent.indexOf('\r\n\r\n'));
    expect(got.raw.subarray(got.raw.indexOf('\r\n\r\n')).equals(sentBody)).toBe(true);
    const parsed = await simpleParser(got.raw);
    expect(parsed.text?.trim()).toBe('Disk is 97% full.');
    expect(parsed.html).toContain('<p>Disk is <b>97%</b> full.</p>');
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]!.filename).toBe('report.pdf');
    expect(parsed.attachments[0]!.contentType).toBe('application/pdf');
    expect(parsed.attachments[0]!.content.equals(pdf)).toBe(true);
  });

  it('a wrong password is 535 5.7.8; the credentials send only as their own identity (550 5.7.1)', async () => {
    const before = sink.messages.length;
    const d = await dialogue();
    const bad = await d.command(authPlain(generated.username, `${generated.password}x`));
    expect(bad.code).toBe(535);
    expect(bad.text).toMatch(/^5\.7\.8 /);
    const bound = await login(generated.username, generated.password);
    const other = await bound.command('MAIL FROM:<reports@example.com>');
    expect(other.code).toBe(550);
    expect(other.text).toContain('<alerts@example.com> only');
    expect(sink.messages).toHaveLength(before);
  });
});

describe('ServiceAccount token as the password', () => {
  it('with RBAC "send" on the identity: the username names it, and the message arrives', async () => {
    const before = sink.messages.length;
    const d = await login('reports', grafanaToken);
    expect((await d.command('MAIL FROM:<reports@example.com>')).code).toBe(250);
    expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
    const { end } = await d.data(crlf(['To: ann@example.org', 'Subject: Weekly report', '', 'All green.', '']));
    expect(end!.code, end!.text).toBe(250);
    expect(sink.messages).toHaveLength(before + 1);
    const got = sink.messages.at(-1)!;
    expect(got.headers.get('from')).toEqual(['Weekly Reports <reports@example.com>']);
    expect(got.headers.get('subject')).toEqual(['Weekly report']);
    expect(got.body).toContain('All green.');
  });

  it('nodemailer, as applications use it, sends with the token as password', async () => {
    const before = sink.messages.length;
    const client = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user: 'reports', pass: grafanaToken } });
    try {
      const info = await client.sendMail({
        from: 'reports@example.com',
        to: 'Ann Example <ann@example.org>',
        subject: 'Sent by nodemailer',
        text: 'plain part',
        html: '<p>html part</p>',
        attachments: [{ filename: 'data.bin', content: Buffer.from([0, 1, 2, 250, 251]) }],
      });
      expect(info.response).toMatch(/^250 /);
    } finally {
      client.close();
    }
    expect(sink.messages).toHaveLength(before + 1);
    const parsed = await simpleParser(sink.messages.at(-1)!.raw);
    expect(parsed.from?.value).toEqual([{ name: 'Weekly Reports', address: 'reports@example.com' }]);
    expect(parsed.subject).toBe('Sent by nodemailer');
    expect(parsed.text?.trim()).toBe('plain part');
    expect(parsed.html).toContain('<p>html part</p>');
    expect(parsed.attachments.map((a) => [a.filename, [...a.content]])).toEqual([['data.bin', [0, 1, 2, 250, 251]]]);
  });

  // Authentication worked (the token is valid), authorization did not: 550 5.7.1 "delivery
  // not authorized" is the reply for that, and it is permanent, so the client bounces instead
  // of retrying; 535 would send someone looking for a wrong password. It comes after DATA:
  // the pipeline checks RBAC per message (the Pipeline contract has no check of its own).
  it('without the RoleBinding (or beyond its resourceNames): 550 5.7.1 at MAIL FROM, nothing reaches the sink', async () => {
    const before = sink.messages.length;
    for (const [token, identity, who] of [
      [intruderToken, 'reports', 'intruder'],
      [grafanaToken, 'alerts', 'grafana'],
    ] as const) {
      const d = await login(identity, token);
      // Refused at MAIL FROM: the message is never uploaded.
      const refused = await d.command(`MAIL FROM:<${identity}@example.com>`);
      expect(refused.code, refused.text).toBe(550);
      expect(refused.text).toMatch(/^5\.7\.1 /);
      expect(refused.text).toContain(who);
    }
    expect(sink.messages).toHaveLength(before);
  });

  it('a token for another audience, or naming another namespace: 535', async () => {
    const plain = (await kubectlOk(['create', 'token', 'grafana', '-n', ns])).trim();
    secrets.push(plain);
    const d = await dialogue();
    expect((await d.command(authPlain('reports', plain))).code).toBe(535);
    const other = await d.command(authPlain('kube-system/reports', grafanaToken));
    expect(other.code).toBe(535);
    expect(other.text).toContain(`namespace "${ns}"`);
  });
});

describe('upstream trouble', () => {
  it('the relay is down: 451 4.4.0 and nothing sent; once it is back, the same message goes through', async () => {
    const before = sink.messages.length;
    const send = async () => {
      const d = await login('status', grafanaToken);
      expect((await d.command('MAIL FROM:<status@example.com>')).code).toBe(250);
      expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
      return (await d.data(crlf(['To: ann@example.org', 'Subject: status page', '', 'all good', '']))).end!;
    };
    const down = await send();
    expect(down.code, down.text).toBe(451); // temporary: a client MTA keeps the message and retries
    expect(down.text).toMatch(/^4\.4\.0 /);
    expect(sink.messages).toHaveLength(before);

    await kubectlOk(['patch', 'smtptarget', 'flaky', '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { port: sink.port } })]);
    await eventually(async () => expect(cache.smtpTarget(ns, 'flaky')?.spec.port).toBe(sink.port), 20_000);
    const up = await send();
    expect(up.code, up.text).toBe(250);
    expect(sink.messages).toHaveLength(before + 1);
    expect(sink.messages.at(-1)!.headers.get('subject')).toEqual(['status page']);
  });
});

describe('CR/LF injection', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const attempts: [string, string[], number][] = [
    ['a bare CR in the Subject', ['To: ann@example.org', 'Subject: hi\rBcc: victim@evil.test'], 554],
    ['a bare LF in a header', ['To: ann@example.org', 'X-Note: a\nBcc: victim@evil.test', 'Subject: hi'], 554],
    ['an encoded Subject that decodes to CRLF', ['To: ann@example.org', `Subject: =?utf-8?B?${b64('hi\r\nBcc: victim@evil.test')}?=`], 554],
    ['an encoded display name that decodes to CRLF', [`To: =?utf-8?B?${b64('Ann\r\nBcc: victim@evil.test')}?= <ann@example.org>`, 'Subject: hi'], 553],
    ['a second From', ['From: alerts@example.com', 'From: ceo@evil.test', 'To: ann@example.org', 'Subject: hi'], 554],
  ];
  it.each(attempts)('%s: refused, nothing reaches the sink', async (_name, headers, code) => {
    const before = sink.messages.length;
    const d = await login(generated.username, generated.password);
    await d.command('MAIL FROM:<alerts@example.com>');
    await d.command('RCPT TO:<ann@example.org>');
    const { end } = await d.data(crlf([...headers, '', 'body', '']));
    expect(end!.code, end!.text).toBe(code);
    expect(sink.messages).toHaveLength(before);
  });

  it('a bare CR in MAIL FROM or RCPT TO is refused at the command', async () => {
    const d = await login(generated.username, generated.password);
    expect((await d.command('MAIL FROM:<alerts@example.com\rX>')).code).toBeGreaterThanOrEqual(500);
    expect((await d.command('MAIL FROM:<alerts@example.com>')).code).toBe(250);
    expect((await d.command('RCPT TO:<ann@example.org\rBcc: victim@evil.test>')).code).toBeGreaterThanOrEqual(500);
  });
});
