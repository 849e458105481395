// The HTTP door end to end: the real API server answers TokenReviews and
// SubjectAccessReviews for ServiceAccounts, Roles and RoleBindings made with
// kubectl; the controller's caches resolve identities; real SMTP sinks (and the
// local SendGrid API) receive the mail. Each refusal is checked at the sink too:
// nothing may arrive.
import { simpleParser, type AddressObject } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { startSendEndpoint, type SendEndpoint } from '../../support/send-endpoint.ts';
import { FakeSendGridApi, type RunningFake } from '../../support/sendgrid-api.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { handleCounts, settledResources, trackResources, type HandleCounts, type ResourceTracker } from '../../support/smtp-sockets.ts';
import { eventually } from '../../support/wait.ts';

const SG_KEY = `SG.${crypto.randomUUID()}`;
const RELAY_PASSWORD = `pw-${crypto.randomUUID()}`;

let ns: string;
let otherNs: string;
let ep: SendEndpoint;
let relay: SmtpSink;
let flaky: SmtpSink;
let fallback: SmtpSink;
const sendgrid = new FakeSendGridApi({
  keys: { [SG_KEY]: { label: 'test', scopes: ['mail.send'] } },
  verifiedSenders: [{ email: 'api@example.com', verified: true }],
});
let sendgridApi: RunningFake;
let baseline: HandleCounts;
let tracker: ResourceTracker;
const tokens: Record<'sender' | 'stranger' | 'otherAudience' | 'boundLive' | 'boundDeleted', string> = {
  sender: '',
  stranger: '',
  otherAudience: '',
  boundLive: '',
  boundDeleted: '',
};
const sinks = () => [relay, flaky, fallback];

const target = (name: string, sink: SmtpSink, login?: string) => `
apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata: {name: ${name}}
spec:
  host: 127.0.0.1
  port: ${sink.port}
  security: None
${login ? `  credentials: {secretRef: {name: ${login}}}` : ''}
`;
const smtpServer = (name: string, targetName: string, extra = '') => `
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: ${name}}
spec:
  provider: SMTP
  smtp: {targetRef: {name: ${targetName}}}
${extra}
`;
const senderIdentity = (name: string, server: string, extra = '') => `
apiVersion: email.postmaster.dev/v1alpha1
kind: SenderIdentity
metadata: {name: ${name}}
spec:
  email: ${name}@example.com
  serverRef: {name: ${server}}
${extra}
`;

async function apply(namespace: string, ...docs: string[]): Promise<void> {
  await kubectlOk(['apply', '--server-side', '-n', namespace, '-f', '-'], docs.join('\n---\n'));
}

async function token(sa: string, ...extra: string[]): Promise<string> {
  return (await kubectlOk(['create', 'token', sa, '-n', ns, '--duration=1h', ...extra])).trim();
}

beforeAll(async () => {
  baseline = handleCounts();
  tracker = trackResources();
  ns = await createNamespace('ep-http');
  otherNs = await createNamespace('ep-http-other');
  [relay, flaky, fallback] = await Promise.all([
    startSmtpSink({ mode: 'None', auth: { username: 'postmaster', password: RELAY_PASSWORD }, allowInsecureAuth: true }),
    startSmtpSink({ mode: 'None' }),
    startSmtpSink({ mode: 'None' }),
  ]);
  sendgridApi = await sendgrid.start();
  ep = await startSendEndpoint({ namespaces: [ns, otherNs], apiBaseUrls: { SendGrid: { US: sendgridApi.url } } });

  await kubectlOk(['create', 'secret', 'generic', 'relay-login', '-n', ns, '--from-literal=username=postmaster', `--from-literal=password=${RELAY_PASSWORD}`]);
  await kubectlOk(['create', 'secret', 'generic', 'sendgrid', '-n', ns, `--from-literal=apiKey=${SG_KEY}`]);
  await apply(
    ns,
    target('relay', relay, 'relay-login'),
    smtpServer('relay', 'relay', '  replyTo: server-replies@example.com'),
    senderIdentity('alerts', 'relay', '  displayName: Example Alerts\n  replyTo: help@example.com'),
    senderIdentity('limited', 'relay', '  rateLimit: {messagesPerMinute: 1, burst: 1}'),
    target('flaky', flaky),
    smtpServer('flaky', 'flaky'),
    senderIdentity('flaky', 'flaky'),
    target('fallback', fallback),
    `
apiVersion: email.postmaster.dev/v1alpha1
kind: EmailServer
metadata: {name: sendgrid}
spec:
  provider: SendGrid
  sendgrid: {apiKeySecretRef: {name: sendgrid}}
  fallback: {smtpTargetRef: {name: fallback}}
`,
    senderIdentity('api', 'sendgrid', '  displayName: Example API'),
    senderIdentity('unverified', 'sendgrid'),
    `
apiVersion: v1
kind: ServiceAccount
metadata: {name: sender}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: stranger}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: send-mail}
rules:
  - apiGroups: [email.postmaster.dev]
    resources: [senderidentities]
    verbs: [send]
    resourceNames: [alerts, limited, flaky, api, unverified]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: sender-sends-mail}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: send-mail}
subjects:
  - {kind: ServiceAccount, name: sender, namespace: ${ns}}
`,
  );
  // An identity of another namespace, which the sender's Role could never name.
  await apply(otherNs, target('relay', relay), smtpServer('relay', 'relay'), senderIdentity('foreign', 'relay'));

  await kubectlOk(['create', 'secret', 'generic', 'bound-live', '-n', ns, '--from-literal=x=1']);
  await kubectlOk(['create', 'secret', 'generic', 'bound-deleted', '-n', ns, '--from-literal=x=1']);
  tokens.sender = await token('sender', '--audience', 'postmaster');
  tokens.stranger = await token('stranger', '--audience', 'postmaster');
  tokens.otherAudience = await token('sender', '--audience', 'other');
  tokens.boundLive = await token('sender', '--audience', 'postmaster', '--bound-object-kind', 'Secret', '--bound-object-name', 'bound-live');
  tokens.boundDeleted = await token('sender', '--audience', 'postmaster', '--bound-object-kind', 'Secret', '--bound-object-name', 'bound-deleted');
  // The token is valid only while its Secret exists: deleting it is how a bound token is revoked.
  await kubectlOk(['delete', 'secret', 'bound-deleted', '-n', ns]);

  for (const [namespace, names] of [[ns, ['alerts', 'limited', 'flaky', 'api', 'unverified']], [otherNs, ['foreign']]] as const) {
    await kubectlOk(['wait', '--for=condition=Ready', '--timeout=60s', '-n', namespace, ...names.map((n) => `senderidentity/${n}`)]);
  }
  // Ready in the API server; now in this process's caches as well.
  await eventually(async () => expect(ep.cache.senderIdentity(otherNs, 'foreign')?.status?.conditions?.length).toBeGreaterThan(0));
}, 180_000);

afterAll(async () => {
  await ep?.stop();
  await Promise.all([...sinks().map((s) => s?.close()), sendgridApi?.close()]);
  await kubectl(['delete', 'namespace', ns, otherNs, '--wait=false']);
  // The endpoint, its transports and watches, the sinks and the fake API left no socket or timer behind.
  const left = await settledResources(baseline, tracker, 5_000);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

interface Sent {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code: string; message: string; field?: string; reason?: string } };
}

async function send(body: Record<string, unknown>, opts: { token?: string | null; key?: string } = {}): Promise<Sent> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const bearer = opts.token === undefined ? tokens.sender : opts.token;
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  if (opts.key) headers['idempotency-key'] = opts.key;
  const res = await fetch(`${ep.url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  for (const t of Object.values(tokens)) if (t) expect(text).not.toContain(t);
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Sent['body'] };
}

const simple = (sender: string, subject = `hello ${crypto.randomUUID()}`) => ({
  sender,
  to: ['ops@example.org'],
  subject,
  text: 'hello',
});

/** Runs `act` and expects no sink (and not SendGrid) to have received anything meanwhile. */
async function nothingArrives(act: () => Promise<void>): Promise<void> {
  const before = sinks().map((s) => [s.messages.length, s.senders.length]);
  const sg = sendgrid.messages.length;
  await act();
  // A late delivery would show up within this pause.
  await new Promise((r) => setTimeout(r, 200));
  expect(sinks().map((s) => [s.messages.length, s.senders.length])).toEqual(before);
  expect(sendgrid.messages.length).toBe(sg);
}

const addresses = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address));

describe('an allowed ServiceAccount', () => {
  it('sends text, html, cc, bcc and an attachment: exactly one message, as the identity', async () => {
    const attachment = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const before = relay.messages.length;
    const res = await send({
      sender: 'alerts',
      to: ['Ops Team <ops@example.org>'],
      cc: ['cc@example.org'],
      bcc: ['audit@example.org'],
      subject: 'Disk almost full on web-1',
      text: 'The disk is 95% full.',
      html: '<p>The disk is <b>95%</b> full.</p>',
      headers: { 'X-Alert-Id': 'a-123' },
      attachments: [{ filename: 'usage.bin', contentType: 'application/octet-stream', content: attachment.toString('base64') }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ server: { namespace: ns, name: 'relay' }, provider: 'SMTP', route: 'primary' });
    expect(res.body.messageId).toBe(`SINK${relay.messages.length}`);

    expect(relay.messages.length).toBe(before + 1);
    const got = relay.messages.at(-1)!;
    expect(got.user).toBe('postmaster');
    expect(got.from).toBe('alerts@example.com');
    expect([...got.to].sort()).toEqual(['audit@example.org', 'cc@example.org', 'ops@example.org']);
    const mail = await simpleParser(got.raw);
    expect(mail.from?.value).toEqual([{ name: 'Example Alerts', address: 'alerts@example.com' }]);
    // nodemailer quotes a display name only when it must; both forms are the same mailbox.
    expect(got.headers.get('from')).toEqual([expect.stringMatching(/^"?Example Alerts"? <alerts@example\.com>$/)]);
    expect(addresses(mail.replyTo)).toEqual(['help@example.com']);
    expect(mail.to).toMatchObject({ value: [{ name: 'Ops Team', address: 'ops@example.org' }] });
    expect(addresses(mail.cc)).toEqual(['cc@example.org']);
    expect(got.headers.has('bcc')).toBe(false);
    expect(got.raw.toString()).not.toContain('audit@example.org');
    expect(mail.subject).toBe('Disk almost full on web-1');
    expect(mail.text?.trim()).toBe('The disk is 95% full.');
    expect(mail.html).toBe('<p>The disk is <b>95%</b> full.</p>');
    expect(got.headers.get('x-alert-id')).toEqual(['a-123']);
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ filename: 'usage.bin', contentType: 'application/octet-stream' });
    expect(mail.attachments[0]!.content.equals(attachment)).toBe(true);
  });
});

describe('refused callers: the right code, and nothing reaches a sink', () => {
  it('no token: 401', () =>
    nothingArrives(async () => {
      const res = await send(simple('alerts'), { token: null });
      expect(res.status).toBe(401);
      expect(res.body.error?.code).toBe('POSTMASTER_UNAUTHENTICATED');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }));

  it('a token for another audience: 401', () =>
    nothingArrives(async () => {
      const res = await send(simple('alerts'), { token: tokens.otherAudience });
      expect(res.status).toBe(401);
      expect(res.body.error?.message).toContain('audience "postmaster"');
    }));

  it('a token that is no longer valid (its bound Secret was deleted): 401; its sibling still works', async () => {
    await nothingArrives(async () => {
      const res = await send(simple('alerts'), { token: tokens.boundDeleted });
      expect(res.status).toBe(401);
    });
    expect((await send(simple('alerts'), { token: tokens.boundLive })).status).toBe(200);
  });

  it('a ServiceAccount without the RoleBinding: 403 naming the verb', () =>
    nothingArrives(async () => {
      const res = await send(simple('alerts'), { token: tokens.stranger });
      expect(res.status).toBe(403);
      expect(res.body.error?.code).toBe('POSTMASTER_FORBIDDEN');
      expect(res.body.error?.message).toContain(`system:serviceaccount:${ns}:stranger`);
      expect(res.body.error?.message).toContain('"send"');
    }));

  it("another namespace's identity: 404 (identities are looked up in the caller's namespace)", () =>
    nothingArrives(async () => {
      const res = await send(simple('foreign'));
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'POSTMASTER_IDENTITY_NOT_FOUND', field: 'sender' });
      expect(res.body.error?.message).toContain(`namespace "${ns}"`);
    }));

  it('header injection: 400 naming the field', () =>
    nothingArrives(async () => {
      const res = await send({ ...simple('alerts'), subject: 'Hi\r\nBcc: victim@example.net' });
      expect(res.status).toBe(400);
      expect(res.body.error?.field).toBe('subject');
    }));
});

describe('upstream trouble', () => {
  it('SMTP upstream down: 503 with Retry-After and nothing delivered; upstream back: the same request succeeds', async () => {
    const body = simple('flaky', 'survives an outage');
    await flaky.close();
    const down = await send(body, { key: 'outage-1' });
    expect(down.status, JSON.stringify(down.body)).toBe(503);
    expect(down.body.error?.code).toBe('POSTMASTER_UPSTREAM_UNAVAILABLE');
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(flaky.messages).toHaveLength(0);

    // The relay comes back (on a new port: the SmtpTarget follows it, and the transport with it).
    flaky = await startSmtpSink({ mode: 'None' });
    await kubectlOk(['patch', 'smtptarget', 'flaky', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { port: flaky.port } })]);
    const up = await eventually(async () => {
      const res = await send(body, { key: 'outage-1' });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res;
    }, 30_000, 250);
    expect(up.body).toMatchObject({ server: { name: 'flaky' }, route: 'primary' });
    expect(flaky.messages).toHaveLength(1);
    expect((await simpleParser(flaky.messages[0]!.raw)).subject).toBe('survives an outage');
  });

  it('SendGrid answering 5xx: the message arrives through the fallback SmtpTarget, and the response says so', async () => {
    sendgrid.failWith({ status: 500 });
    try {
      const before = fallback.messages.length;
      const res = await send({ ...simple('api', 'via the fallback'), to: ['Customer <customer@example.org>'] });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ server: { namespace: ns, name: 'sendgrid' }, provider: 'SMTP', route: 'fallback' });
      expect(fallback.messages.length).toBe(before + 1);
      const mail = await simpleParser(fallback.messages.at(-1)!.raw);
      expect(mail.subject).toBe('via the fallback');
      expect(mail.from?.value).toEqual([{ name: 'Example API', address: 'api@example.com' }]);
      expect(sendgrid.requestsTo('/v3/mail/send').length).toBeGreaterThan(0);
      expect(sendgrid.messages).toHaveLength(0);
    } finally {
      sendgrid.clearFailure();
    }
  });

  it('SendGrid refusing the message (400): 422 with its words, and nothing at the fallback', async () => {
    sendgrid.failWith({ status: 400 });
    try {
      await nothingArrives(async () => {
        const res = await send(simple('api'));
        expect(res.status).toBe(422);
        expect(res.body.error?.code).toBe('POSTMASTER_UPSTREAM_REJECTED');
        expect(res.body.error?.message).toContain('HTTP 400');
      });
    } finally {
      sendgrid.clearFailure();
    }
  });

  it("SendGrid refusing the sender (403, not a verified Sender Identity): 502, the server's problem, and nothing at the fallback", () =>
    nothingArrives(async () => {
      const res = await send(simple('unverified'));
      expect(res.status).toBe(502);
      expect(res.body.error?.code).toBe('POSTMASTER_UPSTREAM_MISCONFIGURED');
      expect(res.body.error?.message).toContain('verified Sender Identity');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }));

  it('SendGrid healthy: the primary route, with bare addresses and the display name in from', async () => {
    const res = await send({ ...simple('api', 'via the API'), to: ['Customer <customer@example.org>'] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ provider: 'SendGrid', route: 'primary' });
    const accepted = sendgrid.messages.at(-1)!.body as { from: unknown; personalizations: { to: unknown }[]; subject: string };
    expect(accepted.subject).toBe('via the API');
    expect(accepted.from).toEqual({ email: 'api@example.com', name: 'Example API' });
    expect(accepted.personalizations[0]!.to).toEqual([{ email: 'customer@example.org' }]);
    expect(res.body.messageId).toBe(sendgrid.messages.at(-1)!.messageId);
  });
});

describe('Idempotency-Key and rate limits', () => {
  it('the same key twice sends once and answers the same; the same key with another body is 422', async () => {
    const before = relay.messages.length;
    const body = simple('alerts', 'exactly once');
    const first = await send(body, { key: 'order-42-receipt' });
    const second = await send(body, { key: 'order-42-receipt' });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(relay.messages.length).toBe(before + 1);
    await nothingArrives(async () => {
      const other = await send({ ...body, subject: 'something else' }, { key: 'order-42-receipt' });
      expect(other.status).toBe(422);
      expect(other.body.error).toMatchObject({ code: 'POSTMASTER_IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' });
    });
  });

  it('an identity limited to 1 a minute (burst 1): the second request is 429 with Retry-After', async () => {
    expect((await send(simple('limited'))).status).toBe(200);
    await nothingArrives(async () => {
      const res = await send(simple('limited'));
      expect(res.status).toBe(429);
      expect(res.body.error?.code).toBe('POSTMASTER_RATE_LIMITED');
      const wait = Number(res.headers.get('retry-after'));
      expect(wait).toBeGreaterThanOrEqual(55);
      expect(wait).toBeLessThanOrEqual(60);
    });
  });
});

describe('observability', () => {
  it('counts messages by identity, server, provider, route and result, and logs no secret', async () => {
    const text = await ep.metrics.registry.metrics();
    expect(text).toMatch(new RegExp(`postmaster_endpoint_messages_total\\{door="http",namespace="${ns}",identity="api",server="${ns}/sendgrid",provider="SMTP",route="fallback",result="sent"\\} 1`));
    expect(text).toMatch(/postmaster_endpoint_errors_total\{door="any",code="POSTMASTER_UNAUTHENTICATED"\} [1-9]/);
    expect(text).toMatch(/postmaster_endpoint_upstream_errors_total\{provider="SendGrid",route="primary",reason="UpstreamUnavailable"\} 1/);
    const logs = ep.logs();
    expect(logs).toContain('message accepted upstream');
    for (const secret of [...Object.values(tokens), SG_KEY, RELAY_PASSWORD]) expect(logs).not.toContain(secret);
  });
});
