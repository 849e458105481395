// A relay carries the message unchanged except for what its policy says. Real
// sockets end to end (nodemailer, a raw SMTP dialogue and fetch -> a door -> the real pipeline -> the SMTP
// transport -> a real SMTP sink), and what the sink receives is compared with
// what the client sent, part by part and header by header.
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpDoor, type HttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline, type DeliveryPipeline } from '../../../src/endpoint/pipeline.ts';
import { createSmtpDoor, type SmtpDoor } from '../../../src/endpoint/smtp.ts';
import { splitMessage } from '../../../src/mail/header-section.ts';
import { SmtpTransport } from '../../../src/providers/smtp/transport.ts';
import type { SenderRoute } from '../../../src/providers/types.ts';
import { FakeKube, identity, PlainDirectory, server, serviceAccount, silentLog } from '../../support/endpoint-fakes.ts';
import { authPlain, openDialogue } from '../../support/smtp-dialogue.ts';
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../../support/smtp-sink.ts';

// A token shaped like a JWT, so the SMTP door hands it to the TokenReview.
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl';
const ALERTS = 'alerts@example.com';
let sink: SmtpSink;
let pipeline: DeliveryPipeline;
let smtpDoor: SmtpDoor;
let httpDoor: HttpDoor;
let smtpPort: number;
let httpUrl: string;

/** POST /v1/messages over a real socket, as an application's HTTP client does. */
async function post(body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  sink = await startSmtpSink({ mode: 'None', noAuth: true });
  const kube = new FakeKube();
  const app = serviceAccount('team', 'app');
  kube.tokens.set(TOKEN, { username: app });
  kube.allow(app, 'team', 'alerts');
  const directory = new PlainDirectory();
  directory.add({
    identity: identity('team', 'alerts', { displayName: 'Älerts Bot', replyTo: 'oncall@example.com' }),
    server: server('team', 'relay'),
    ready: true,
    primary: { provider: 'SMTP', endpoint: { host: '127.0.0.1', port: sink.port, security: 'None' } },
  });
  pipeline = createPipeline({ client: kube, directory, log: silentLog, createTransport: (r) => new SmtpTransport((r as Extract<SenderRoute, { provider: 'SMTP' }>).endpoint) });
  smtpDoor = createSmtpDoor({ pipeline, directory, log: silentLog, maxMessageBytes: 4 * 1024 * 1024, port: 0, host: '127.0.0.1' });
  smtpPort = await smtpDoor.listen();
  httpDoor = createHttpDoor({ pipeline, log: silentLog });
  httpUrl = `http://127.0.0.1:${(await httpDoor.listen(0, '127.0.0.1')).port}/v1/messages`;
});
afterAll(async () => {
  await smtpDoor?.close();
  await httpDoor?.close();
  await pipeline?.close();
  await sink?.close();
});

/** Sends raw bytes through the SMTP door with a hand-driven dialogue; returns the final reply and what the sink got. */
async function relay(raw: Buffer, rcpt = ['ann@example.org']): Promise<{ code: number; text: string; got?: ReceivedMessage }> {
  const before = sink.messages.length;
  const d = await openDialogue(smtpPort);
  try {
    await d.command('EHLO client.test');
    expect((await d.command(authPlain('alerts', TOKEN))).code).toBe(235);
    expect((await d.command(`MAIL FROM:<${ALERTS}>`)).code).toBe(250);
    for (const r of rcpt) expect((await d.command(`RCPT TO:<${r}>`)).code).toBe(250);
    const { end } = await d.data(raw);
    return { code: end!.code, text: end!.text, got: sink.messages.length > before ? sink.messages.at(-1) : undefined };
  } finally {
    await d.close();
  }
}

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');
/** The header fields as written, by name, and the bytes from the empty line on. */
const anatomy = (raw: Buffer) => {
  const m = splitMessage(raw);
  return { fields: m.fields.map((f) => [f.key, f.raw.toString('utf8')] as const), body: m.rest };
};

describe('the SMTP door passes the submitted bytes through', () => {
  it('a multipart/alternative with a multipart/related inline image, from nodemailer: structure, Content-ID and bytes kept', async () => {
    // The message as Grafana and Keycloak templates build it: HTML referring to cid:logo.
    const built = await new Promise<Buffer>((resolve, reject) =>
      nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' }).sendMail(
        {
          from: 'Grafana <alerts@example.com>',
          to: 'Ann <ann@example.org>',
          subject: 'Ärger im Cluster: 3 Alarme',
          text: 'Plain part',
          html: '<p>See <img src="cid:logo@grafana"></p>',
          attachments: [{ filename: 'logo.png', content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 0xff]), cid: 'logo@grafana' }],
          messageId: '<grafana-1@example.com>',
        },
        (err, info) => (err ? reject(err) : resolve(info.message as Buffer)),
      ),
    );
    const { code, got } = await relay(built);
    expect(code).toBe(250);
    const sent = anatomy(built);
    const received = anatomy(got!.raw);
    // Every byte from the empty line on: MIME structure, boundaries, encodings, the image.
    expect(received.body.equals(sent.body)).toBe(true);
    const parsed = await simpleParser(got!.raw, { keepCidLinks: true });
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]).toMatchObject({ contentId: '<logo@grafana>', related: true, filename: 'logo.png' });
    expect(parsed.html).toContain('cid:logo@grafana');
    expect(parsed.subject).toBe('Ärger im Cluster: 3 Alarme');
    expect(parsed.messageId).toBe('<grafana-1@example.com>');
    // Header by header: the client's fields as written, except From; ours added.
    const mine = (name: string) => sent.fields.filter(([k]) => k === name).map(([, v]) => v);
    const theirs = (name: string) => received.fields.filter(([k]) => k === name).map(([, v]) => v);
    for (const name of ['to', 'subject', 'message-id', 'content-type', 'mime-version', 'date']) expect(theirs(name), name).toEqual(mine(name));
    expect(theirs('from')).toEqual(['From: =?UTF-8?B?w4RsZXJ0cyBCb3Q=?= <alerts@example.com>\r\n']);
    expect(parsed.from?.value[0]).toMatchObject({ name: 'Älerts Bot', address: ALERTS });
    expect(received.fields[0]![0]).toBe('received');
    expect(theirs('reply-to')).toEqual(['Reply-To: oncall@example.com\r\n']);
  });

  it('UTF-8 display names and an 8-bit body arrive as sent', async () => {
    const raw = crlf([
      'From: alerts@example.com',
      'To: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>',
      'Subject: =?UTF-8?B?w5xiZXJsYXN0ZXQ=?=',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Grüße aus dem Rechenzentrum – alles grün.',
      '',
    ]);
    const { code, got } = await relay(raw, ['juergen@example.org']);
    expect(code).toBe(250);
    expect(anatomy(got!.raw).body.equals(anatomy(raw).body)).toBe(true);
    const to = anatomy(got!.raw).fields.find(([k]) => k === 'to')![1];
    expect(to).toBe('To: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\n');
    expect((await simpleParser(got!.raw)).text?.trim()).toBe('Grüße aus dem Rechenzentrum – alles grün.');
  });

  it('keeps the client\'s Received trace fields under ours, and its Message-ID', async () => {
    const raw = crlf([
      'Received: from app-7f9c (10.0.3.4) by app.internal; Tue, 1 Dec 2026 09:00:00 +0000',
      'Received: from worker-2 by app-7f9c; Tue, 1 Dec 2026 08:59:59 +0000',
      'From: alerts@example.com',
      'To: ann@example.org',
      'Subject: traced',
      'Message-ID: <trace-1@app.internal>',
      '',
      'x',
      '',
    ]);
    const { got } = await relay(raw);
    const received = anatomy(got!.raw).fields.filter(([k]) => k === 'received').map(([, v]) => v);
    expect(received).toHaveLength(3);
    expect(received[0]).toMatch(/^Received: from client\.test \(\[127\.0\.0\.1\]\) by postmaster \(postmaster\) with ESMTPA id /);
    expect(received.slice(1)).toEqual([
      'Received: from app-7f9c (10.0.3.4) by app.internal; Tue, 1 Dec 2026 09:00:00 +0000\r\n',
      'Received: from worker-2 by app-7f9c; Tue, 1 Dec 2026 08:59:59 +0000\r\n',
    ]);
    expect(got!.headers.get('message-id')).toEqual(['<trace-1@app.internal>']);
  });

  it('removes Bcc, Sender and Return-Path, and adds Message-ID and Date only when absent', async () => {
    const raw = crlf(['Sender: someone@else.example', 'Return-Path: <bounce@else.example>', 'From: alerts@example.com', 'To: ann@example.org', 'Bcc: hidden@example.org', 'Subject: policy', '', 'x', '']);
    const { got } = await relay(raw, ['ann@example.org', 'hidden@example.org']);
    expect(got!.to).toEqual(['ann@example.org', 'hidden@example.org']);
    for (const gone of ['bcc', 'sender', 'return-path']) expect(got!.headers.has(gone), gone).toBe(false);
    expect(got!.raw.toString()).not.toContain('hidden@example.org');
    expect(got!.headers.get('message-id')?.[0]).toMatch(/^<[0-9a-f]{32}\.postmaster@example\.com>$/);
    expect(got!.headers.get('date')?.[0]).toMatch(/^\w{3}, \d{2} \w{3} \d{4} [\d:]{8} \+0000$/);
  });

  it('a 100 kB header line is carried, not dropped', async () => {
    const long = `X-Trace: ${'a'.repeat(100 * 1024)}`;
    const raw = crlf(['From: alerts@example.com', 'To: ann@example.org', 'Subject: long', long, '', 'x', '']);
    const { code, got } = await relay(raw);
    expect(code).toBe(250);
    expect(got!.headers.get('x-trace')?.[0]?.length).toBe(100 * 1024);
  });
});

describe('the HTTP door', () => {
  it('sends inline images as multipart/related with their Content-ID, and threading headers as given', async () => {
    const before = sink.messages.length;
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 9, 8, 7]);
    const res = await post({
        sender: 'alerts',
        to: ['ann@example.org'],
        subject: 'Re: ticket 4711',
        html: '<p><img src="cid:logo@example.com"> Answer</p>',
        headers: { 'Message-ID': '<reply-4711@support.example.com>', 'In-Reply-To': '<4711@support.example.com>', References: '<4711@support.example.com>', 'List-Unsubscribe': '<mailto:unsub@example.com>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        attachments: [{ filename: 'logo.png', contentType: 'image/png', content: png.toString('base64'), contentId: 'logo@example.com', disposition: 'inline' }],
    });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json).toMatchObject({ messageIdHeader: '<reply-4711@support.example.com>' });
    expect(sink.messages).toHaveLength(before + 1);
    const parsed = await simpleParser(sink.messages.at(-1)!.raw);
    expect(parsed.messageId).toBe('<reply-4711@support.example.com>');
    expect(parsed.inReplyTo).toBe('<4711@support.example.com>');
    expect(sink.messages.at(-1)!.headers.get('list-unsubscribe-post')).toEqual(['List-Unsubscribe=One-Click']);
    expect(parsed.attachments[0]).toMatchObject({ contentId: '<logo@example.com>', related: true, contentDisposition: 'inline' });
    expect(parsed.attachments[0]!.content.equals(png)).toBe(true);
  });

  it('refuses an inline part without a Content-ID, naming the field', async () => {
    const res = await post({ sender: 'alerts', to: ['ann@example.org'], subject: 's', html: '<p>x</p>', attachments: [{ filename: 'a.png', content: 'AAAA', disposition: 'inline' }] });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { field: 'attachments[0].contentId' } });
  });
});
