// SMTPUTF8 (RFC 6531) through the SMTP door: offered, carried to an upstream that
// offers it too, and refused before DATA with 553 5.6.7 where it cannot be carried
// (a client that did not declare it, an SmtpTarget without it, a provider API).
// Real sockets: nodemailer and raw dialogues -> the door -> the pipeline -> the SMTP
// transport -> real smtp-server sinks, one offering SMTPUTF8 and one not.
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpDoor, type HttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline, type DeliveryPipeline } from '../../../src/endpoint/pipeline.ts';
import { createSmtpDoor, type SmtpDoor } from '../../../src/endpoint/smtp.ts';
import { SmtpTransport } from '../../../src/providers/smtp/transport.ts';
import type { SenderRoute } from '../../../src/providers/types.ts';
import { FakeKube, identity, PlainDirectory, server, serviceAccount, silentLog } from '../../support/endpoint-fakes.ts';
import { authPlain, openDialogue } from '../../support/smtp-dialogue.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl';
const JOSE = 'josé@example.org';
let modern: SmtpSink;
let legacy: SmtpSink;
let pipeline: DeliveryPipeline;
let door: SmtpDoor;
let http: HttpDoor;
let port: number;
let httpUrl: string;

beforeAll(async () => {
  modern = await startSmtpSink({ mode: 'None', noAuth: true });
  legacy = await startSmtpSink({ mode: 'None', noAuth: true, hideSMTPUTF8: true });
  const kube = new FakeKube();
  const app = serviceAccount('team', 'app');
  kube.tokens.set(TOKEN, { username: app });
  const directory = new PlainDirectory();
  const smtp = (sink: SmtpSink, smtpUtf8: boolean): SenderRoute => ({ provider: 'SMTP', endpoint: { host: '127.0.0.1', port: sink.port, security: 'None', smtpUtf8 } });
  for (const [name, primary] of [
    ['intl', smtp(modern, true)],
    ['old', smtp(legacy, false)],
    ['api', { provider: 'SendGrid', account: { apiKey: 'SG.test', baseUrl: 'http://127.0.0.1:9' } }],
  ] as [string, SenderRoute][]) {
    kube.allow(app, 'team', name);
    directory.add({ identity: identity('team', name, { email: `${name}@example.com` }), server: server('team', name), ready: true, primary });
  }
  pipeline = createPipeline({ client: kube, directory, log: silentLog, createTransport: (r) => new SmtpTransport((r as Extract<SenderRoute, { provider: 'SMTP' }>).endpoint) });
  door = createSmtpDoor({ pipeline, directory, log: silentLog, maxMessageBytes: 1024 * 1024, port: 0, host: '127.0.0.1' });
  port = await door.listen();
  http = createHttpDoor({ pipeline, log: silentLog });
  httpUrl = `http://127.0.0.1:${(await http.listen(0, '127.0.0.1')).port}/v1/messages`;
});
afterAll(async () => {
  await door?.close();
  await http?.close();
  await pipeline?.close();
  await modern?.close();
  await legacy?.close();
});

/** Logs in as `identity` and sends MAIL FROM with `params`; returns the dialogue for the RCPT TO under test. */
async function transaction(identityName: string, params = ' SMTPUTF8') {
  const d = await openDialogue(port);
  await d.command('EHLO client.test');
  expect((await d.command(authPlain(identityName, TOKEN))).code).toBe(235);
  expect((await d.command(`MAIL FROM:<${identityName}@example.com>${params}`)).code).toBe(250);
  return d;
}

describe('SMTPUTF8 at the SMTP door', () => {
  it('EHLO offers SMTPUTF8', async () => {
    const d = await openDialogue(port);
    try {
      expect((await d.command('EHLO client.test')).lines).toContain('SMTPUTF8');
    } finally {
      await d.close();
    }
  });

  it('an internationalized recipient reaches an upstream that offers SMTPUTF8, declared there too, the message unchanged', async () => {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user: 'intl', pass: TOKEN } });
    const before = modern.messages.length;
    try {
      const info = await client.sendMail({
        from: 'intl@example.com',
        to: `José Núñez <${JOSE}>`,
        subject: 'Café',
        text: 'Olá, José!',
      });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: sent as/);
    } finally {
      client.close();
    }
    const got = modern.messages.at(-1)!;
    expect(modern.messages.length).toBe(before + 1);
    expect(got.to).toEqual([JOSE]);
    expect(got.smtpUtf8).toBe(true);
    expect(got.from).toBe('intl@example.com');
    // The To field is carried as the client wrote it (nodemailer encodes the name, keeps the address).
    expect(got.headers.get('to')?.[0]).toContain(`<${JOSE}>`);
  });

  it('the same recipient without SMTPUTF8 declared in MAIL FROM is refused at RCPT TO with 553 5.6.7', async () => {
    const d = await transaction('intl', '');
    try {
      const r = await d.command(`RCPT TO:<${JOSE}>`);
      expect(r.code).toBe(553);
      expect(r.text).toBe(`5.6.7 <${JOSE}> is an internationalized address: declare SMTPUTF8 in MAIL FROM (RFC 6531)`);
      // ASCII recipients in the same transaction are still fine.
      expect((await d.command('RCPT TO:<ann@example.org>')).code).toBe(250);
    } finally {
      await d.close();
    }
  });

  it('a route whose SmtpTarget does not offer SMTPUTF8 refuses the recipient before DATA, naming the target; nothing reaches it', async () => {
    const d = await transaction('old');
    try {
      const r = await d.command(`RCPT TO:<${JOSE}>`);
      expect(r.code).toBe(553);
      expect(r.text).toBe(`5.6.7 <${JOSE}> is an internationalized address, and the SmtpTarget 127.0.0.1:${legacy.port} does not offer SMTPUTF8; nothing was sent`);
    } finally {
      await d.close();
    }
    expect(legacy.messages).toHaveLength(0);
  });

  it('a provider API route refuses the recipient before DATA', async () => {
    const d = await transaction('api');
    try {
      const r = await d.command(`RCPT TO:<${JOSE}>`);
      expect(r.code).toBe(553);
      expect(r.text).toBe(`5.6.7 <${JOSE}> is an internationalized address, and SendGrid takes ASCII addresses only; nothing was sent`);
    } finally {
      await d.close();
    }
  });

  it('an internationalized address that is not an address is still refused as one (553 5.1.3)', async () => {
    const d = await transaction('intl');
    try {
      const r = await d.command('RCPT TO:<josé@localhost>');
      expect(r.code).toBe(553);
      expect(r.text).toMatch(/^5\.1\.3 /);
    } finally {
      await d.close();
    }
  });
});

describe('SMTPUTF8 behind the door', () => {
  it('the transport refuses for good, sending nothing, when the route changed to a target without SMTPUTF8', async () => {
    const transport = new SmtpTransport({ host: '127.0.0.1', port: legacy.port, security: 'None', smtpUtf8: false });
    try {
      const sent = transport.send({ from: { address: 'old@example.com' }, to: [JOSE], smtpUtf8: true, subject: 's', text: 't', raw: Buffer.from('Subject: s\r\n\r\nt\r\n') });
      await expect(sent).rejects.toMatchObject({
        reason: 'SmtpUtf8Unsupported',
        permanent: true,
        message: `127.0.0.1:${legacy.port} does not take internationalized addresses (no SMTPUTF8), and <${JOSE}> is one; nothing was sent.`,
      });
    } finally {
      await transport.close();
    }
    expect(legacy.messages).toHaveLength(0);
    expect(legacy.connections).toBe(0);
  });

  it('the HTTP door keeps to ASCII addresses and says where internationalized ones can go', async () => {
    const res = await fetch(httpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sender: 'intl', to: [JOSE], subject: 's', text: 't' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: 'POSTMASTER_INVALID_REQUEST',
        field: 'to[0]',
        message: expect.stringContaining('internationalized (non-ASCII) addresses need SMTPUTF8: send them through the SMTP door with SMTPUTF8'),
      },
    });
  });
});
