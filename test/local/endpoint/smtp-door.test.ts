// The SMTP door over real sockets, with nodemailer and a raw dialogue as clients,
// in front of a Directory and a Pipeline built here from plain objects (the real
// pipeline is the cluster test's): logins, MAIL FROM policy, header smuggling,
// size, STARTTLS, failures mapped to 4xx/5xx, and the drain on shutdown.
import nodemailer from 'nodemailer';
import type { SendMailOptions, Transporter } from 'nodemailer';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  forbidden,
  identityNotReady,
  rateLimited,
  upstreamRejected,
  upstreamUnavailable,
} from '../../../src/endpoint/errors.ts';
import { createSmtpDoor, type SmtpDoor, type SmtpDoorOptions } from '../../../src/endpoint/smtp.ts';
import { createLogger } from '../../../src/log.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { authPlain, openDialogue, type SmtpDialogue } from '../../support/smtp-dialogue.ts';
import { fakeDirectory, fakePipeline, type FakePipeline } from '../../support/smtp-door-doubles.ts';
import { handleCounts, settledResources, trackResources } from '../../support/smtp-sockets.ts';
import type { HandleCounts, ResourceTracker } from '../../support/smtp-sockets.ts';

const pki = testPki();
const PASSWORD = 'gEn3rated-Pa55word-0123456789abcd';
const TOKEN = 'eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbS1hOmdyYWZhbmEifQ.c2lnbmF0dXJlLW5vdC1jaGVja2Vk';
const FOREIGN_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbS1iOmJvdCJ9.b3RoZXItc2lnbmF0dXJl';
const LOGIN = { user: 'team-a/alerts', pass: PASSWORD };
const ALERTS = 'alerts@example.com';

const directory = fakeDirectory([
  { namespace: 'team-a', name: 'alerts', email: ALERTS, displayName: 'Example Alerts', password: PASSWORD },
  {
    namespace: 'team-a',
    name: 'paused',
    email: 'paused@example.com',
    password: 'paused-Pa55word-0123456789abcdefg',
    ready: false,
    reason: 'ServerNotReady',
    message: 'EmailServer "relay" is not Ready: connection refused.',
  },
]);

const logs: string[] = [];
const log = createLogger('debug', { write: (line: string) => void logs.push(line) });

let baseline: HandleCounts;
let tracker: ResourceTracker;
let pipeline: FakePipeline;
const doors: SmtpDoor[] = [];
const clients: Transporter[] = [];
const dialogues: SmtpDialogue[] = [];

beforeAll(() => {
  baseline = handleCounts();
  tracker = trackResources();
});
beforeEach(() => {
  pipeline = fakePipeline(directory);
  pipeline.tokens.set(TOKEN, { username: 'system:serviceaccount:team-a:grafana', namespace: 'team-a', groups: ['system:serviceaccounts'] });
  pipeline.tokens.set(FOREIGN_TOKEN, { username: 'system:serviceaccount:team-b:bot', namespace: 'team-b', groups: [] });
  pipeline.allowed.add('system:serviceaccount:team-a:grafana team-a/alerts');
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(dialogues.splice(0).map((d) => d.close()));
  await Promise.all(doors.splice(0).map((d) => d.close()));
});
afterAll(async () => {
  const joined = logs.join('');
  // Secrets never reach the log, whatever happened above.
  for (const secret of [PASSWORD, TOKEN, FOREIGN_TOKEN, 'wrong-Pa55word', 'paused-Pa55word']) expect(joined).not.toContain(secret);
  expect(joined).toContain('smtp login refused');
  const left = await settledResources(baseline, tracker);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

async function startDoor(extra: Partial<SmtpDoorOptions> = {}): Promise<{ door: SmtpDoor; port: number }> {
  const door = createSmtpDoor({ pipeline, directory, log, maxMessageBytes: 1024 * 1024, port: 0, host: '127.0.0.1', ...extra });
  doors.push(door);
  return { door, port: await door.listen() };
}

function client(port: number, opts: { auth?: { user: string; pass: string }; tls?: boolean; authMethod?: string } = {}): Transporter {
  const t = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ...(opts.tls ? { requireTLS: true, tls: { ca: pki.ca, servername: 'localhost' } } : { ignoreTLS: true }),
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...(opts.authMethod ? { authMethod: opts.authMethod } : {}),
    logger: false,
  });
  clients.push(t);
  return t;
}

async function dialogue(port: number): Promise<SmtpDialogue> {
  const d = await openDialogue(port);
  dialogues.push(d);
  return d;
}

/** EHLO and AUTH PLAIN on a raw connection. */
async function loggedIn(port: number, username = LOGIN.user, password = LOGIN.pass): Promise<SmtpDialogue> {
  const d = await dialogue(port);
  expect((await d.command('EHLO client.test')).code).toBe(250);
  expect((await d.command(authPlain(username, password))).code).toBe(235);
  return d;
}

/** What a failed sendMail says, as a client MTA would see it. */
async function failure(p: Promise<unknown>): Promise<{ responseCode?: number; response?: string; code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { responseCode?: number; response?: string; code?: string };
  }
  throw new Error('expected the send to fail');
}

const simple: SendMailOptions = { from: ALERTS, to: 'ann@example.org', subject: 'hello', text: 'hi' };

const rawMessage = (headers: string[], body = 'body\r\n') => Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8');

async function sendRaw(port: number, raw: Buffer, rcpt = ['ann@example.org']) {
  const d = await loggedIn(port);
  expect((await d.command(`MAIL FROM:<${ALERTS}>`)).code).toBe(250);
  for (const r of rcpt) expect((await d.command(`RCPT TO:<${r}>`)).code).toBe(250);
  const { start, end } = await d.data(raw);
  expect(start.code).toBe(354);
  return end!;
}

describe('generated credentials', () => {
  it('AUTH PLAIN: the message reaches the pipeline with From set to the identity; 250 carries the upstream id', async () => {
    const { port } = await startDoor();
    const csv = Buffer.from('node,disk\nnode-1,97%\n');
    const info = await client(port, { auth: LOGIN }).sendMail({
      // The From header names someone else: it is dropped, the identity's From is what goes out.
      from: '"The CEO" <ceo@evil.test>',
      sender: 'ceo@evil.test',
      envelope: { from: ALERTS, to: ['ann@example.org', 'bob@example.org', 'carol@example.org', 'dave@example.org'] },
      to: 'Ann Example <ann@example.org>, bob@example.org',
      cc: '"Doe, Carol" <carol@example.org>',
      replyTo: 'oncall@example.com',
      subject: 'Disk full on node-1 – ünïcode ✓',
      text: 'Disk is 97% full.\n',
      html: '<p>Disk is <b>97%</b> full.</p>',
      attachments: [{ filename: 'report.csv', content: csv, contentType: 'text/csv' }],
      messageId: '<alert-42@grafana.example.com>',
      inReplyTo: '<alert-41@grafana.example.com>',
      references: ['<alert-40@grafana.example.com>', '<alert-41@grafana.example.com>'],
      headers: {
        'X-Grafana-Alert': 'disk-full',
        'List-Unsubscribe': '<mailto:unsubscribe@example.com>',
        'X-SMTPAPI': '{"to":["extra@evil.test"]}',
        'Return-Path': '<bounce@evil.test>',
      },
    });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: sent as <upstream-1@relay\.test> via SMTP \(primary\)$/);

    expect(pipeline.requests).toHaveLength(1);
    const req = pipeline.requests[0]!;
    expect(req).toMatchObject({ sender: 'alerts', door: 'smtp' });
    expect(req.caller).toEqual({ username: 'smtp-credentials:team-a/alerts', namespace: 'team-a', groups: [], boundIdentity: 'alerts' });
    const sent = pipeline.delivered[0]!;
    expect(sent.from).toEqual({ name: 'Example Alerts', address: ALERTS });
    expect(sent.to).toEqual(['"Ann Example" <ann@example.org>', 'bob@example.org']);
    expect(sent.cc).toEqual(['"Doe, Carol" <carol@example.org>']); // as the pipeline formats it
    expect(sent.bcc).toEqual(['dave@example.org']); // an envelope recipient in no header
    expect(sent.replyTo).toBe('oncall@example.com');
    expect(sent.subject).toBe('Disk full on node-1 – ünïcode ✓');
    expect(sent.text).toBe('Disk is 97% full.\n');
    expect(sent.html).toBe('<p>Disk is <b>97%</b> full.</p>');
    expect(sent.attachments).toHaveLength(1);
    expect(sent.attachments![0]).toMatchObject({ filename: 'report.csv', contentType: 'text/csv' });
    expect(sent.attachments![0]!.content.equals(csv)).toBe(true);
    // Allowed headers (message.ts's list) as written; Message-ID is the upstream's to set.
    expect(sent.headers).toEqual({
      'In-Reply-To': '<alert-41@grafana.example.com>',
      References: '<alert-40@grafana.example.com> <alert-41@grafana.example.com>',
      'X-Grafana-Alert': 'disk-full',
      'List-Unsubscribe': '<mailto:unsubscribe@example.com>',
    });
    // Nothing of the forged sender or the provider-steering header survives.
    expect(JSON.stringify(req.message)).not.toMatch(/evil\.test/);
  });

  it('AUTH LOGIN works the same; a second message on the same connection too', async () => {
    const { port } = await startDoor();
    const t = client(port, { auth: LOGIN, authMethod: 'LOGIN' });
    await t.sendMail(simple);
    await t.sendMail({ ...simple, subject: 'second' });
    expect(pipeline.delivered.map((m) => m.subject)).toEqual(['hello', 'second']);
    expect(pipeline.delivered[1]!.to).toEqual(['ann@example.org']);
  });

  it('a wrong password gets 535 5.7.8 and sends nothing', async () => {
    const { port } = await startDoor();
    const err = await failure(client(port, { auth: { user: LOGIN.user, pass: 'wrong-Pa55word' } }).sendMail(simple));
    expect(err.code).toBe('EAUTH');
    expect(err.responseCode).toBe(535);
    expect(err.response).toMatch(/^535 5\.7\.8 Authentication credentials invalid/);
    expect(err.response).not.toContain('wrong-Pa55word');
    const d = await dialogue(port);
    await d.command('EHLO client.test');
    expect((await d.command(authPlain('team-a/nobody', PASSWORD))).code).toBe(535);
    expect((await d.command(authPlain('not a name', ''))).code).toBe(535);
    expect(pipeline.requests).toHaveLength(0);
  });

  it('no AUTH: MAIL FROM gets 530', async () => {
    const { port } = await startDoor();
    const d = await dialogue(port);
    await d.command('EHLO client.test');
    const r = await d.command(`MAIL FROM:<${ALERTS}>`);
    expect(r.code).toBe(530);
    expect(r.text).toMatch(/^5\.7\.0 Authentication required/);
    const err = await failure(client(port).sendMail(simple));
    expect(err.responseCode).toBe(530);
  });
});

describe('ServiceAccount token as the password', () => {
  it('the username names the identity: "alerts" or "team-a/alerts"; the pipeline gets the token caller', async () => {
    const { port } = await startDoor();
    await client(port, { auth: { user: 'alerts', pass: TOKEN } }).sendMail(simple);
    await client(port, { auth: { user: 'team-a/alerts', pass: TOKEN } }).sendMail(simple);
    expect(pipeline.requests.map((r) => [r.caller.username, r.caller.boundIdentity, r.sender])).toEqual([
      ['system:serviceaccount:team-a:grafana', undefined, 'alerts'],
      ['system:serviceaccount:team-a:grafana', undefined, 'alerts'],
    ]);
    expect(pipeline.delivered[0]!.from.address).toBe(ALERTS);
  });

  it('a token of another namespace, or one the TokenReview refuses: 535', async () => {
    const { port } = await startDoor();
    const d = await dialogue(port);
    await d.command('EHLO client.test');
    const foreign = await d.command(authPlain('team-a/alerts', FOREIGN_TOKEN));
    expect(foreign.code).toBe(535);
    expect(foreign.text).toContain('namespace "team-b"');
    const bogus = TOKEN.replace(/.$/, 'X');
    const refused = await d.command(authPlain('alerts', bogus));
    expect(refused.code).toBe(535);
    expect(refused.text).not.toContain(bogus);
    expect(pipeline.requests).toHaveLength(0);
  });

  it('no RBAC permission to send as the identity: 550 5.7.1 at MAIL FROM, before the message is uploaded', async () => {
    const { port } = await startDoor();
    pipeline.allowed.clear();
    const err = await failure(client(port, { auth: { user: 'alerts', pass: TOKEN } }).sendMail(simple));
    expect(err.responseCode).toBe(550);
    expect(err.code).toBe('EENVELOPE');
    expect(err.response).toMatch(/^550 5\.7\.1 system:serviceaccount:team-a:grafana may not send as SenderIdentity "team-a\/alerts"/);
    expect(pipeline.requests).toHaveLength(0);
    // The raw dialogue: the refusal is the answer to MAIL FROM itself.
    const d = await loggedIn(port, 'alerts', TOKEN);
    expect(await d.command(`MAIL FROM:<${ALERTS}>`)).toMatchObject({ code: 550 });
  });
});

describe('MAIL FROM and RCPT TO', () => {
  it("MAIL FROM other than the identity's address: 550 5.7.1 naming the allowed one", async () => {
    const { port } = await startDoor();
    const err = await failure(client(port, { auth: LOGIN }).sendMail({ ...simple, from: 'root@example.com' }));
    expect(err.code).toBe('EENVELOPE');
    expect(err.responseCode).toBe(550);
    expect(err.response).toContain('5.7.1 Sender <root@example.com> refused');
    expect(err.response).toContain(`<${ALERTS}>`);
    const d = await loggedIn(port);
    expect((await d.command('MAIL FROM:<>')).code).toBe(550);
    // The address compares case-insensitively.
    expect((await d.command('MAIL FROM:<Alerts@EXAMPLE.com>')).code).toBe(250);
    expect(pipeline.requests).toHaveLength(0);
  });

  it('an identity that is gone: 550 5.1.8; one that is not Ready: 451 with its reason', async () => {
    const { port } = await startDoor();
    const ghost = await loggedIn(port, 'ghost', TOKEN);
    const gone = await ghost.command(`MAIL FROM:<${ALERTS}>`);
    expect(gone.code).toBe(550);
    expect(gone.text).toMatch(/^5\.1\.8 SenderIdentity "ghost" not found in namespace "team-a"/);
    const paused = await loggedIn(port, 'team-a/paused', 'paused-Pa55word-0123456789abcdefg');
    const notReady = await paused.command('MAIL FROM:<paused@example.com>');
    expect(notReady.code).toBe(451);
    expect(notReady.text).toContain('is not Ready (ServerNotReady): EmailServer "relay" is not Ready');
  });

  it('EHLO offers what the door keeps: AUTH PLAIN LOGIN, SIZE with the limit, 8BITMIME, SMTPUTF8; no STARTTLS without a certificate', async () => {
    const { port } = await startDoor({ maxMessageBytes: 65536 });
    const d = await dialogue(port);
    const ehlo = await d.command('EHLO client.test');
    expect(ehlo.lines).toEqual(expect.arrayContaining(['AUTH PLAIN LOGIN', 'SIZE 65536', '8BITMIME', 'SMTPUTF8']));
    expect(ehlo.lines).not.toContain('STARTTLS');
  });

  it('a recipient the pipeline could not send to is refused at RCPT TO (553 5.1.3); an IDN domain is fine', async () => {
    const { port } = await startDoor();
    const d = await loggedIn(port);
    await d.command(`MAIL FROM:<${ALERTS}>`);
    const r = await d.command('RCPT TO:<root@localhost>');
    expect(r.code).toBe(553);
    expect(r.text).toMatch(/^5\.1\.3 RCPT TO: /);
    // Internationalized, and this transaction did not declare SMTPUTF8 (smtputf8.test.ts has the rest).
    expect(await d.command('RCPT TO:<jürgen@example.org>')).toMatchObject({ code: 553, text: expect.stringMatching(/^5\.6\.7 /) });
    expect((await d.command('RCPT TO:<j@bücher.example>')).code).toBe(250);
    const { end } = await d.data(rawMessage(['To: j@bücher.example', 'Subject: idn']));
    expect(end!.code, end!.text).toBe(250);
    expect(pipeline.delivered[0]!.to).toEqual(['j@xn--bcher-kva.example']);
  });

  it('more recipients than allowed: 452 4.5.3 for the extra ones; the rest is sent', async () => {
    const { port } = await startDoor({ maxRecipients: 3 });
    const d = await loggedIn(port);
    await d.command(`MAIL FROM:<${ALERTS}>`);
    for (const r of ['a@example.org', 'b@example.org', 'c@example.org']) expect((await d.command(`RCPT TO:<${r}>`)).code).toBe(250);
    const extra = await d.command('RCPT TO:<d@example.org>');
    expect(extra.code).toBe(452);
    expect(extra.text).toMatch(/^4\.5\.3 Too many recipients: at most 3/);
    expect((await d.command('RCPT TO:<A@example.org>')).code).toBe(250); // already counted
    const { end } = await d.data(rawMessage(['To: a@example.org', 'Subject: three']));
    expect(end!.code).toBe(250);
    expect(pipeline.delivered[0]).toMatchObject({ to: ['a@example.org'], bcc: ['b@example.org', 'c@example.org'] });
  });
});

describe('header injection', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cases: [string, string[], number, RegExp][] = [
    ['a bare CR in the Subject', ['To: ann@example.org', 'Subject: hello\rBcc: victim@evil.test'], 554, /^5\.6\.0 headers: header line 2 contains a bare CR/],
    ['a bare LF in the Subject', ['To: ann@example.org', 'Subject: hello\nFrom: ceo@evil.test'], 554, /bare LF/],
    ['a NUL byte', ['To: ann@example.org', 'Subject: hel\0lo'], 554, /NUL byte/],
    ['a second From header', ['From: alerts@example.com', 'To: ann@example.org', 'From: ceo@evil.test', 'Subject: x'], 554, /more than one From header/],
    ['a second Subject header', ['To: ann@example.org', 'Subject: a', 'Subject: b'], 554, /more than one Subject header/],
    ['an encoded Subject that decodes to CRLF', ['To: ann@example.org', `Subject: =?utf-8?B?${b64('hi\r\nBcc: victim@evil.test')}?=`], 554, /^5\.6\.0 subject: the Subject header decodes to a line break/],
    ['an encoded display name that decodes to CRLF', [`To: =?utf-8?B?${b64('Ann\r\nBcc: victim@evil.test')}?= <ann@example.org>`, 'Subject: x'], 553, /^5\.1\.3 to: the To header decodes to a line break/],
    ['a line that is not a field', ['To: ann@example.org', 'Subject: x', 'this is not a header'], 554, /header line 3 is not a "Name: value" field/],
    ['a first line that is a continuation', [' From: ceo@evil.test', 'To: ann@example.org'], 554, /starts with a continuation line/],
  ];
  it.each(cases)('%s is refused and nothing is sent', async (_name, headers, code, text) => {
    const { port } = await startDoor();
    const end = await sendRaw(port, rawMessage(headers));
    expect(end.code).toBe(code);
    expect(end.text).toMatch(text);
    expect(pipeline.requests).toHaveLength(0);
  });

  it('a folded "From:" is part of the Subject, not a second From: it travels as Subject text', async () => {
    const { port } = await startDoor();
    const end = await sendRaw(port, rawMessage(['From: alerts@example.com', 'To: ann@example.org', 'Subject: hello', ' From: ceo@evil.test']));
    expect(end.code).toBe(250);
    const sent = pipeline.delivered[0]!;
    expect(sent.subject).toBe('hello From: ceo@evil.test');
    expect(sent.from.address).toBe(ALERTS);
    expect(sent.headers).toBeUndefined();
  });

  it('a bare CR in the body is no header injection: the body is rebuilt upstream, the message is sent', async () => {
    const { port } = await startDoor();
    const end = await sendRaw(port, rawMessage(['To: ann@example.org', 'Subject: body'], 'line one\rstill one\r\n'));
    expect(end.code).toBe(250);
  });
});

describe('size', () => {
  it('over maxMessageBytes: 552 5.3.4 after the data, nothing sent; the session goes on', async () => {
    const { port } = await startDoor({ maxMessageBytes: 4096 });
    const err = await failure(
      client(port, { auth: LOGIN }).sendMail({ ...simple, attachments: [{ filename: 'big.bin', content: Buffer.alloc(20_000, 7) }] }),
    );
    expect(err.responseCode).toBe(552);
    const d = await loggedIn(port);
    // SIZE= declared in advance is refused at MAIL FROM.
    expect((await d.command(`MAIL FROM:<${ALERTS}> SIZE=999999`)).code).toBe(552);
    await d.command(`MAIL FROM:<${ALERTS}>`);
    await d.command('RCPT TO:<ann@example.org>');
    const big = await d.data(rawMessage(['To: ann@example.org', 'Subject: big'], `${'x'.repeat(76)}\r\n`.repeat(100)));
    expect(big.end!.code).toBe(552);
    expect(big.end!.text).toMatch(/^5\.3\.4 Message too big: the limit is 4096 bytes/);
    await d.command(`MAIL FROM:<${ALERTS}>`);
    await d.command('RCPT TO:<ann@example.org>');
    expect((await d.data(rawMessage(['To: ann@example.org', 'Subject: small']))).end!.code).toBe(250);
    expect(pipeline.delivered.map((m) => m.subject)).toEqual(['small']);
  });
});

describe('pipeline failures become SMTP replies', () => {
  const cases: [string, () => Error, number, RegExp][] = [
    ['upstream down', () => upstreamUnavailable('EmailServer "team-a/relay": connection refused by 127.0.0.1:2525.'), 451, /^4\.4\.0 EmailServer "team-a\/relay": connection refused.*Retry after 30s\.$/],
    ['rate limited', () => rateLimited('SenderIdentity "team-a/alerts" (60/min)', 12), 450, /^4\.7\.1 Rate limit of .* retry after 12s\.$/],
    ['identity no longer Ready', () => identityNotReady('team-a', 'alerts', 'ServerNotReady'), 451, /^4\.3\.5 SenderIdentity "team-a\/alerts" is not Ready \(ServerNotReady\)/],
    ['upstream refused for good', () => upstreamRejected('Upstream refused the message: 554 5.7.1 spam detected.'), 550, /^5\.0\.0 Upstream refused the message/],
    ['not allowed', () => forbidden('no'), 550, /^5\.7\.1 no$/],
    ['a bug (no EndpointError)', () => new Error('boom: secret-looking detail'), 451, /^4\.3\.0 Internal error before the message reached the upstream; retry later\.$/],
  ];
  it.each(cases)('%s', async (_name, make, code, text) => {
    const { port } = await startDoor();
    pipeline.failNext(make());
    const err = await failure(client(port, { auth: LOGIN }).sendMail(simple));
    expect(err.responseCode).toBe(code);
    expect(err.response!.slice(4)).toMatch(text);
    expect(err.response).not.toContain('secret-looking');
    expect(pipeline.delivered).toHaveLength(0);
  });

  it('temporary means temporary: the same message goes through when the client retries', async () => {
    const { port } = await startDoor();
    const t = client(port, { auth: LOGIN });
    pipeline.failNext(upstreamUnavailable('upstream down'));
    const err = await failure(t.sendMail(simple));
    expect(err.responseCode! >= 400 && err.responseCode! < 500).toBe(true);
    await t.sendMail(simple);
    expect(pipeline.delivered).toHaveLength(1);
  });
});

describe('STARTTLS (a certificate is configured)', () => {
  it('AUTH is offered only after STARTTLS, and refused before it; after it, the login and the message go through', async () => {
    const { port } = await startDoor({ tls: pki.server });
    const d = await dialogue(port);
    const ehlo = await d.command('EHLO client.test');
    expect(ehlo.lines).toContain('STARTTLS');
    // Clients that trust the EHLO list (swaks, Python smtplib, nodemailer) never send a password in clear.
    expect(ehlo.lines.some((l) => l.startsWith('AUTH'))).toBe(false);
    const early = await d.command(authPlain(LOGIN.user, LOGIN.pass));
    expect(early.code).toBe(538);
    expect((await d.command(`MAIL FROM:<${ALERTS}>`)).code).toBe(530);
    await d.startTls({ ca: pki.ca });
    const again = await d.command('EHLO client.test');
    expect(again.lines).not.toContain('STARTTLS');
    expect(again.lines).toContain('AUTH PLAIN LOGIN');
    expect((await d.command(authPlain(LOGIN.user, LOGIN.pass))).code).toBe(235);
    expect((await d.command(`MAIL FROM:<${ALERTS}>`)).code).toBe(250);
    expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
    expect((await d.data(rawMessage(['To: ann@example.org', 'Subject: over tls']))).end!.code).toBe(250);
  });

  it('nodemailer: requireTLS with the CA sends; a client that skips TLS is never offered AUTH and cannot send', async () => {
    const { port } = await startDoor({ tls: pki.server });
    await client(port, { auth: LOGIN, tls: true }).sendMail(simple);
    expect(pipeline.delivered).toHaveLength(1);
    const err = await failure(client(port, { auth: LOGIN }).sendMail(simple));
    expect(err.responseCode).toBe(530);
    expect(err.response).toContain('Authentication required');
    expect(pipeline.delivered).toHaveLength(1);
  });
});

describe('a client that hangs up mid-DATA', () => {
  it('is logged at info, not as an error of ours; nothing is sent and nothing stays in flight', async () => {
    const { door, port } = await startDoor();
    const before = logs.length;
    const d = await loggedIn(port);
    expect((await d.command(`MAIL FROM:<${ALERTS}>`)).code).toBe(250);
    expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
    expect((await d.command('DATA')).code).toBe(354);
    // Part of a message, then the client is gone.
    void d.command('Subject: half a message\r\nTo: ann@example.org\r\n\r\nthe first line').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await d.close();
    await until(() => logs.slice(before).some((l) => l.includes('client left during DATA')));
    const lines = logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string; component?: string });
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.find((l) => l.msg.startsWith('client left during DATA'))).toMatchObject({ level: 30, component: 'smtp-door' });
    expect(pipeline.requests).toHaveLength(0);
    await until(() => door.inFlight === 0);
  });

  it('every log line has one component key', () => {
    for (const line of logs) expect(line.match(/"component":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
  });
});

describe('drain', () => {
  it('stopAccepting: new connections and new transactions get 421; the message in DATA completes', async () => {
    const { door, port } = await startDoor();
    const idle = await loggedIn(port);
    const release = pipeline.hold();
    const sending = client(port, { auth: LOGIN }).sendMail(simple);
    await until(() => pipeline.requests.length === 1);
    expect(door.inFlight).toBe(1);
    door.stopAccepting();

    const late = await dialogue(port);
    expect(late.greeting.code).toBe(421);
    expect(late.greeting.text).toMatch(/^4\.3\.2 This postmaster replica is shutting down/);
    await late.closed;
    const refused = await idle.command(`MAIL FROM:<${ALERTS}>`);
    expect(refused.code).toBe(421);
    await idle.closed;

    release();
    const info = await sending;
    expect(info.response).toMatch(/^250 /);
    expect(pipeline.delivered).toHaveLength(1);
    expect(door.inFlight).toBe(0);
  });

  it('close() waits for the message in flight, then answers 421 to idle sessions and closes them', async () => {
    const { door, port } = await startDoor();
    const idle = await loggedIn(port);
    const release = pipeline.hold();
    const sending = client(port, { auth: LOGIN }).sendMail(simple);
    await until(() => pipeline.requests.length === 1);
    let closed = false;
    const closing = door.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(false);
    release();
    expect((await sending).response).toMatch(/^250 /);
    await closing;
    await idle.closed;
  });
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
