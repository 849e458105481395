// The SMTP door against hostile clients, one table: SMTP smuggling (every
// end-of-data look-alike), bare CR and LF, NUL, control characters in every
// command and field, invalid UTF-8, oversized lines, huge recipient lists, slow
// and stalled clients. Real sockets, the real pipeline and SMTP transport, a real
// sink: each case checks the reply a client sees (README's error table), what
// reached the sink, and that the door still delivers a normal message afterwards.
// (Header smuggling in the header section, size and login refusals are in
// smtp-door.test.ts; this file adds what crosses the wire.)
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authPlain, openDialogue, type SmtpDialogue, type SmtpReplyLine } from '../../support/smtp-dialogue.ts';
import { RELAY_SENDER, RELAY_TOKEN, startRelayDoors, type RelayDoors } from '../../support/relay-doors.ts';
import type { ReceivedMessage } from '../../support/smtp-sink.ts';

// Short, so the stall cases cost little (they run again for every surviving mutant).
const IDLE_MS = 500;
let relay: RelayDoors;
const open: SmtpDialogue[] = [];

beforeAll(async () => {
  relay = await startRelayDoors({ smtp: { socketTimeoutMs: IDLE_MS } });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});
afterAll(async () => {
  await relay?.stop();
});

async function dialogue(): Promise<SmtpDialogue> {
  const d = await openDialogue(relay.smtpPort);
  open.push(d);
  return d;
}

async function loggedIn(): Promise<SmtpDialogue> {
  const d = await dialogue();
  expect((await d.command('EHLO client.test')).code).toBe(250);
  expect((await d.command(authPlain('alerts', RELAY_TOKEN))).code).toBe(235);
  return d;
}

/** Logged in, MAIL FROM and RCPT TO accepted, DATA answered 354. */
async function inData(rcpt = ['ann@example.org']): Promise<SmtpDialogue> {
  const d = await loggedIn();
  expect((await d.command(`MAIL FROM:<${RELAY_SENDER}>`)).code).toBe(250);
  for (const r of rcpt) expect((await d.command(`RCPT TO:<${r}>`)).code).toBe(250);
  expect((await d.command('DATA')).code).toBe(354);
  return d;
}

const HEAD = 'From: alerts@example.com\r\nTo: ann@example.org\r\nSubject: hostile\r\n\r\n';
/** After a fake end of data: a whole second transaction to someone else, then the real end. */
const SECOND = `MAIL FROM:<${RELAY_SENDER}>\r\nRCPT TO:<evil@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond message\r\n.\r\n`;

/** True when every CR is followed by LF and every LF preceded by CR. */
const crlfOnly = (raw: Buffer) => !/\r(?!\n)|(?<!\r)\n/.test(raw.toString('latin1'));

interface SmtpCase {
  name: string;
  /** Plays the client; resolves with the reply that matters (or the last one). */
  play(): Promise<SmtpReplyLine>;
  code: number;
  text: RegExp;
  /** Messages the sink receives (0: refused, nothing sent). */
  delivered: number;
  /** What the sink got, when something was delivered. */
  check?(got: ReceivedMessage[]): void;
}

const smuggling = (seq: string): SmtpCase => ({
  name: `smuggling with ${JSON.stringify(seq)} as end of data: one message, to the envelope's recipient only`,
  async play() {
    const d = await inData();
    const end = await d.send(`${HEAD}first line${seq}${SECOND}`);
    // Had the door split the stream, the smuggled MAIL/RCPT/DATA replies would be queued before NOOP's.
    expect(await d.command('NOOP')).toMatchObject({ code: 250, text: 'OK' });
    return end;
  },
  code: 250,
  text: /^2\.0\.0 Ok: sent as /,
  delivered: 1,
  check([m]) {
    expect(m!.to).toEqual(['ann@example.org']);
    expect(m!.body).toContain('RCPT TO:<evil@example.org>');
    // What goes upstream has only CRLF line ends (dot-stuffed), so no upstream can read an end of data in it.
    expect(crlfOnly(m!.raw)).toBe(true);
  },
});

const cases: SmtpCase[] = [
  smuggling('\n.\n'),
  smuggling('\r\n.\n'),
  smuggling('\n.\r\n'),
  smuggling('\r.\r'),
  smuggling('\r\n.\r'),
  {
    name: 'bare LF line ends in the body: sent, with CRLF upstream',
    play: async () => (await inData()).send(`${HEAD}one\ntwo\n.\nthree\r\n.\r\n`),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(crlfOnly(m!.raw)).toBe(true);
      expect(m!.body).toBe('one\r\ntwo\r\n.\r\nthree\r\n');
    },
  },
  {
    name: 'a bare LF in the header section',
    play: async () => (await inData()).send('To: ann@example.org\nBcc: evil@example.org\r\nSubject: x\r\n\r\nbody\r\n.\r\n'),
    code: 554,
    text: /^5\.6\.0 headers: header line 1 contains a bare LF/,
    delivered: 0,
  },
  {
    name: 'a NUL byte in the body: relayed as it came (a relay, not a rewriter)',
    play: async () => (await inData()).send(`${HEAD}be\0fore\r\n.\r\n`),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.body).toBe('be\0fore\r\n');
    },
  },
  {
    name: 'a NUL byte in EHLO',
    play: async () => (await dialogue()).command('EHLO cli\0ent.test'),
    code: 501,
    text: /hostname/i,
    delivered: 0,
  },
  {
    name: 'a control character in MAIL FROM',
    play: async () => (await loggedIn()).command('MAIL FROM:<alerts\x01@example.com>'),
    // smtp-server's own syntax check answers first (501, permanent): the address never reaches ours.
    code: 501,
    text: /Bad sender address syntax/,
    delivered: 0,
  },
  {
    name: 'a control character in RCPT TO',
    async play() {
      const d = await loggedIn();
      expect((await d.command(`MAIL FROM:<${RELAY_SENDER}>`)).code).toBe(250);
      return d.command('RCPT TO:<ann\x7f@example.org>');
    },
    code: 501,
    text: /Bad recipient address syntax/,
    delivered: 0,
  },
  {
    name: 'a control character in the AUTH username (an ANSI escape)',
    play: async () => {
      const d = await dialogue();
      await d.command('EHLO client.test');
      return d.command(authPlain('alerts\x1b[2J', RELAY_TOKEN));
    },
    code: 501,
    text: /invalid userdata/,
    delivered: 0,
  },
  {
    name: 'an encoded Subject that decodes to a control character',
    play: async () =>
      (await inData()).send(`To: ann@example.org\r\nSubject: =?utf-8?B?${Buffer.from('bell\x07').toString('base64')}?=\r\n\r\nbody\r\n.\r\n`),
    code: 554,
    text: /^5\.6\.0 subject: must not contain control characters/,
    delivered: 0,
  },
  {
    // Decoration, not smuggling (no line break): tidied for the checks, relayed as the client wrote it.
    name: 'a raw control character in a To display name: relayed as written',
    play: async () => (await inData()).send('To: "An\x07n" <ann@example.org>\r\nSubject: x\r\n\r\nbody\r\n.\r\n'),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.headers.get('to')).toEqual(['"An\x07n" <ann@example.org>']);
    },
  },
  {
    // Leaving through SMTP the message travels as its bytes (only the fields the relay edits are read),
    // so a field it does not touch is carried as written, like the file name below.
    name: 'a raw control character in an X- header: relayed as written',
    play: async () => (await inData()).send('To: ann@example.org\r\nSubject: x\r\nX-Trace: a\x01b\r\n\r\nbody\r\n.\r\n'),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.raw.toString('latin1')).toContain('\r\nX-Trace: a\x01b\r\n');
    },
  },
  {
    name: 'a raw control character in an attachment file name: relayed as written',
    play: async () =>
      (await inData()).send(
        'To: ann@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' +
          '--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n' +
          '--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a\x1bb.txt"\r\n\r\nAAAA\r\n--b--\r\n.\r\n',
      ),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.body).toContain('filename="a\x1bb.txt"');
    },
  },
  {
    name: 'an attachment file name that decodes to CRLF: relayed encoded',
    play: async () =>
      (await inData()).send(
        'To: ann@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' +
          '--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n' +
          "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''a.txt%0D%0AContent-Type%3A%20text%2Fhtml\r\n\r\nAAAA\r\n--b--\r\n.\r\n",
      ),
    // Carried encoded, as sent: no composer ever decodes it into a header, so it cannot inject one.
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.raw.toString('latin1')).toContain("filename*=utf-8''a.txt%0D%0AContent-Type%3A%20text%2Fhtml\r\n");
      expect(m!.raw.toString('latin1')).not.toMatch(/\r\nContent-Type: text\/html/);
    },
  },
  {
    name: 'invalid UTF-8 in the Subject and the body: relayed byte for byte',
    play: async () => (await inData()).send(Buffer.concat([Buffer.from('To: ann@example.org\r\nSubject: caf'), Buffer.from([0xe9, 0xff]), Buffer.from('\r\n\r\nbad '), Buffer.from([0xc3, 0x28]), Buffer.from('\r\n.\r\n')])),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.raw.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff, 0x0d, 0x0a]))).toBe(true);
      expect(m!.raw.includes(Buffer.from([0x62, 0x61, 0x64, 0x20, 0xc3, 0x28]))).toBe(true);
    },
  },
  {
    name: 'a command line of 1 MiB: refused and the connection closed',
    async play() {
      const d = await dialogue();
      await d.command('EHLO client.test');
      const r = await d.send('A'.repeat(1024 * 1024));
      await d.closed;
      return r;
    },
    code: 421,
    text: /too long/i,
    delivered: 0,
  },
  {
    name: 'a Subject line longer than 998 characters',
    play: async () => (await inData()).send(`To: ann@example.org\r\nSubject: ${'s'.repeat(2000)}\r\n\r\nbody\r\n.\r\n`),
    code: 554,
    text: /^5\.6\.0 subject: is longer than 998 characters/,
    delivered: 0,
  },
  {
    name: 'a 100 kB header field: a long line is carried as it is',
    play: async () => (await inData()).send(`${HEAD.replace('\r\n\r\n', `\r\nX-Long: ${'x'.repeat(100_000)}\r\n\r\n`)}body\r\n.\r\n`),
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.headers.get('x-long')?.[0]).toHaveLength(100_000);
    },
  },
  {
    name: '150 recipients: the first 100 taken, the rest 452 4.5.3, the message goes to the 100',
    async play() {
      const d = await loggedIn();
      expect((await d.command(`MAIL FROM:<${RELAY_SENDER}>`)).code).toBe(250);
      const codes: number[] = [];
      for (let i = 0; i < 150; i++) codes.push((await d.command(`RCPT TO:<r${i}@example.org>`)).code);
      expect(codes.filter((c) => c === 250)).toHaveLength(100);
      expect(codes.slice(100).every((c) => c === 452)).toBe(true);
      expect((await d.command('DATA')).code).toBe(354);
      return d.send(`${HEAD}to many\r\n.\r\n`);
    },
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.to).toHaveLength(100);
      expect(m!.to).not.toContain('r100@example.org');
    },
  },
  {
    name: 'a client that talks before the greeting',
    async play() {
      const socket = net.connect(relay.smtpPort, '127.0.0.1');
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString()));
      socket.on('error', () => undefined);
      socket.once('connect', () => socket.write(`EHLO client.test\r\n${authPlain('alerts', RELAY_TOKEN)}\r\n`));
      await new Promise((r) => socket.once('close', r));
      const last = text.trimEnd().split('\r\n').pop()!;
      return { code: Number(last.slice(0, 3)), lines: [last.slice(4)], text: last.slice(4) };
    },
    code: 421,
    text: /too soon/i,
    delivered: 0,
  },
  {
    name: 'a client that stalls in DATA: cut off after the idle timeout, nothing sent, nothing left in flight',
    async play() {
      const d = await inData();
      const started = Date.now();
      const r = await d.send(`${HEAD}half a mess`);
      await d.closed;
      expect(Date.now() - started).toBeLessThan(IDLE_MS + 2000);
      await until(() => relay.smtp.inFlight === 0);
      return r;
    },
    code: 421,
    text: /timeout/i,
    delivered: 0,
  },
  {
    name: 'a client that stalls after EHLO: cut off after the idle timeout',
    async play() {
      const d = await dialogue();
      await d.command('EHLO client.test');
      const r = await d.send('');
      await d.closed;
      return r;
    },
    code: 421,
    text: /timeout/i,
    delivered: 0,
  },
  {
    name: 'a slow client that keeps sending (a line every 150 ms, longer than the idle timeout in all): served',
    async play() {
      const d = await inData();
      const lines = `${HEAD}l1\r\nl2\r\nl3\r\nl4\r\nl5\r\n`.split(/(?<=\r\n)/);
      for (const line of lines.slice(0, -1)) {
        d.write(line);
        await new Promise((r) => setTimeout(r, 150));
      }
      return d.send(`${lines.at(-1)!}.\r\n`);
    },
    code: 250,
    text: /^2\.0\.0 /,
    delivered: 1,
    check([m]) {
      expect(m!.body).toBe('l1\r\nl2\r\nl3\r\nl4\r\nl5\r\n');
    },
  },
];

describe('hostile SMTP clients', () => {
  it.each(cases)('$name', async (c) => {
    const before = relay.sink.messages.length;
    const reply = await c.play();
    expect(reply.code, reply.text).toBe(c.code);
    expect(reply.text).toMatch(c.text);
    await until(() => relay.sink.messages.length >= before + c.delivered);
    const got = relay.sink.messages.slice(before);
    expect(got).toHaveLength(c.delivered);
    expect(got.some((m) => m.to.includes('evil@example.org'))).toBe(false);
    c.check?.(got);
    await normalSendWorks();
  });
});

/** The door is still up and delivers: a plain message, a fresh connection. */
async function normalSendWorks(): Promise<void> {
  const before = relay.sink.messages.length;
  const d = await inData();
  const end = await d.send(`${HEAD}still here\r\n.\r\n`);
  expect(end.code, end.text).toBe(250);
  await until(() => relay.sink.messages.length === before + 1);
  expect(relay.sink.messages.at(-1)!.body).toBe('still here\r\n');
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
