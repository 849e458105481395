// More of what a raw SMTP message becomes (smtp-message.ts), field by field: the
// refusal a smuggling attempt gets (554 naming the line), the envelope fields and
// display names, attachments' file names and the header limits.
import { describe, expect, it } from 'vitest';
import { checkMessage } from '../../../src/endpoint/message.ts';
import { checkHeaderSection, submittedMessage } from '../../../src/endpoint/smtp-message.ts';

const raw = (headers: string[], body = 'hello\r\n') => Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8');

const refusalOf = (bytes: Buffer) => {
  try {
    checkHeaderSection(bytes);
    return 'clean';
  } catch (err) {
    const e = err as { message: string; smtpCode: number; field: string };
    return `${e.smtpCode} ${e.message}`;
  }
};

async function both(bytes: Buffer, rcpt: string[]): Promise<string> {
  const full = await submittedMessage(bytes, rcpt).then(() => 'accepted', (err: Error) => err.message);
  const passed = await submittedMessage(bytes, rcpt, { passThrough: true }).then(() => 'accepted', (err: Error) => err.message);
  expect(passed).toBe(full);
  return full;
}

describe('the header section, byte by byte', () => {
  it('clean lines, continuation lines, an empty line and anything in the body pass', () => {
    expect(refusalOf(Buffer.from('To: a@example.org\r\nSubject: a\r\n b\r\n\tc\r\n\r\nbody\nwith \r bare \x00 bytes'))).toBe('clean');
    expect(refusalOf(Buffer.from('Subject: no end of line'))).toBe('clean');
    expect(refusalOf(Buffer.from(''))).toBe('clean');
  });

  it('names the line with a NUL, a bare LF or a bare CR', () => {
    expect(refusalOf(Buffer.from('To: a@example.org\r\nSubject: a\x00b\r\n\r\n'))).toBe('554 headers: header line 2 contains a NUL byte');
    expect(refusalOf(Buffer.from('To: a@example.org\r\nX-A: 1\r\nSubject: a\nb\r\n\r\n'))).toBe('554 headers: header line 3 contains a bare LF (lines end in CRLF)');
    expect(refusalOf(Buffer.from('Subject: a\rb\r\n\r\n'))).toBe('554 headers: header line 1 contains a bare CR');
    expect(refusalOf(Buffer.from('Subject: a\r'))).toBe('554 headers: header line 1 contains a bare CR');
  });

  it('a first line that continues nothing, or a line that is not "Name: value"', () => {
    expect(refusalOf(Buffer.from(' Subject: a\r\n\r\n'))).toBe('554 headers: the message starts with a continuation line');
    expect(refusalOf(Buffer.from('\tSubject: a\r\n\r\n'))).toBe('554 headers: the message starts with a continuation line');
    expect(refusalOf(Buffer.from('To: a@example.org\r\nno colon here\r\n\r\n'))).toBe('554 headers: header line 2 is not a "Name: value" field');
    expect(refusalOf(Buffer.from('To: a@example.org\r\n: empty name\r\n\r\n'))).toBe('554 headers: header line 2 is not a "Name: value" field');
    expect(refusalOf(Buffer.from('Bad Name: x\r\n\r\n'))).toBe('554 headers: header line 1 is not a "Name: value" field');
    expect(refusalOf(Buffer.from('B\x7fad: x\r\n\r\n'))).toBe('554 headers: header line 1 is not a "Name: value" field');
    expect(refusalOf(Buffer.from('Caf\xe9: x\r\n\r\n', 'latin1'))).toBe('554 headers: header line 1 is not a "Name: value" field');
    expect(refusalOf(Buffer.from('To: a@example.org\r\nlast line without colon'))).toBe('554 headers: header line 2 is not a "Name: value" field');
    // The edges of printable ASCII are fine in a name.
    expect(refusalOf(Buffer.from('!~: x\r\n\r\n'))).toBe('clean');
  });
});

describe('fields a message may carry once', () => {
  it('a second Message-ID (named as headers are written), Reply-To or In-Reply-To is refused, naming it', async () => {
    const rcpt = ['c@example.org'];
    expect(await both(raw(['To: c@example.org', 'Subject: s', 'Message-ID: <a@x>', 'message-id: <b@x>']), rcpt)).toBe(
      'headers: more than one Message-ID header',
    );
    expect(await both(raw(['To: c@example.org', 'Reply-To: a@example.org', 'Reply-To: b@example.org']), rcpt)).toBe('headers: more than one Reply-To header');
    expect(await both(raw(['To: c@example.org', 'In-Reply-To: <a@x>', 'In-Reply-To: <b@x>']), rcpt)).toBe('headers: more than one In-Reply-To header');
    expect(await both(raw(['To: c@example.org', 'To: d@example.org']), rcpt)).toBe('headers: more than one To header');
    // Other fields may repeat.
    expect(await both(raw(['To: c@example.org', 'Subject: s', 'X-Tag: 1', 'X-Tag: 2', 'Comments: a', 'Comments: b']), rcpt)).toBe('accepted');
  });
});

describe('envelope fields', () => {
  it('Reply-To: the first address, its domain in ASCII; a Reply-To group or an empty one gives none', async () => {
    const m = await submittedMessage(raw(['To: c@example.org', 'Subject: s', 'Reply-To: Desk <desk@bücher.example>, other@example.org']), ['c@example.org']);
    expect(m.replyTo).toBe('desk@xn--bcher-kva.example');
    const none = await submittedMessage(raw(['To: c@example.org', 'Subject: s']), ['c@example.org']);
    expect('replyTo' in none).toBe(false);
    expect('cc' in none).toBe(false);
    expect('bcc' in none).toBe(false);
  });

  it('a Reply-To that decodes to a line break is refused as replyTo', async () => {
    const bytes = raw(['To: c@example.org', 'Subject: s', 'Reply-To: =?utf-8?Q?A=0AB?= <r@example.org>']);
    const err = await submittedMessage(bytes, ['c@example.org']).catch((e: unknown) => e as { field: string; message: string });
    expect(err).toMatchObject({ field: 'replyTo', message: 'replyTo: the Reply-To header decodes to a line break or NUL' });
    const cc = await submittedMessage(raw(['To: c@example.org', 'Cc: =?utf-8?Q?A=00B?= <r@example.org>']), ['c@example.org']).catch((e: unknown) => e);
    expect(cc).toMatchObject({ field: 'cc', message: 'cc: the Cc header decodes to a line break or NUL' });
  });

  it('group members are recipients like any; an address given twice is placed once, in To before Cc', async () => {
    const m = await submittedMessage(
      raw(['To: Team: Ann <ann@example.org>, bob@example.org;, ann@example.org', 'Cc: Ann Again <ann@example.org>, carl@example.org', 'Subject: s']),
      ['ann@example.org', 'bob@example.org', 'carl@example.org', 'ANN@example.org'],
    );
    expect(m.to).toEqual(['Ann <ann@example.org>', 'bob@example.org']);
    expect(m.cc).toEqual(['carl@example.org']);
    expect('bcc' in m).toBe(false);
  });

  it('display names: atoms kept bare, others quoted, control characters a space, at most 128 characters', async () => {
    const m = await submittedMessage(
      raw([
        'To: "Ops, Inc." <a@example.org>, "Zoë O\'Neil" <b@example.org>, "  <Spaced>  " <c@example.org>, "' + 'n'.repeat(200) + '" <d@example.org>',
        'Cc: =?utf-8?Q?Tab=09Name?= <e@example.org>',
        'Subject: s',
      ]),
      ['a@example.org', 'b@example.org', 'c@example.org', 'd@example.org', 'e@example.org'],
    );
    expect(m.to).toEqual(['"Ops, Inc." <a@example.org>', "Zoë O'Neil <b@example.org>", 'Spaced <c@example.org>', `${'n'.repeat(128)} <d@example.org>`]);
    expect(m.cc).toEqual(['Tab Name <e@example.org>']);
    expect(() => checkMessage(m)).not.toThrow();
  });
});

describe('attachments', () => {
  const mime = (parts: string[]) =>
    raw(
      ['To: a@example.org', 'Subject: s', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"'],
      `--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n${parts.map((p) => `--b\r\n${p}\r\n`).join('')}--b--\r\n`,
    );

  it('one without a file name is attachment-<n>; a long name is cut to 255 characters', async () => {
    const m = await submittedMessage(
      mime([
        'Content-Type: application/octet-stream\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=',
        `Content-Type: text/plain\r\nContent-Disposition: attachment; filename="${'f'.repeat(300)}.txt"\r\n\r\nx`,
      ]),
      ['a@example.org'],
    );
    expect(m.attachments!.map((a) => a.filename)).toEqual(['attachment-1', 'f'.repeat(255)]);
    expect(m.attachments![0]!.content.toString()).toBe('hello');
    expect(m.attachments![0]!.contentType).toBe('application/octet-stream');
  });

  it('a file name that decodes to a line break is refused, naming the attachment', async () => {
    const name = `=?utf-8?B?${Buffer.from('a\r\nb.txt').toString('base64')}?=`;
    const err = await submittedMessage(
      mime(['Content-Type: text/plain\r\nContent-Disposition: attachment; filename="ok.txt"\r\n\r\nx', `Content-Type: text/plain\r\nContent-Disposition: attachment; filename="${name}"\r\n\r\nx`]),
      ['a@example.org'],
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ field: 'attachments[1].filename', message: 'attachments[1].filename: the file name decodes to a line break or NUL' });
  });
});

describe('header limits', () => {
  it('at most 32 headers are carried; the first wins', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}`);
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s', ...many]), ['a@example.org']);
    expect(Object.keys(m.headers!)).toHaveLength(32);
    expect(m.headers!['X-H0']).toBe('v0');
    expect(m.headers!['X-H31']).toBe('v31');
    expect(m.headers!['X-H32']).toBeUndefined();
  });

  it('a value of exactly 900 characters is carried, one of 901 dropped', async () => {
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `X-A: ${'a'.repeat(900)}`, `X-B: ${'b'.repeat(901)}`]), ['a@example.org']);
    expect(m.headers).toEqual({ 'X-A': 'a'.repeat(900) });
  });

  it('References within the limit is kept whole; over it, the first id and as many of the latest as fit', async () => {
    const short = await submittedMessage(raw(['To: a@example.org', 'Subject: s', 'References: <1@x>   <2@x>']), ['a@example.org']);
    expect(short.headers).toEqual({ References: '<1@x>   <2@x>' });
    const id = (i: number) => `<${String(i).padStart(3, '0')}${'r'.repeat(92)}@x>`; // 99 characters
    const ids = Array.from({ length: 12 }, (_, i) => id(i));
    const long = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `References: ${ids.join(' ')}`]), ['a@example.org']);
    // The first and the 8 latest ids of 99 characters, with their spaces: 899; one more would make 999.
    expect(long.headers!.References).toBe([ids[0], ...ids.slice(4)].join(' '));
    expect(long.headers!.References).toHaveLength(899);
    const single = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `References: <${'z'.repeat(950)}@x>`]), ['a@example.org']);
    expect(single.headers).toBeUndefined();
  });

  it('References of exactly 900 characters is kept whole; two ids over the limit keep the first', async () => {
    const exact = `<${'a'.repeat(445)}@x> <${'b'.repeat(446)}@x>`;
    expect(exact).toHaveLength(900);
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `References: ${exact}`]), ['a@example.org']);
    expect(m.headers).toEqual({ References: exact });
    const two = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `References: <${'c'.repeat(96)}@x> <${'d'.repeat(846)}@x>`]), ['a@example.org']);
    expect(two.headers).toEqual({ References: `<${'c'.repeat(96)}@x>` });
  });

  it('the latest ids that fit exactly make 900 characters', async () => {
    const first = `<${'f'.repeat(96)}@x>`; // 100
    const mid = `<${'m'.repeat(96)}@x>`;
    const last = `<${'l'.repeat(795)}@x>`; // 799: 100 + 1 + 799 = 900
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `References: ${first} ${mid} ${last}`]), ['a@example.org']);
    expect(m.headers).toEqual({ References: `${first} ${last}` });
  });

  it('another header over the limit is dropped, even when it has many words', async () => {
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `X-Words: ${'word '.repeat(300).trim()}`, 'X-Short: a b']), ['a@example.org']);
    expect(m.headers).toEqual({ 'X-Short': 'a b' });
  });

  it('a text-only message has no html, no attachments and no headers', async () => {
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s']), ['a@example.org']);
    expect(m).toStrictEqual({ to: ['a@example.org'], subject: 's', text: 'hello\n' });
  });

  it('runs of control characters in a display name are one space, and the name is trimmed', async () => {
    const m = await submittedMessage(
      raw(['To: =?utf-8?Q?Tab=09=09Name?= <e@example.org>, =?utf-8?Q?=09Lead?= <f@example.org>', 'Subject: s']),
      ['e@example.org', 'f@example.org'],
    );
    expect(m.to).toEqual(['Tab Name <e@example.org>', 'Lead <f@example.org>']);
  });

  it('header names outside the pipeline\'s pattern are dropped', async () => {
    const m = await submittedMessage(raw(['To: a@example.org', 'Subject: s', `X-${'n'.repeat(80)}: long name`, '-X-Dash: v', 'X-Ok: v']), ['a@example.org']);
    expect(m.headers).toEqual({ 'X-Ok': 'v' });
  });
});
