// The report a queued message's bounceTo receives when it bounces or expires,
// as a mailbox shows it: subject, the human part, the delivery-status fields
// per recipient (RFC 3464), the quoted header section, Auto-Submitted.
import { describe, expect, it } from 'vitest';
import { deliveryStatusNotification, dsnStatus, originalHeaders, type FailedDelivery } from '../../../src/endpoint/dsn.ts';

const failure = (over: Partial<FailedDelivery> = {}): FailedDelivery => ({
  id: 'q-42',
  final: 'bounced',
  identityEmail: 'alerts@example.com',
  messageIdHeader: '<m1@example.com>',
  recipients: ['a@example.org', 'b@example.org'],
  acceptedAt: new Date('2026-01-01T10:00:00Z'),
  lastAttemptAt: new Date('2026-01-01T11:00:00Z'),
  attempts: 3,
  lastResponse: '550 5.1.1 <a@example.org>: user unknown\r\nsecond line',
  headers: 'From: alerts@example.com\nSubject: hi\n\n',
  reportingMta: 'postmaster.postmaster-system.svc',
  ...over,
});

describe('the delivery status notification', () => {
  it('a bounce: Failure, the upstream status, its reply on one line, each recipient, the original headers', () => {
    const n = deliveryStatusNotification(failure(), 'ops@example.com');
    const raw = n.raw!.toString();
    expect(n.to).toEqual(['ops@example.com']);
    expect(n.subject).toBe('Delivery Status Notification (Failure)');
    expect(n.headers).toEqual({ 'Auto-Submitted': 'auto-replied' });
    expect(n.text).toBe(
      'postmaster could not deliver a message sent as alerts@example.com: the upstream refused it for good.\r\n\r\n' +
        'Message-ID: <m1@example.com>\r\nQueued message: q-42\r\nRecipients: a@example.org, b@example.org\r\n' +
        'Last reply: 550 5.1.1 <a@example.org>: user unknown second line\r\n',
    );
    const boundary = /boundary="([^"]+)"/.exec(raw)![1]!;
    expect(boundary).toMatch(/^=_postmaster_dsn_[0-9a-f]{24}$/);
    expect(raw.startsWith('To: ops@example.com\r\nSubject: Delivery Status Notification (Failure)\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n')).toBe(true);
    expect(raw).toContain(`Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"\r\n\r\n--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n`);
    expect(raw).toContain(
      'Content-Type: message/delivery-status\r\n\r\n' +
        'Reporting-MTA: dns; postmaster.postmaster-system.svc\r\nX-Postmaster-Queue-ID: q-42\r\nArrival-Date: Thu, 01 Jan 2026 10:00:00 +0000\r\n\r\n' +
        'Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n' +
        'Diagnostic-Code: smtp; 550 5.1.1 <a@example.org>: user unknown second line\r\nLast-Attempt-Date: Thu, 01 Jan 2026 11:00:00 +0000\r\n\r\n' +
        'Final-Recipient: rfc822; b@example.org\r\n',
    );
    expect(raw).toContain(`Content-Type: text/rfc822-headers\r\n\r\nFrom: alerts@example.com\r\nSubject: hi\r\n\r\n--${boundary}--\r\n`);
    expect(raw.endsWith(`--${boundary}--\r\n`)).toBe(true);
    expect(n.attachments).toEqual([
      { filename: 'delivery-status.txt', contentType: 'message/delivery-status', content: expect.any(Buffer) },
    ]);
    expect(n.attachments![0]!.content.toString()).toMatch(/^Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5\.1\.1\r\n/);
  });

  it('an expiry: Delay expired, 4.4.7, the number of attempts; no reply or last attempt when there was none', () => {
    const n = deliveryStatusNotification(failure({ final: 'expired', attempts: 1, lastResponse: undefined, lastAttemptAt: undefined }), 'ops@example.com');
    const raw = n.raw!.toString();
    expect(n.subject).toBe('Delivery Status Notification (Delay expired)');
    expect(n.text).toMatch(/: it could not be delivered before it expired, after 1 attempt\.\r\n/);
    expect(n.text).not.toContain('Last reply');
    expect(raw).toContain('Status: 4.4.7');
    expect(raw).not.toContain('Diagnostic-Code');
    expect(raw).not.toContain('Last-Attempt-Date');
    expect(deliveryStatusNotification(failure({ final: 'expired', attempts: 5 }), 'x@example.com').text).toContain('after 5 attempts.');
  });

  it('the status: the one in the reply, else 5.0.0; expiry is always 4.4.7', () => {
    expect(dsnStatus({ final: 'bounced', lastResponse: '554 5.7.1 rejected by policy' })).toBe('5.7.1');
    expect(dsnStatus({ final: 'bounced', lastResponse: '550 mailbox unavailable' })).toBe('5.0.0');
    expect(dsnStatus({ final: 'bounced' })).toBe('5.0.0');
    expect(dsnStatus({ final: 'expired', lastResponse: '451 4.3.0 try later' })).toBe('4.4.7');
  });

  it('a reply with control or non-ASCII characters is quoted as printable ASCII, at most 900 characters', () => {
    const n = deliveryStatusNotification(failure({ lastResponse: `550 5.0.0 caf\u00e9\tnope ${'x'.repeat(2000)}` }), 'ops@example.com');
    const line = /Last reply: (.*)\r\n/.exec(n.text!)![1]!;
    expect(line.startsWith('550 5.0.0 caf? nope x')).toBe(true);
    expect(line).toHaveLength(900);
  });
});

describe('the quoted header section', () => {
  it('a raw message: its own header section, up to the blank line', () => {
    const raw = Buffer.from('From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n');
    expect(originalHeaders({ to: ['x@example.org'], subject: 's', raw } as never, 'ignored', '<id>')).toBe('From: a@example.com\r\nSubject: s');
    expect(originalHeaders({ to: ['x@example.org'], subject: 's', raw: Buffer.from('From: a@example.com') } as never, 'ignored', '<id>')).toBe('From: a@example.com');
  });

  it('a composed message: the fields it was composed from', () => {
    expect(originalHeaders({ to: ['x@example.org', 'y@example.org'], cc: ['c@example.org'], subject: 'Hello\r\nthere' } as never, 'Alerts <alerts@example.com>', '<m1@example.com>')).toBe(
      'From: Alerts <alerts@example.com>\r\nTo: x@example.org, y@example.org\r\nCc: c@example.org\r\nSubject: Hello there\r\nMessage-ID: <m1@example.com>',
    );
    expect(originalHeaders({ to: ['x@example.org'], cc: [], subject: 's' } as never, 'a@example.com', '<m>')).not.toContain('Cc:');
  });
});

describe('the whole report', () => {
  it('an expiry before any attempt, byte for byte: no reply, no attempt date, one recipient', () => {
    const n = deliveryStatusNotification(
      failure({ final: 'expired', attempts: 0, lastResponse: undefined, lastAttemptAt: undefined, recipients: ['a@example.org'], headers: 'Subject: hi\r\n' }),
      'ops@example.com',
    );
    const boundary = /boundary="([^"]+)"/.exec(n.raw!.toString())![1]!;
    const human =
      'postmaster could not deliver a message sent as alerts@example.com: it could not be delivered before it expired, after 0 attempts.\r\n\r\n' +
      'Message-ID: <m1@example.com>\r\nQueued message: q-42\r\nRecipients: a@example.org\r\n';
    expect(n.text).toBe(human);
    const status = 'Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 4.4.7';
    expect(n.raw!.toString()).toBe(
      [
        'To: ops@example.com',
        'Subject: Delivery Status Notification (Delay expired)',
        'MIME-Version: 1.0',
        'Auto-Submitted: auto-replied',
        `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
        '',
        `--${boundary}`,
        'Content-Type: text/plain; charset=us-ascii',
        '',
        human,
        `--${boundary}`,
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; postmaster.postmaster-system.svc\r\nX-Postmaster-Queue-ID: q-42\r\nArrival-Date: Thu, 01 Jan 2026 10:00:00 +0000',
        '',
        status,
        '',
        `--${boundary}`,
        'Content-Type: text/rfc822-headers',
        '',
        'Subject: hi',
        '',
        `--${boundary}--`,
        '',
      ].join('\r\n'),
    );
    expect(n.attachments![0]!.content.toString()).toBe(status);
  });

  it('two recipients: their blocks apart by an empty line, in the attachment too', () => {
    const n = deliveryStatusNotification(failure({ lastResponse: '550 5.1.1 no', lastAttemptAt: undefined }), 'ops@example.com');
    expect(n.attachments![0]!.content.toString()).toBe(
      'Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no\r\n\r\n' +
        'Final-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no',
    );
  });

  it('statuses with two- and three-digit parts (RFC 3463), and none in a 4xx reply', () => {
    expect(dsnStatus({ final: 'bounced', lastResponse: '550 5.7.26 unauthenticated mail' })).toBe('5.7.26');
    expect(dsnStatus({ final: 'bounced', lastResponse: '550 5.10.1 x' })).toBe('5.10.1');
    expect(dsnStatus({ final: 'bounced', lastResponse: '554 5.100.100 x' })).toBe('5.100.100');
    expect(dsnStatus({ final: 'bounced', lastResponse: '451 4.7.1 later' })).toBe('5.0.0');
  });
});

describe('the quoted header section, edge cases', () => {
  const q = (raw: string) => originalHeaders({ to: ['x@example.org'], subject: 's', raw: Buffer.from(raw, 'latin1') } as never, 'ignored', '<id>');

  it('ends at the first empty line, whatever the line ends; an empty header section quotes nothing', () => {
    expect(q('A: 1\nB: 2\n\nbody')).toBe('A: 1\nB: 2');
    expect(q('A: 1\r\n\nbody')).toBe('A: 1');
    expect(q('A: 1\n\r\nbody')).toBe('A: 1');
    expect(q('\r\n\r\nbody')).toBe('');
  });

  it('at most 64 KiB of it', () => {
    expect(q(`X: ${'a'.repeat(70_000)}\r\n\r\nbody`)).toHaveLength(64 * 1024);
    expect(q(`X: ${'a'.repeat(70_000)}`)).toHaveLength(64 * 1024);
  });

  it('a composed message without Cc, or with two', () => {
    expect(originalHeaders({ to: ['x@example.org'], subject: 's' } as never, 'a@example.com', '<m>')).toBe('From: a@example.com\r\nTo: x@example.org\r\nSubject: s\r\nMessage-ID: <m>');
    expect(originalHeaders({ to: ['x@example.org'], cc: ['c@example.org', 'd@example.org'], subject: 's' } as never, 'a@example.com', '<m>')).toBe(
      'From: a@example.com\r\nTo: x@example.org\r\nCc: c@example.org, d@example.org\r\nSubject: s\r\nMessage-ID: <m>',
    );
  });
});
