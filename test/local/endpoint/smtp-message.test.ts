// submittedMessage: what a raw SMTP message becomes before the pipeline sees it.
// Every result here also passes the pipeline's own checks (checkMessage), since a
// message the pipeline would refuse for decoration alone is a message lost.
import { describe, expect, it } from 'vitest';
import { checkMessage } from '../../../src/endpoint/message.ts';
import { addressKey } from '../../../src/mail/address.ts';
import { submittedMessage } from '../../../src/endpoint/smtp-message.ts';
import type { SubmittedMessage } from '../../../src/endpoint/types.ts';

const raw = (headers: string[], body = 'hello\r\n') => Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8');

async function convert(headers: string[], rcpt: string[], body?: string): Promise<SubmittedMessage> {
  const m = await submittedMessage(raw(headers, body), rcpt);
  expect(() => checkMessage(m)).not.toThrow();
  // Passed through (SMTP routes), only the header section is read: the same envelope
  // fields, Subject and Message-ID, and no body, which travels as the client's bytes.
  const { text: _text, html: _html, attachments: _attachments, headers: _headers, ...fields } = m;
  const passed = await submittedMessage(raw(headers, body), rcpt, { passThrough: true });
  expect(passed).toEqual(fields);
  expect(() => checkMessage({ ...passed, raw: raw(headers, body) })).not.toThrow();
  return m;
}

/** The refusal, the same whether the body is parsed or passed through. */
async function refusal(message: Buffer, rcpt: string[]): Promise<string> {
  const full = await submittedMessage(message, rcpt).then(() => 'accepted', (err: Error) => err.message);
  const passed = await submittedMessage(message, rcpt, { passThrough: true }).then(() => 'accepted', (err: Error) => err.message);
  expect(passed).toBe(full);
  return full;
}

describe('recipients: the envelope decides', () => {
  it('To/Cc keep header addresses that are envelope recipients; the rest of the envelope is Bcc', async () => {
    const m = await convert(
      ['To: Ann <ann@example.org>, not-in-envelope@example.org', 'Cc: ann@example.org, Bob <BOB@Example.org>', 'Subject: s'],
      ['ann@example.org', 'bob@example.org', 'hidden@example.org'],
    );
    expect(m.to).toEqual(['Ann <ann@example.org>']);
    expect(m.cc).toEqual(['Bob <BOB@example.org>']); // once only, matched case-insensitively
    expect(m.bcc).toEqual(['hidden@example.org']);
  });

  it('undisclosed recipients (an empty group): everyone is Bcc', async () => {
    const m = await convert(['To: undisclosed-recipients:;', 'Subject: s'], ['a@example.org', 'b@example.org']);
    expect(m.to).toEqual([]);
    expect(m.bcc).toEqual(['a@example.org', 'b@example.org']);
  });

  it('an internationalized domain goes out in its ASCII form', async () => {
    const m = await convert(['To: =?utf-8?Q?J=C3=BCrgen?= <j@bücher.example>', 'Subject: s'], ['j@xn--bcher-kva.example']);
    expect(m.to).toEqual(['Jürgen <j@xn--bcher-kva.example>']);
    expect(addressKey('J@Bücher.Example')).toBe('j@xn--bcher-kva.example');
  });

  it('quotes and backslashes in display names are decoration: dropped, the name kept', async () => {
    const m = await convert(['To: "Carol \\"CJ\\" Doe" <c@example.org>', 'Subject: s'], ['c@example.org']);
    expect(m.to).toEqual(['Carol CJ Doe <c@example.org>']);
  });
});

describe('content', () => {
  it('an HTML-only message stays HTML-only; an empty body becomes an empty line', async () => {
    const html = await convert(['To: a@example.org', 'Subject: s', 'Content-Type: text/html; charset=utf-8'], ['a@example.org'], '<p>hi</p>\r\n');
    expect(html.html).toBe('<p>hi</p>\n');
    expect(html.text).toBeUndefined();
    const empty = await convert(['To: a@example.org', 'Subject: s'], ['a@example.org'], '');
    expect(empty.text).toBe('\n');
  });

  it('attachments keep their bytes; awkward file names are tidied', async () => {
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    const body = [
      '--b',
      'Content-Type: text/plain',
      '',
      'see attached',
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="../we\\"ird.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      bytes.toString('base64'),
      '--b--',
      '',
    ].join('\r\n');
    const m = await convert(['To: a@example.org', 'Subject: s', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"'], ['a@example.org'], body);
    expect(m.text).toBe('see attached');
    expect(m.attachments).toHaveLength(1);
    expect(m.attachments![0]!.filename).toBe('.._we_ird.bin');
    expect(m.attachments![0]!.content.equals(bytes)).toBe(true);
  });

  it('a tab or folding in the Subject becomes a space', async () => {
    const m = await convert(['To: a@example.org', 'Subject: one\ttwo', '\tthree'], ['a@example.org']);
    expect(m.subject).toBe('one two three');
  });
});

describe('headers', () => {
  it('allowed headers are carried as written, folding made a space; the rest is dropped', async () => {
    const m = await convert(
      [
        'To: a@example.org',
        'Subject: s',
        'Message-ID: <1@client>',
        'Date: Mon, 1 Jan 2024 00:00:00 +0000',
        'Received: from evil',
        'DKIM-Signature: v=1; a=rsa-sha256',
        'X-SMTPAPI: {"to":["x@evil.test"]}',
        'X-MSYS-API: {"options":{}}',
        'X_Underscore: dropped',
        'X-Folded: part one',
        '\tpart two',
        'X-Encoded: =?utf-8?B?w7xtbGF1dA==?=',
        'X-Folded: second copy is dropped',
        'List-Id: <alerts.example.com>',
        'X-Raw-Utf8: en – dash, ünïcode',
      ],
      ['a@example.org'],
    );
    expect(m.headers).toEqual({
      'X-Folded': 'part one part two',
      'X-Encoded': '=?utf-8?B?w7xtbGF1dA==?=',
      'List-Id': '<alerts.example.com>',
      'X-Raw-Utf8': 'en – dash, ünïcode', // 8-bit header values are UTF-8 (RFC 6532)
    });
  });

  it('raw UTF-8 in the Subject is read as UTF-8; a header whose 8-bit bytes are not UTF-8 is dropped', async () => {
    const head = Buffer.from('To: a@example.org\r\nSubject: Disk – ünïcode\r\nX-Latin1: caf', 'utf8');
    const m = await submittedMessage(Buffer.concat([head, Buffer.from([0xe9]), Buffer.from('\r\n\r\nbody\r\n')]), ['a@example.org']);
    expect(() => checkMessage(m)).not.toThrow();
    expect(m.subject).toBe('Disk – ünïcode');
    expect(m.headers).toBeUndefined();
  });

  it('a References header over the limit keeps its first and latest ids; another long header is dropped', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `<thread-message-${String(i).padStart(2, '0')}@gitlab.example.com>`);
    const m = await convert(['To: a@example.org', 'Subject: s', `References: ${ids.join(' ')}`, `X-Long: ${'y'.repeat(1000)}`], ['a@example.org']);
    const kept = m.headers!.References!.split(' ');
    expect(m.headers!.References!.length).toBeLessThanOrEqual(900);
    expect(kept[0]).toBe(ids[0]);
    expect(kept.at(-1)).toBe(ids.at(-1));
    expect(m.headers!['X-Long']).toBeUndefined();
  });
});

describe('Message-ID: the client\'s is kept', () => {
  it('carries a valid Message-ID as the message id (threading and deduplication of a retried send)', async () => {
    const m = await convert(['To: a@example.org', 'Subject: s', 'Message-ID: <20261201.4711@grafana.example.com>'], ['a@example.org']);
    expect(m.messageId).toBe('<20261201.4711@grafana.example.com>');
    expect(m.headers?.['Message-ID']).toBeUndefined();
  });

  it('drops one that is not a message id, so the pipeline chooses one', async () => {
    const m = await convert(['To: a@example.org', 'Subject: s', 'Message-ID: no brackets here'], ['a@example.org']);
    expect(m.messageId).toBeUndefined();
  });
});

describe('refusals: the same when only the header section is read', () => {
  it('a second From, a Subject or a display name that decodes to a line break', async () => {
    expect(await refusal(raw(['From: a@example.org', 'From: b@example.org', 'To: c@example.org', 'Subject: s'], 'x\r\n'), ['c@example.org'])).toMatch(/more than one From/);
    expect(await refusal(raw(['To: c@example.org', 'Subject: =?utf-8?B?' + Buffer.from('a\r\nBcc: x@example.org').toString('base64') + '?='], 'x\r\n'), ['c@example.org'])).toMatch(
      /Subject header decodes to a line break/,
    );
    expect(await refusal(raw(['To: =?utf-8?Q?A=0D=0AB?= <c@example.org>', 'Subject: s'], 'x\r\n'), ['c@example.org'])).toMatch(/To header decodes to a line break/);
  });

  it('a header section of bare LFs, or a message of headers only', async () => {
    expect(await refusal(Buffer.from('To: c@example.org\nSubject: s\n\nx\n'), ['c@example.org'])).toMatch(/bare LF/);
    expect(await refusal(Buffer.from('To: c@example.org\r\nSubject: only headers'), ['c@example.org'])).toBe('accepted');
  });
});
