// The delivery status notification (RFC 3464) a queued message's bounceTo gets
// when it bounces or expires: multipart/report with a human part, the
// message/delivery-status fields per recipient, and the original header section.
// It goes out as the same identity, through the same server, with
// Auto-Submitted (RFC 3834) so autoresponders leave it alone.
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from './pass-through.ts';
import type { SubmittedMessage } from './types.ts';

export interface FailedDelivery {
  id: string;
  final: 'bounced' | 'expired';
  identityEmail: string;
  messageIdHeader: string;
  recipients: string[];
  acceptedAt: Date;
  lastAttemptAt?: Date;
  attempts: number;
  lastResponse?: string;
  /** The original header section (raw messages), or the fields it was composed from. */
  headers: string;
  /** Where the report comes from, e.g. postmaster.postmaster-system.svc. */
  reportingMta: string;
}

const oneLine = (s: string, max = 900) => s.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/** RFC 3463 status: the one in the upstream's reply when it gave one, else 5.0.0; expiry is 4.4.7. */
export function dsnStatus(f: Pick<FailedDelivery, 'final' | 'lastResponse'>): string {
  if (f.final === 'expired') return '4.4.7';
  return /\b(5\.\d{1,3}\.\d{1,3})\b/.exec(f.lastResponse ?? '')?.[1] ?? '5.0.0';
}

export function deliveryStatusNotification(f: FailedDelivery, bounceTo: string): SubmittedMessage {
  const boundary = `=_postmaster_dsn_${randomBytes(12).toString('hex')}`;
  const status = dsnStatus(f);
  const why =
    f.final === 'expired'
      ? `it could not be delivered before it expired, after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}`
      : 'the upstream refused it for good';
  const human =
    `postmaster could not deliver a message sent as ${f.identityEmail}: ${why}.\r\n\r\n` +
    `Message-ID: ${f.messageIdHeader}\r\nQueued message: ${f.id}\r\nRecipients: ${f.recipients.join(', ')}\r\n` +
    (f.lastResponse ? `Last reply: ${oneLine(f.lastResponse)}\r\n` : '');
  const perMessage = [`Reporting-MTA: dns; ${f.reportingMta}`, `X-Postmaster-Queue-ID: ${f.id}`, `Arrival-Date: ${rfc5322Date(f.acceptedAt)}`];
  const perRecipient = f.recipients.map((r) =>
    [
      `Final-Recipient: rfc822; ${r}`,
      'Action: failed',
      `Status: ${status}`,
      ...(f.lastResponse ? [`Diagnostic-Code: smtp; ${oneLine(f.lastResponse)}`] : []),
      ...(f.lastAttemptAt ? [`Last-Attempt-Date: ${rfc5322Date(f.lastAttemptAt)}`] : []),
    ].join('\r\n'),
  );
  const subject = f.final === 'expired' ? 'Delivery Status Notification (Delay expired)' : 'Delivery Status Notification (Failure)';
  const raw = [
    `To: ${bounceTo}`,
    `Subject: ${subject}`,
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
    [perMessage.join('\r\n'), ...perRecipient].join('\r\n\r\n'),
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    f.headers.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, ''),
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return {
    to: [bounceTo],
    subject,
    text: human,
    headers: { 'Auto-Submitted': 'auto-replied' },
    attachments: [
      { filename: 'delivery-status.txt', contentType: 'message/delivery-status', content: Buffer.from(perRecipient.join('\r\n\r\n')) },
    ],
    raw: Buffer.from(raw),
  };
}

/** The header section a report quotes: the raw message's own, or one written from the fields. */
export function originalHeaders(message: SubmittedMessage, from: string, messageIdHeader: string): string {
  if (message.raw) {
    const text = message.raw.toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    return (end < 0 ? text : text.slice(0, end)).slice(0, 64 * 1024);
  }
  return [
    `From: ${from}`,
    `To: ${message.to.join(', ')}`,
    ...(message.cc?.length ? [`Cc: ${message.cc.join(', ')}`] : []),
    `Subject: ${oneLine(message.subject)}`,
    `Message-ID: ${messageIdHeader}`,
  ].join('\r\n');
}
