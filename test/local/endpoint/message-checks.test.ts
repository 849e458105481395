// The message checks both doors share (checkMessage) and the HTTP body's
// decoding (messageFromBody): the message that goes upstream, field by field,
// and every refusal with the status, field and words a caller reads, at the
// edges of each limit.
import { describe, expect, it } from 'vitest';
import { checkMessage, headerAllowed, messageFromBody } from '../../../src/endpoint/message.ts';
import { DEFAULT_LIMITS, type MessageLimits } from '../../../src/endpoint/limits.ts';
import type { SendMessageBody } from '../../../src/endpoint/schema.ts';
import type { SubmittedMessage } from '../../../src/endpoint/types.ts';

const small: MessageLimits = {
  maxRecipients: 3,
  maxAttachments: 2,
  maxAttachmentBytes: 10,
  maxHeaders: 2,
  maxHeaderValueLength: 5,
  maxSubjectLength: 5,
  maxContentChars: 4,
};
const CONTROLS = 'must not contain control characters (CR, LF, ...)';

const msg = (change: Partial<SubmittedMessage> = {}): SubmittedMessage => ({ to: ['a@example.org'], subject: 'hi', text: 'body', ...change });

/** What a caller is told: status, field and message; undefined when the message passes. */
function refusal(run: () => unknown): { status: number; field?: string; message: string } | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    const err = e as { statusCode: number; field?: string; message: string };
    return { status: err.statusCode, ...(err.field !== undefined ? { field: err.field } : {}), message: err.message };
  }
}
const check = (m: SubmittedMessage, limits: MessageLimits = small) => refusal(() => checkMessage(m, limits));
const bad = (field: string, message: string) => ({ status: 400, field, message: `${field}: ${message}` });
const att = (change: Record<string, unknown> = {}) => ({ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('x'), ...change });

describe('checkMessage: the message that goes upstream', () => {
  it('formats mailboxes and keeps only the fields given', () => {
    expect(checkMessage(msg({ to: ['Ann <ann@example.org>'], cc: [], bcc: [] }))).toEqual({ to: ['"Ann" <ann@example.org>'], subject: 'hi', text: 'body' });
    expect(
      checkMessage({
        to: ['a@example.org'],
        cc: ['"Doe, J" <j@example.org>'],
        bcc: ['b@example.org'],
        replyTo: 'r@example.org',
        subject: 'hi',
        html: '<p>x</p>',
        headers: { 'X-A': '1' },
        attachments: [att({ contentType: 'Text/Plain', contentId: 'c@x', disposition: 'inline' })],
        raw: Buffer.from('raw'),
        received: 'from x by y',
      }),
    ).toEqual({
      to: ['a@example.org'],
      cc: ['"Doe, J" <j@example.org>'],
      bcc: ['b@example.org'],
      replyTo: 'r@example.org',
      subject: 'hi',
      html: '<p>x</p>',
      headers: { 'X-A': '1' },
      attachments: [{ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('x'), contentId: 'c@x', disposition: 'inline' }],
      raw: Buffer.from('raw'),
      received: 'from x by y',
    });
  });

  it('takes Message-ID out of the headers, in any case, trimmed', () => {
    expect(checkMessage(msg({ headers: { 'message-ID': ' <m@example.com> ' } }))).toEqual({ ...msg(), messageId: '<m@example.com>' });
    expect(checkMessage(msg({ headers: { 'Message-ID': '<m@example.com>', 'X-A': 'v' } }))).toEqual({ ...msg(), messageId: '<m@example.com>', headers: { 'X-A': 'v' } });
    expect(checkMessage(msg({ messageId: ' <n@example.com>' }))).toEqual({ ...msg(), messageId: '<n@example.com>' });
    expect(check(msg({ headers: { 'Message-Id': 'nope' } }))).toEqual(bad('headers.Message-Id', 'must be a message id like <unique@example.com>'));
    expect(check(msg({ messageId: 'nope' }))).toEqual(bad('headers.Message-ID', 'must be a message id like <unique@example.com>'));
  });

  it('a passed-through message needs no text or html; received is checked', () => {
    expect(check({ to: ['a@example.org'], subject: 's', raw: Buffer.from('x') })).toBeUndefined();
    expect(check({ to: ['a@example.org'], subject: 's', html: 'h' })).toBeUndefined();
    expect(check({ to: ['a@example.org'], subject: 's' })).toEqual(bad('text', 'text or html is required'));
    expect(check({ to: ['a@example.org'], subject: 's', text: '' })).toEqual(bad('text', 'text or html is required'));
    expect(check(msg({ received: 'a\r\nb' }))).toEqual(bad('received', CONTROLS));
  });
});

describe('checkMessage: refusals at the edges of the limits', () => {
  it('recipients: at least one, at most maxRecipients across to, cc and bcc', () => {
    expect(check(msg({ to: [] }))).toEqual(bad('to', 'needs at least one recipient'));
    expect(check(msg({ to: [], cc: ['c@example.org'] }))).toBeUndefined();
    expect(check(msg({ to: [], bcc: ['c@example.org'] }))).toBeUndefined();
    expect(check(msg({ cc: ['c@example.org'], bcc: ['d@example.org'] }))).toBeUndefined();
    expect(check(msg({ cc: ['c@example.org'], bcc: ['d@example.org', 'e@example.org'] }))).toEqual(
      bad('to', '4 recipients in to, cc and bcc together; at most 3'),
    );
    expect(check(msg({ bcc: ['x'] }))).toMatchObject({ status: 400, field: 'bcc[0]' });
    expect(check(msg({ to: ['a@example.org', 'x'] }))).toMatchObject({ status: 400, field: 'to[1]' });
    expect(check(msg({ cc: ['c@example.org', 'x'] }))).toMatchObject({ status: 400, field: 'cc[1]' });
    expect(check(msg({ replyTo: 'Name <r@example.org>' }))).toMatchObject({ status: 400, field: 'replyTo' });
  });

  it('subject: no control characters, at most maxSubjectLength', () => {
    expect(check(msg({ subject: '12345' }))).toBeUndefined();
    expect(check(msg({ subject: '123456' }))).toEqual(bad('subject', 'is longer than 5 characters'));
    expect(check(msg({ subject: 'a\nb' }))).toEqual(bad('subject', CONTROLS));
  });

  it('text and html: at most maxContentChars each, else 413 naming the part', () => {
    expect(check(msg({ text: '1234', html: '1234' }))).toBeUndefined();
    expect(check(msg({ text: '12345' }))).toEqual({ status: 413, field: 'text', message: 'text is longer than 4 characters.' });
    expect(check(msg({ html: '12345' }))).toEqual({ status: 413, field: 'html', message: 'html is longer than 4 characters.' });
  });

  it('headers: allowed names once each, string values without control characters, within the limits', () => {
    expect(check(msg({ headers: { 'X-A': '12345', 'List-Id': 'l' } }))).toBeUndefined();
    expect(check(msg({ headers: { 'X-A': '1', 'X-B': '2', 'X-C': '3' } }))).toEqual(bad('headers', 'has more than 2 entries'));
    expect(check(msg({ headers: { 'X-A': '123456' } }))).toEqual(bad('headers.X-A', 'is longer than 5 characters'));
    expect(check(msg({ headers: { 'X-A': 'a\rb' } }))).toEqual(bad('headers.X-A', CONTROLS));
    expect(check(msg({ headers: { 'X-A': 1 as unknown as string } }))).toEqual(bad('headers.X-A', 'must be a string'));
    expect(check(msg({ headers: { 'X-A': '1', 'x-a': '2' } }))).toEqual(bad('headers.x-a', 'is given twice'));
    expect(check(msg({ headers: { 'X A': '1' } }))).toEqual(bad('headers.X A', 'is not a header name (letters, digits and "-")'));
    expect(check(msg({ headers: { '-X': '1' } }))).toMatchObject({ field: 'headers.-X' });
    expect(check(msg({ headers: { 'X-A\n': '1' } }))).toEqual(bad('headers."X-A\\n"', 'is not a header name (letters, digits and "-")'));
    expect(check(msg({ headers: { [`X-${'a'.repeat(74)}`]: '1' } }))).toBeUndefined();
    expect(check(msg({ headers: { [`X-${'a'.repeat(75)}`]: '1' } }))).toMatchObject({ status: 400 });
    expect(check(msg({ headers: { Subject: '1' } }))).toEqual(
      bad('headers.Subject', 'is not an allowed header: X-* (not relay instructions), List-*, Message-ID, In-Reply-To, References, Auto-Submitted, Precedence'),
    );
  });

  it('attachments: at most maxAttachments and maxAttachmentBytes decoded, with safe names, types and ids', () => {
    const tenBytes = Buffer.alloc(10);
    expect(check(msg({ attachments: [att({ content: tenBytes.subarray(0, 4) }), att({ content: tenBytes.subarray(0, 6) })] }))).toBeUndefined();
    expect(check(msg({ attachments: [att({ content: tenBytes.subarray(0, 5) }), att({ content: tenBytes.subarray(0, 6) })] }))).toEqual({
      status: 413,
      field: 'attachments',
      message: 'Attachments exceed 10 bytes in all (decoded).',
    });
    expect(check(msg({ attachments: [att(), att(), att()] }))).toEqual(bad('attachments', 'has more than 2 entries'));
    const name = 'must be a file name of 1 to 255 characters without /, \\ or "';
    for (const filename of ['', '.', '..', 'a/b', 'a\\b', 'a"b', 'f'.repeat(256)]) {
      expect(check(msg({ attachments: [att({ filename })] })), filename).toEqual(bad('attachments[0].filename', name));
    }
    expect(check(msg({ attachments: [att({ filename: 'f'.repeat(255) }), att({ filename: '...' })] }))).toBeUndefined();
    expect(check(msg({ attachments: [att(), att({ filename: 'a\tb' })] }))).toEqual(bad('attachments[1].filename', CONTROLS));
    expect(check(msg({ attachments: [att({ contentType: 'text/plain; charset=x' })] }))).toEqual(
      bad('attachments[0].contentType', 'must be a MIME type like application/pdf (no parameters)'),
    );
    expect(check(msg({ attachments: [att({ contentId: '<a@b>' })] }))).toEqual(
      bad('attachments[0].contentId', 'must be an id like logo@example.com (no angle brackets, no spaces)'),
    );
    expect(check(msg({ attachments: [att({ contentId: 'c'.repeat(201) })] }))).toMatchObject({ field: 'attachments[0].contentId' });
    expect(check(msg({ attachments: [att({ disposition: 'inline' })] }))).toEqual(bad('attachments[0].contentId', 'is required when disposition is inline'));
    expect(checkMessage(msg({ attachments: [att({ disposition: 'attachment' })] })).attachments?.[0]?.disposition).toBe('attachment');
    expect(checkMessage(msg({ attachments: [att({ disposition: 'other' })] })).attachments?.[0]).not.toHaveProperty('disposition');
    expect(checkMessage(msg({ attachments: [] }))).not.toHaveProperty('attachments');
  });

  it('uses the default limits when given none', () => {
    expect(refusal(() => checkMessage(msg({ subject: 's'.repeat(998) })))).toBeUndefined();
    expect(refusal(() => checkMessage(msg({ subject: 's'.repeat(999) })))).toEqual(bad('subject', 'is longer than 998 characters'));
  });
});

describe('headerAllowed', () => {
  it('X-* except relay instructions, and the listed names, in any case', () => {
    for (const name of ['X-Trace', 'x-smtpapix', 'X-SGX', 'LIST-ID', 'in-reply-to', 'Precedence']) expect(headerAllowed(name), name).toBe(true);
    for (const name of ['X-SMTPAPI', 'x-msys-api', 'X-SG-EID', 'X-SES-A', 'X-Mailgun-Tag', 'X-PM-Tag', 'X-Postmaster-Route', 'From', 'Xtra', 'Reply-To']) {
      expect(headerAllowed(name), name).toBe(false);
    }
  });
});

describe('messageFromBody', () => {
  const body = (change: Partial<SendMessageBody> = {}): SendMessageBody => ({ sender: 's', to: ['a@example.org'], subject: 'hi', text: 'body', ...change });

  it('decodes attachments, defaults their type, keeps id and disposition', () => {
    const m = messageFromBody(
      body({
        cc: ['c@example.org'],
        bcc: ['b@example.org'],
        replyTo: 'r@example.org',
        html: '<p>h</p>',
        headers: { 'X-A': '1' },
        attachments: [
          { filename: 'a.bin', content: Buffer.from('hello').toString('base64') },
          { filename: 'logo.png', contentType: 'image/png', content: 'AA==', contentId: 'logo@x', disposition: 'inline' },
        ],
      }),
    );
    expect(m).toEqual({
      to: ['a@example.org'],
      cc: ['c@example.org'],
      bcc: ['b@example.org'],
      replyTo: 'r@example.org',
      subject: 'hi',
      text: 'body',
      html: '<p>h</p>',
      headers: { 'X-A': '1' },
      attachments: [
        { filename: 'a.bin', contentType: 'application/octet-stream', content: Buffer.from('hello') },
        { filename: 'logo.png', contentType: 'image/png', content: Buffer.from([0]), contentId: 'logo@x', disposition: 'inline' },
      ],
    });
    expect(messageFromBody(body())).toEqual({ to: ['a@example.org'], subject: 'hi', text: 'body' });
  });

  it('refuses content that is not base64, naming the attachment', () => {
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: 'AA==' }, { filename: 'b', content: 'A' }] })))).toEqual(
      bad('attachments[1].content', 'is not base64 (RFC 4648, padded, no line breaks)'),
    );
  });

  it('refuses oversized attachments from their base64 length, before decoding', () => {
    const limits = { ...DEFAULT_LIMITS, maxAttachmentBytes: 10 };
    // 16 base64 characters are 12 bytes at most: within the estimate's slack of 2 per attachment, then refused on decoding.
    const over = { status: 413, field: 'attachments', message: 'Attachments exceed 10 bytes in all (decoded).' };
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: 'A'.repeat(16) }] }), limits))).toEqual(over);
    // 20 characters, 15 bytes: over the estimate; not base64 either, which is not looked at.
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: '!'.repeat(20) }] }), limits))).toEqual(over);
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: '!'.repeat(16) }] }), limits))).toMatchObject({ status: 400 });
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: '!'.repeat(16) }, { filename: 'b', content: '' }] }), limits))).toMatchObject({ status: 400 });
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: '!'.repeat(17) }] }), limits))).toMatchObject({ status: 400 });
    expect(refusal(() => messageFromBody(body({ attachments: [{ filename: 'a', content: '!'.repeat(18) }] }), limits))).toEqual(over);
  });
});
