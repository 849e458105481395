// The SMTP module against a real MTA: Debian's Postfix, started privately on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSmtp, SmtpReason } from '../../../src/providers/smtp/check.ts';
import { SmtpTransport } from '../../../src/providers/smtp/transport.ts';
import { verifySmtpSender } from '../../../src/providers/smtp/verify-sender.ts';
import type { SmtpEndpoint } from '../../../src/providers/types.ts';
import { startPostfix, type Postfix } from '../../support/postfix.ts';
import { handleCounts, settledResources, trackResources } from '../../support/smtp-sockets.ts';
import type { HandleCounts, ResourceTracker } from '../../support/smtp-sockets.ts';

let postfix: Postfix;
let endpoint: SmtpEndpoint;
let baseline: HandleCounts;
let tracker: ResourceTracker;

beforeAll(async () => {
  baseline = handleCounts();
  tracker = trackResources();
  postfix = await startPostfix();
  endpoint = { host: postfix.host, port: postfix.port, security: 'None' };
});
afterAll(async () => {
  await postfix?.stop();
  const left = await settledResources(baseline, tracker);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

describe('against Postfix', () => {
  it('checkSmtp (plain, security None): Connected, Postfix greeting and EHLO keywords', async () => {
    const r = await checkSmtp(endpoint);
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected, transient: false });
    expect(r.facts!.greeting).toBe('mx.postmaster.test ESMTP Postfix (postmaster tests)');
    expect(r.facts!.extensions).toEqual(expect.arrayContaining(['PIPELINING', 'SIZE', '8BITMIME', 'ENHANCEDSTATUSCODES']));
    expect(r.facts!.authMechanisms).toBeUndefined();
  });

  it('checkSmtp with STARTTLS against Postfix without TLS: STARTTLSNotOffered', async () => {
    const r = await checkSmtp({ ...endpoint, security: 'STARTTLS' });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.STARTTLSNotOffered, transient: false });
  });

  it('verifySmtpSender: accepted, then RSET and QUIT, and no mail is queued', async () => {
    const r = await verifySmtpSender(endpoint, 'verify-only@example.com');
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.SenderAccepted });
    expect(r.message).toContain('"250 2.1.0 Ok"');
    // Postfix's own account of the session: one MAIL, one RSET, one QUIT; no RCPT, no DATA.
    await expect.poll(() => postfix.log()).toMatch(/disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rset=1 quit=1 commands=4\n/);
    expect(postfix.log()).not.toContain('from=<verify-only@example.com>');
  });

  it('SmtpTransport: Postfix queues it (queue id as messageId) and delivers it to the mailbox', async () => {
    const transport = new SmtpTransport(endpoint);
    try {
      const result = await transport.send({
        from: { name: 'Postmaster Test', address: 'sender@example.com' },
        to: [`alice@${postfix.domain}`],
        bcc: [`audit@${postfix.domain}`],
        subject: 'Delivered by Postfix',
        text: 'Hello from the SMTP transport.',
      });
      expect(result.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
      expect(result.messageId).toBe(/queued as (\S+)/.exec(result.response!)![1]);
      const message = await postfix.waitForDelivery('Subject: Delivered by Postfix');
      expect(message).toContain('Return-Path: <sender@example.com>');
      expect(message).toContain('From: Postmaster Test <sender@example.com>');
      expect(message).toContain('Hello from the SMTP transport.');
      expect(message).not.toMatch(/^Bcc:/m);
      await expect.poll(() => postfix.log()).toMatch(new RegExp(`${result.messageId}: to=<audit@postmaster\\.test>.*status=sent`));
    } finally {
      await transport.close();
    }
  });

  it('SmtpTransport: an internationalized recipient goes to Postfix with SMTPUTF8, which its EHLO offers, and is delivered', async () => {
    const check = await checkSmtp(endpoint);
    expect(check.facts?.extensions).toContain('SMTPUTF8');
    const transport = new SmtpTransport({ ...endpoint, smtpUtf8: true });
    try {
      const rcpt = `josé@${postfix.domain}`;
      const raw = Buffer.from(`From: sender@example.com\r\nTo: José <${rcpt}>\r\nSubject: SMTPUTF8 via Postfix\r\nMessage-ID: <utf8@example.com>\r\n\r\nOlá\r\n`);
      const result = await transport.send({ from: { address: 'sender@example.com' }, to: [rcpt], smtpUtf8: true, subject: 'SMTPUTF8 via Postfix', raw });
      expect(result.response).toMatch(/^250 2\.0\.0 Ok: queued as/);
      const message = await postfix.waitForDelivery('Subject: SMTPUTF8 via Postfix');
      expect(message).toContain(`To: José <${rcpt}>`);
      // Postfix logs the envelope recipient as received: the UTF-8 local part, not a mangled one.
      await expect.poll(() => postfix.log()).toMatch(new RegExp(`${result.messageId}: to=<josé@postmaster\\.test>.*status=sent`));
    } finally {
      await transport.close();
    }
  });

  it('SmtpTransport: a recipient outside the test domain is refused (5xx, permanent): Postfix relays nothing', async () => {
    const transport = new SmtpTransport(endpoint);
    try {
      const err = await transport.send({ from: { address: 'sender@example.com' }, to: ['someone@example.org'], subject: 'x', text: 'x' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ reason: 'UpstreamRejected', permanent: true, upstreamStatus: 554 });
      expect((err as Error).message).toContain('Relay access denied');
    } finally {
      await transport.close();
    }
  });
});
