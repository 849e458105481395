// The SMTP door over real sockets (raw dialogues), for what its other tests leave
// out: the greeting, the 250 of a queued message, what the pipeline gets for a
// message that leaves through SMTP (passed through: headers read, bytes kept), our
// Received field, duplicate recipients, refused logins in the log, and listen().
import { afterEach, describe, expect, it } from 'vitest';
import { createSmtpDoor, type SmtpDoor, type SmtpDoorOptions } from '../../../src/endpoint/smtp.ts';
import type { Directory, SendOutcome } from '../../../src/endpoint/types.ts';
import type { ResolvedIdentity } from '../../../src/routing/identity.ts';
import { createLogger } from '../../../src/log.ts';
import { authPlain, openDialogue, type SmtpDialogue } from '../../support/smtp-dialogue.ts';
import { fakeDirectory, fakePipeline, type FakePipeline } from '../../support/smtp-door-doubles.ts';
import { server, smtpRoute } from '../../support/endpoint-fakes.ts';

const PASSWORD = 'gEn3rated-Pa55word-0123456789abcd';
const ALERTS = 'alerts@example.com';
const base = fakeDirectory([{ namespace: 'team-a', name: 'alerts', email: ALERTS, password: PASSWORD }]);

const doors: SmtpDoor[] = [];
const dialogues: SmtpDialogue[] = [];
afterEach(async () => {
  await Promise.all(dialogues.splice(0).map((d) => d.close()));
  await Promise.all(doors.splice(0).map((d) => d.close()));
});

function setup(opts: { route?: Partial<ResolvedIdentity>; door?: Partial<SmtpDoorOptions>; outcome?: SendOutcome } = {}) {
  const logs: string[] = [];
  const directory: Directory = {
    resolve: (ns, name) => {
      const r = base.resolve(ns, name);
      return r && opts.route ? { ...r, ...opts.route } : r;
    },
    smtpLogin: (u, p) => base.smtpLogin(u, p),
  };
  const pipeline: FakePipeline = fakePipeline(directory);
  if (opts.outcome) {
    const send = pipeline.send.bind(pipeline);
    pipeline.send = async (r) => (await send(r), opts.outcome!);
  }
  const log = createLogger('debug', { write: (line: string) => void logs.push(line) });
  const door = createSmtpDoor({ pipeline, directory, log, maxMessageBytes: 64 * 1024, port: 0, host: '127.0.0.1', ...opts.door });
  doors.push(door);
  return { door, pipeline, logs };
}

async function dialogue(port: number): Promise<SmtpDialogue> {
  const d = await openDialogue(port);
  dialogues.push(d);
  return d;
}

async function transaction(port: number, raw: string, rcpt = ['ann@example.org'], helo = 'client.test') {
  const d = await dialogue(port);
  expect((await d.command(`EHLO ${helo}`)).code).toBe(250);
  expect((await d.command(authPlain('team-a/alerts', PASSWORD))).code).toBe(235);
  expect((await d.command(`MAIL FROM:<${ALERTS}>`)).code).toBe(250);
  for (const r of rcpt) expect((await d.command(`RCPT TO:<${r}>`)).code).toBe(250);
  return (await d.data(raw)).end!;
}

const RAW = 'To: ann@example.org\r\nSubject: Disk full\r\n\r\nbody line\r\n';

describe('the SMTP door says', () => {
  it('its name in the greeting (postmaster unless named)', async () => {
    const a = setup();
    expect((await dialogue(await a.door.listen())).greeting).toMatchObject({ code: 220, text: expect.stringMatching(/^postmaster ESMTP postmaster send endpoint/) });
    const b = setup({ door: { name: 'mail.example.com' } });
    expect((await dialogue(await b.door.listen())).greeting.text).toMatch(/^mail\.example\.com ESMTP postmaster send endpoint/);
  });

  it('250 "queued as <id>" when the server delivers Queued', async () => {
    const { door } = setup({
      outcome: { queued: true, id: 'q-42', messageIdHeader: '<m@example.com>', server: { namespace: 'team-a', name: 'relay' }, expiresAt: '2026-12-02T10:00:00.000Z' },
    });
    expect(await transaction(await door.listen(), RAW)).toEqual({ code: 250, lines: ['2.0.0 Ok: queued as q-42'], text: '2.0.0 Ok: queued as q-42' });
  });

  it('a recipient given twice counts once toward the limit', async () => {
    const { door, pipeline } = setup({ door: { maxRecipients: 1 } });
    const port = await door.listen();
    const d = await dialogue(port);
    await d.command('EHLO client.test');
    await d.command(authPlain('team-a/alerts', PASSWORD));
    await d.command(`MAIL FROM:<${ALERTS}>`);
    expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
    expect((await d.command('RCPT TO:<ANN@example.org>')).code).toBe(250);
    const extra = await d.command('RCPT TO:<bob@example.org>');
    expect(extra).toMatchObject({ code: 452, text: '4.5.3 Too many recipients: at most 1 per message; send the rest in another transaction' });
    expect((await d.data(RAW)).end!.code).toBe(250);
    expect(pipeline.requests).toHaveLength(1);
  });
});

describe('what the pipeline gets', () => {
  it('through a Direct SMTP route: the header fields only, the bytes as received, and our Received field', async () => {
    const { door, pipeline } = setup({ route: { server: server('team-a', 'relay'), primary: smtpRoute() } });
    expect((await transaction(await door.listen(), RAW, ['ann@example.org'], 'we\u00efrd.client')).code).toBe(250);
    const m = pipeline.requests[0]!.message;
    expect(m.raw!.toString()).toBe(RAW);
    expect(m.text).toBeUndefined();
    expect(m.subject).toBe('Disk full');
    expect(m.received).toMatch(/^from werd\.client \(\[127\.0\.0\.1\]\) by postmaster \(postmaster\) with ESMTPA id [a-z0-9]+; \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/);
    expect(m.received).not.toMatch(/[^\x21-\x7e ]/);
  });

  it('through a Queued route or an API: the whole message read (it may leave another way)', async () => {
    const queued = setup({ route: { server: server('team-a', 'relay', { delivery: { mode: 'Queued' } }), primary: smtpRoute() } });
    await transaction(await queued.door.listen(), RAW);
    expect(queued.pipeline.requests[0]!.message).toMatchObject({ text: 'body line\n', raw: Buffer.from(RAW) });
    const api = setup({ route: { server: server('team-a', 'sg', { provider: 'SendGrid' }), primary: { provider: 'SendGrid', account: { apiKey: 'k', region: 'US' }, describeKey: 'k' } as never } });
    await transaction(await api.door.listen(), RAW);
    expect(api.pipeline.requests[0]!.message.text).toBe('body line\n');
  });

  it('a named door puts its name in the Received field', async () => {
    const { door, pipeline } = setup({ door: { name: 'smtp.example.com' } });
    await transaction(await door.listen(), RAW);
    expect(pipeline.requests[0]!.message.received).toMatch(/^from client\.test \(\[127\.0\.0\.1\]\) by smtp\.example\.com \(postmaster\) with ESMTPA id /);
  });
});

describe('logs and listening', () => {
  it('a refused login logs the username only when it looks like a name, never the password', async () => {
    const { door, logs } = setup();
    const d = await dialogue(await door.listen());
    await d.command('EHLO client.test');
    expect((await d.command(authPlain('team-a/alerts', 'wrong-Pa55word'))).code).toBe(535);
    expect((await d.command(authPlain('eyJhbGciOi Pasted Token', 'x'))).code).toBe(535);
    const refused = logs.filter((l) => l.includes('smtp login refused')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(refused.map((r) => r.username)).toEqual(['team-a/alerts', '(not a name)']);
    expect(refused[0]).toMatchObject({ method: 'PLAIN', reply: '5.7.8 Authentication credentials invalid' });
    expect(logs.join('')).not.toContain('wrong-Pa55word');
  });

  it('a login and a message are logged with the session, caller, identity and outcome', async () => {
    const { door, logs } = setup();
    expect((await transaction(await door.listen(), RAW, ['ann@example.org', 'bob@example.org'])).code).toBe(250);
    const lines = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const login = lines.find((l) => l.msg === 'smtp login')!;
    expect(login).toMatchObject({ level: 30, component: 'smtp-door', caller: 'smtp-credentials:team-a/alerts', identity: 'alerts', via: 'credentials', session: expect.any(String) });
    const sent = lines.find((l) => l.msg === 'smtp message sent')!;
    expect(sent).toMatchObject({
      level: 20,
      session: login.session,
      caller: 'smtp-credentials:team-a/alerts',
      namespace: 'team-a',
      identity: 'alerts',
      recipients: 2,
      server: 'team-a/relay',
      ms: expect.any(Number),
    });
    const queued = setup({ outcome: { queued: true, id: 'q-7', messageIdHeader: '<m@example.com>', server: { namespace: 'team-a', name: 'relay' }, expiresAt: '2026-12-02T10:00:00.000Z' } });
    await transaction(await queued.door.listen(), RAW);
    expect(queued.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'smtp message queued')).toMatchObject({ id: 'q-7' });
  });

  it('a bug in the pipeline: 451 to the client, an error line with its name and message in the log', async () => {
    const { door, pipeline, logs } = setup();
    pipeline.failNext(new TypeError('cannot read x of undefined'));
    const end = await transaction(await door.listen(), RAW);
    expect(end).toMatchObject({ code: 451, text: '4.3.0 Internal error before the message reached the upstream; retry later.' });
    const error = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'smtp door: unexpected error');
    expect(error).toMatchObject({ level: 50, err: 'TypeError: cannot read x of undefined' });
    const thrown = setup();
    thrown.pipeline.failNext('a string' as unknown as Error);
    expect((await transaction(await thrown.door.listen(), RAW)).code).toBe(451);
    expect(thrown.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'smtp door: unexpected error')).toMatchObject({ err: 'a string' });
  });

  it('an IPv4 client of a dual-stack listener is named by its IPv4 address in the Received field', async () => {
    const { door, pipeline } = setup({ door: { host: '::' } });
    const port = await door.listen().catch(() => undefined);
    if (port === undefined) return; // no IPv6 on this machine: nothing to map
    await transaction(port, RAW);
    expect(pipeline.requests[0]!.message.received).toMatch(/^from client\.test \(\[127\.0\.0\.1\]\) by /);
  });

  it('listen() rejects when the port is taken', async () => {
    const a = setup();
    const port = await a.door.listen();
    const b = setup({ door: { port } });
    await expect(b.door.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('close() waits no longer than drainTimeoutMs for a message in flight', async () => {
    const { door, pipeline } = setup({ door: { drainTimeoutMs: 200 } });
    const port = await door.listen();
    const release = pipeline.hold();
    const pending = transaction(port, RAW).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(door.inFlight).toBe(1);
    const started = Date.now();
    await door.close();
    expect(Date.now() - started).toBeLessThan(2500);
    release();
    await pending;
  });
});
