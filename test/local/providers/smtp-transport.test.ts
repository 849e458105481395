// SmtpTransport against a real SMTP server: what arrives (envelope, headers, parts),
// and how every kind of refusal is classified for retries and fallbacks.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SendError } from '../../../src/providers/types.ts';
import type { OutboundMessage, SmtpEndpoint } from '../../../src/providers/types.ts';
import { SmtpTransport, smtpTransportOptions } from '../../../src/providers/smtp/transport.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort, handleCounts, settledResources, trackResources } from '../../support/smtp-sockets.ts';
import type { HandleCounts, ResourceTracker } from '../../support/smtp-sockets.ts';

const pki = testPki();
const login = { username: 'transport-user', password: 'Tr4nsport-Secret-Pw' };

let baseline: HandleCounts;
let tracker: ResourceTracker;
const sinks: SmtpSink[] = [];
const transports: SmtpTransport[] = [];

beforeAll(() => {
  baseline = handleCounts();
  tracker = trackResources();
});
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(sinks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  const left = await settledResources(baseline, tracker);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

async function sink(opts: Partial<SinkOptions> = {}): Promise<SmtpSink> {
  const s = await startSmtpSink({ mode: 'STARTTLS', tls: pki.server, auth: login, ...opts });
  sinks.push(s);
  return s;
}

function transport(s: { port: number }, extra: Partial<SmtpEndpoint> = {}): SmtpTransport {
  const endpoint: SmtpEndpoint = { host: '127.0.0.1', port: s.port, security: 'STARTTLS', tls: { ca: pki.ca }, auth: login, ...extra };
  const t = new SmtpTransport(endpoint, { connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 5000 });
  transports.push(t);
  return t;
}

const simple: OutboundMessage = { from: { address: 'bot@example.com' }, to: ['alice@example.net'], subject: 'Hi', text: 'Hello' };

async function sendError(p: Promise<unknown>): Promise<SendError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SendError);
  return err as SendError;
}

describe('SmtpTransport: delivery', () => {
  it('sends a full message over STARTTLS + AUTH: exact envelope, From with name, Reply-To, cc, no Bcc header, both bodies, attachment', async () => {
    const s = await sink();
    const t = transport(s);
    const pdf = Buffer.from('%PDF-1.4 not really a pdf\n');
    const result = await t.send({
      from: { name: 'Billing Bot', address: 'billing@example.com' },
      replyTo: 'support@example.com',
      to: ['alice@example.net', 'bob@example.net'],
      cc: ['carol@example.org'],
      bcc: ['audit@example.com'],
      subject: 'Your invoice',
      text: 'Plain body',
      html: '<p>HTML body</p>',
      headers: { 'X-Request-Id': 'req-123' },
      attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: pdf }],
    });
    // Resolved only after the 250 for DATA: the sink already holds the message.
    expect(result).toEqual({ messageId: 'SINK1', response: expect.stringMatching(/^250 .*queued as SINK1/) });
    expect(s.messages).toHaveLength(1);
    const m = s.messages[0]!;
    expect(m.from).toBe('billing@example.com');
    expect(m.to).toEqual(['alice@example.net', 'bob@example.net', 'carol@example.org', 'audit@example.com']);
    expect(m.user).toBe(login.username);
    expect(m.headers.get('from')).toEqual(['Billing Bot <billing@example.com>']);
    expect(m.headers.get('reply-to')).toEqual(['support@example.com']);
    expect(m.headers.get('to')).toEqual(['alice@example.net, bob@example.net']);
    expect(m.headers.get('cc')).toEqual(['carol@example.org']);
    expect(m.headers.has('bcc')).toBe(false);
    expect(m.raw.toString()).not.toContain('audit@example.com');
    expect(m.headers.get('subject')).toEqual(['Your invoice']);
    expect(m.headers.get('x-request-id')).toEqual(['req-123']);
    expect(m.headers.get('content-type')?.[0]).toMatch(/^multipart\/mixed/);
    expect(m.body).toContain('Content-Type: text/plain');
    expect(m.body).toContain('Plain body');
    expect(m.body).toContain('Content-Type: text/html');
    expect(m.body).toContain('<p>HTML body</p>');
    expect(m.body).toMatch(/Content-Type: application\/pdf; name=invoice\.pdf/);
    expect(m.body).toContain(pdf.toString('base64').trim());
  });

  it('pools: several messages over one connection (maxConnections 1)', async () => {
    const s = await sink();
    const t = transport(s, { pool: { maxConnections: 1, maxMessagesPerConnection: 10 } });
    const results = await Promise.all([1, 2, 3].map((i) => t.send({ ...simple, subject: `n${i}` })));
    expect(results.map((r) => r.messageId).sort()).toEqual(['SINK1', 'SINK2', 'SINK3']);
    expect(s.connections).toBe(1);
  });

  it('large messages arrive whole, composed (many small chunks) and raw, over plain text and TLS', async () => {
    // The data stream is written to a corked socket: it must still flush under backpressure.
    const attachment = Buffer.alloc(600 * 1024, 'abcdefghij');
    const raw = Buffer.from(`From: bot@example.com\r\nTo: alice@example.net\r\nSubject: big\r\n\r\n${'line of text\r\n'.repeat(60_000)}`);
    for (const mode of ['None', 'STARTTLS'] as const) {
      const s = await sink(mode === 'None' ? { mode, auth: undefined, tls: undefined } : {});
      const t = transport(s, mode === 'None' ? { security: 'None', tls: undefined, auth: undefined } : {});
      await t.send({ ...simple, attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', content: attachment }] });
      await t.send({ ...simple, raw });
      expect(s.messages).toHaveLength(2);
      expect(s.messages[0]!.raw.toString('latin1')).toContain(attachment.subarray(0, 57).toString('base64'));
      expect(s.messages[1]!.raw.equals(raw)).toBe(true);
    }
  });

  it('implicit TLS and plain (None) modes deliver too', async () => {
    const tlsSink = await sink({ mode: 'TLS', auth: undefined });
    await transport(tlsSink, { security: 'TLS', auth: undefined }).send(simple);
    const plainSink = await sink({ mode: 'None', auth: undefined, tls: undefined });
    await transport(plainSink, { security: 'None', tls: undefined, auth: undefined }).send(simple);
    expect([tlsSink.messages.length, plainSink.messages.length]).toEqual([1, 1]);
  });

  it('maps the endpoint to nodemailer: requireTLS for STARTTLS, secure for TLS, ignoreTLS for None', () => {
    const base = { host: 'smtp.example.com', port: 587 };
    expect(smtpTransportOptions({ ...base, security: 'STARTTLS' })).toMatchObject({ requireTLS: true, secure: false, ignoreTLS: false });
    expect(smtpTransportOptions({ ...base, security: 'TLS' })).toMatchObject({ requireTLS: false, secure: true, ignoreTLS: false });
    expect(smtpTransportOptions({ ...base, security: 'None' })).toMatchObject({ requireTLS: false, secure: false, ignoreTLS: true });
    const o = smtpTransportOptions({
      ...base,
      security: 'STARTTLS',
      tls: { ca: 'PEM', serverName: 'mx.example.com', minVersion: 'TLSv1.3', insecureSkipVerify: true },
      pool: { maxConnections: 3, maxMessagesPerConnection: 50 },
    });
    expect(o).toMatchObject({ pool: true, maxConnections: 3, maxMessages: 50, servername: 'mx.example.com' });
    expect(o.tls).toEqual({ ca: 'PEM', servername: 'mx.example.com', minVersion: 'TLSv1.3', rejectUnauthorized: false });
  });
});

describe('SmtpTransport: failures', () => {
  it('5xx for the only recipient: permanent UpstreamRejected with the reply', async () => {
    const s = await sink({ rejectRecipients: { 'nobody@example.net': 550 } });
    const err = await sendError(transport(s).send({ ...simple, to: ['nobody@example.net'] }));
    expect(err).toMatchObject({ reason: 'UpstreamRejected', permanent: true, upstreamStatus: 550 });
    expect(err.message).toContain('rejected the message at RCPT TO: "550 Recipient <nobody@example.net> refused by test policy"');
    expect(s.messages).toEqual([]);
  });

  it('5xx after DATA: permanent UpstreamRejected', async () => {
    const s = await sink({ dataReply: 554 });
    const err = await sendError(transport(s).send(simple));
    expect(err).toMatchObject({ reason: 'UpstreamRejected', permanent: true, upstreamStatus: 554 });
    expect(err.message).toContain('at DATA');
  });

  it('4xx for the recipient: not permanent, UpstreamTemporaryFailure', async () => {
    const s = await sink({ rejectRecipients: { 'full@example.net': 452 } });
    const err = await sendError(transport(s).send({ ...simple, to: ['full@example.net'] }));
    expect(err).toMatchObject({ reason: 'UpstreamTemporaryFailure', permanent: false, upstreamStatus: 452 });
    expect(err.message).toContain('try again later');
  });

  it('4xx after DATA: not permanent', async () => {
    const s = await sink({ dataReply: 451 });
    const err = await sendError(transport(s).send(simple));
    expect(err).toMatchObject({ reason: 'UpstreamTemporaryFailure', permanent: false, upstreamStatus: 451 });
  });

  it('one of two recipients refused: the message goes to the other, and send resolves (a retry would duplicate it)', async () => {
    const s = await sink({ rejectRecipients: { 'nobody@example.net': 550 } });
    const r = await transport(s).send({ ...simple, to: ['alice@example.net', 'nobody@example.net'] });
    expect(r.messageId).toBe('SINK1');
    expect(s.messages[0]!.to).toEqual(['alice@example.net']);
  });

  it('server down: not permanent, UpstreamUnavailable', async () => {
    const port = await closedPort();
    const err = await sendError(transport({ port }).send(simple));
    expect(err).toMatchObject({ reason: 'UpstreamUnavailable', permanent: false });
    expect(err.upstreamStatus).toBeUndefined();
    expect(err.message).toMatch(/Could not deliver through 127\.0\.0\.1:\d+ \(ESOCKET\/ECONNREFUSED\)/);
  });

  it('wrong password: not permanent (a fallback may work), UpstreamAuthFailed, no password anywhere', async () => {
    const s = await sink();
    const wrong = { ...login, password: 'Definitely-Wrong-77' };
    const err = await sendError(transport(s, { auth: wrong }).send(simple));
    expect(err).toMatchObject({ reason: 'UpstreamAuthFailed', permanent: false, upstreamStatus: 535 });
    const seen = JSON.stringify({ ...err, message: err.message, stack: err.stack, cause: String(err.cause) });
    expect(seen).not.toContain(wrong.password);
    expect(seen).not.toContain(Buffer.from(wrong.password).toString('base64'));
  });

  it('STARTTLS required, server offers none: fails (never plain text), UpstreamTLSFailed', async () => {
    const s = await sink({ mode: 'None', tls: undefined, auth: undefined });
    const err = await sendError(transport(s, { auth: undefined }).send(simple));
    expect(err).toMatchObject({ reason: 'UpstreamTLSFailed', permanent: false });
    expect(err.message).toMatch(/No secure connection to 127\.0\.0\.1:\d+: "500 .*"; check the SmtpTarget's security and tls settings/);
    expect(s.messages).toEqual([]);
  });

  it('untrusted certificate: UpstreamTLSFailed, nothing delivered', async () => {
    const s = await sink();
    const err = await sendError(transport(s, { tls: {} }).send(simple));
    expect(err).toMatchObject({ reason: 'UpstreamTLSFailed', permanent: false });
    expect(err.message).toContain('(ESOCKET/UNABLE_TO_VERIFY_LEAF_SIGNATURE)');
    expect(s.messages).toEqual([]);
  });

  it('a raw message goes out as its bytes; with 8-bit content to a server without 8BITMIME it is refused, never re-encoded', async () => {
    const s = await sink();
    const raw = Buffer.from('From: bot@example.com\r\nTo: alice@example.net\r\nSubject: raw\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n', 'utf8');
    await transport(s).send({ ...simple, raw });
    expect(s.messages.at(-1)!.raw.equals(raw)).toBe(true);
    const err = await sendError(transport(s, { eightBitMime: false }).send({ ...simple, raw }));
    expect(err).toMatchObject({ reason: 'EightBitMimeUnsupported', permanent: true });
    expect(err.message).toContain('8BITMIME');
    expect(s.messages).toHaveLength(1);
    // 7-bit content goes to such a server as it is.
    const ascii = Buffer.from('From: bot@example.com\r\nTo: alice@example.net\r\nSubject: raw\r\n\r\nplain\r\n');
    await transport(s, { eightBitMime: false }).send({ ...simple, raw: ascii });
    expect(s.messages.at(-1)!.raw.equals(ascii)).toBe(true);
  });

  it('aborted before sending: Aborted, not permanent', async () => {
    const s = await sink();
    const err = await sendError(transport(s).send(simple, AbortSignal.abort()));
    expect(err).toMatchObject({ reason: 'Aborted', permanent: false });
  });

  it('after close(): TransportClosed, and close() is idempotent', async () => {
    const s = await sink();
    const t = transport(s);
    await t.send(simple);
    await Promise.all([t.close(), t.close()]);
    const err = await sendError(t.send(simple));
    expect(err).toMatchObject({ reason: 'TransportClosed', permanent: false });
  });

  it('close() lets messages already handed over finish', async () => {
    const s = await sink();
    const t = transport(s, { pool: { maxConnections: 1, maxMessagesPerConnection: 10 } });
    const sends = [1, 2, 3].map((i) => t.send({ ...simple, subject: `n${i}` }));
    await t.close();
    await expect(Promise.all(sends)).resolves.toHaveLength(3);
    expect(s.messages).toHaveLength(3);
  });
});
