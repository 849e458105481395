// The SMTP transport's one-pass composer (src/providers/smtp/mime.ts) against
// nodemailer's MailComposer, which it stands in for: the same fields composed by
// both, read back by mailparser, must say the same thing header by header and part
// by part, in the same MIME tree. What it does not compose goes to MailComposer.
import { simpleParser, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { describe, expect, it } from 'vitest';
import { composeOptions } from '../../../src/providers/compose.ts';
import { composeMime } from '../../../src/providers/smtp/mime.ts';
import type { OutboundMessage } from '../../../src/providers/types.ts';

const now = new Date('2026-12-01T10:00:00Z');
const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const pdf = Buffer.from('%PDF-1.4\n% a small file\n');

function message(fields: Partial<OutboundMessage>): OutboundMessage {
  return { from: { address: 'ops@example.com' }, to: ['a@example.com'], subject: 'Report', messageId: '<m1@example.com>', ...fields };
}

/** MailComposer's bytes as they reach the server: nodemailer's data stream turns a bare CR or LF into CRLF on the wire. */
async function nodemailerBytes(m: OutboundMessage): Promise<Buffer> {
  const built = await new MailComposer({ ...composeOptions(m), date: now }).compile().build();
  return Buffer.from(built.toString('latin1').replace(/\r(?!\n)|(?<!\r)\n/g, '\r\n'), 'latin1');
}

/** The MIME tree as content types, depth first, from the raw bytes (boundaries differ). */
function structure(raw: Buffer): string[] {
  return [...raw.toString('latin1').matchAll(/^Content-Type:\s*([^;\r\n]+)/gim)].map((m) => m[1]!.toLowerCase());
}

/** What a reader sees: every header but the boundary's, and every part. */
function reading(p: ParsedMail) {
  const headers = Object.fromEntries(
    [...p.headers].filter(([k]) => k !== 'content-type').map(([k, v]) => [k, JSON.stringify(v)]),
  );
  return {
    headers,
    contentType: (p.headers.get('content-type') as { value: string } | undefined)?.value,
    text: p.text,
    html: p.html,
    attachments: p.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      contentDisposition: a.contentDisposition,
      cid: a.cid,
      related: a.related,
      content: a.content.toString('base64'),
    })),
  };
}

async function expectSameAsNodemailer(m: OutboundMessage): Promise<Buffer> {
  const ours = composeMime(m, now);
  expect(ours, 'composed here, not handed to MailComposer').toBeInstanceOf(Buffer);
  const theirs = await nodemailerBytes(m);
  expect(structure(ours!)).toEqual(structure(theirs));
  expect(reading(await simpleParser(ours!))).toEqual(reading(await simpleParser(theirs)));
  // Lines within RFC 5322's limit, CRLF only, and the same bytes every time but for the boundary.
  const text = ours!.toString('latin1');
  expect(text.split('\r\n').every((line) => line.length <= 998 && !line.includes('\n'))).toBe(true);
  return ours!;
}

describe('composeMime', () => {
  it('a short ASCII text goes as 7bit, one part', async () => {
    const raw = await expectSameAsNodemailer(message({ text: 'Hello,\r\nthe report is ready.\r\n' }));
    expect(raw.toString()).toMatch(/^Content-Transfer-Encoding: 7bit$/m);
  });

  it('long lines, UTF-8 and mostly non-Latin text take quoted-printable or base64 as MimeNode chooses', async () => {
    await expectSameAsNodemailer(message({ text: `${'word '.repeat(40)}\r\nend` }));
    const qp = await expectSameAsNodemailer(message({ text: 'Grüße aus Köln, the report is ready.' }));
    expect(qp.toString()).toMatch(/^Content-Transfer-Encoding: quoted-printable$/m);
    const b64 = await expectSameAsNodemailer(message({ text: 'Отчёт готов. 報告は準備ができました。' }));
    expect(b64.toString()).toMatch(/^Content-Transfer-Encoding: base64$/m);
    await expectSameAsNodemailer(message({ text: 'bare\nline\nfeeds\n' }));
  });

  it('text and HTML as multipart/alternative; HTML alone as one part', async () => {
    await expectSameAsNodemailer(message({ text: 'plain', html: '<p>rich</p>' }));
    await expectSameAsNodemailer(message({ html: `<p>${'é'.repeat(100)}</p>` }));
  });

  it('an inline image beside the HTML as multipart/related, inside the alternative, inside mixed with a file', async () => {
    const logo = { filename: 'logo.png', contentType: 'image/png', content: png, contentId: 'logo@example.com', disposition: 'inline' as const };
    const file = { filename: 'report.pdf', contentType: 'application/pdf', content: pdf };
    expect(structure(await expectSameAsNodemailer(message({ html: '<img src="cid:logo@example.com">', attachments: [logo] })))).toEqual([
      'multipart/related',
      'text/html',
      'image/png',
    ]);
    expect(structure(await expectSameAsNodemailer(message({ text: 't', html: '<img src="cid:logo@example.com">', attachments: [logo, file] })))).toEqual([
      'multipart/mixed',
      'multipart/alternative',
      'text/plain',
      'multipart/related',
      'text/html',
      'image/png',
      'application/pdf',
    ]);
    await expectSameAsNodemailer(message({ html: '<img src="cid:logo@example.com">', attachments: [logo, file] }));
    // Without HTML, a part with a Content-ID is an attachment that keeps it.
    await expectSameAsNodemailer(message({ text: 't', attachments: [logo] }));
  });

  it('attachments: one alone, several, a text/* file, names with spaces, quotes and non-ASCII', async () => {
    await expectSameAsNodemailer(message({ attachments: [{ filename: 'report.pdf', contentType: 'application/pdf', content: pdf }] }));
    await expectSameAsNodemailer(
      message({
        text: 'files',
        attachments: [
          { filename: 'Quarterly report "final".pdf', contentType: 'application/pdf', content: pdf },
          { filename: 'Übersicht März.csv', contentType: 'text/csv', content: Buffer.from('a,b\n1,2\n') },
          { filename: '報告.txt', contentType: 'text/plain', content: Buffer.from('x') },
        ],
      }),
    );
  });

  it('display names, UTF-8 subjects, Cc, Reply-To and the headers the HTTP door takes, encoded as nodemailer encodes them', async () => {
    const raw = await expectSameAsNodemailer(
      message({
        from: { name: 'Jörg "Ops" Müller', address: 'ops@example.com' },
        to: ['Ana Lía <ana@example.com>', 'b@example.com', 'José <jose@bücher.example>'],
        cc: ['"Team, Ops" <team@example.com>'],
        replyTo: 'Support <support@example.com>',
        subject: `Grüße – ${'a long subject that has to be folded '.repeat(4)}`,
        text: 'x',
        headers: {
          'In-Reply-To': '<parent@example.com>',
          References: '<root@example.com> <parent@example.com>',
          'List-Unsubscribe': '<mailto:unsubscribe@example.com>, <https://example.com/u?id=1>',
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'x-ticket-id': 'Überprüfung 42',
          'Auto-Submitted': 'auto-generated',
        },
      }),
    );
    expect(raw.toString()).toMatch(/^X-Ticket-ID: /m); // nodemailer's name casing
    expect(raw.toString()).toMatch(/^Message-ID: <m1@example\.com>$/m);
  });

  it('edges of folding and encoding: lines of 76 and 77, long HTML, many recipients, long names, a PDF with a Content-ID', async () => {
    await expectSameAsNodemailer(message({ text: `${'a'.repeat(76)}\r\n${'b'.repeat(76)}` }));
    await expectSameAsNodemailer(message({ text: `${'a'.repeat(77)}\r\nshort` }));
    await expectSameAsNodemailer(message({ html: `<p>${'Überschrift und mehr Text '.repeat(20)}</p>`, text: 'ünïcödé '.repeat(30) }));
    await expectSameAsNodemailer(
      message({
        to: Array.from({ length: 30 }, (_, i) => `Recipient Number ${i} <r${i}@example.com>`),
        subject: 'An ASCII subject that is long enough to be folded somewhere after the seventy-sixth character of its line',
        replyTo: 'Équipe <equipe@example.com>',
        text: 'x',
      }),
    );
    await expectSameAsNodemailer(
      message({
        html: '<p>see the file</p>',
        attachments: [
          { filename: `${'Jahresübersicht '.repeat(8)}.pdf`, contentType: 'application/pdf', content: pdf, contentId: 'doc@example.com' },
          { filename: 'big.bin', contentType: 'application/octet-stream', content: Buffer.alloc(10_000, 7) },
        ],
      }),
    );
  });

  it('addresses of every shape: bare, upper-case and international domains, quoted local parts, names, duplicates', async () => {
    await expectSameAsNodemailer(message({ to: ['a@example.com', 'b.c+tag@mail.example.org', 'a@example.com'], cc: ['d@example.com'], text: 'x' }));
    await expectSameAsNodemailer(message({ to: ['A@Example.COM', 'x@bücher.example', 'y@xn--bcher-kva.example'], text: 'x' }));
    await expectSameAsNodemailer(message({ to: ['"first last"@example.com', 'Name <n@example.com>', 'plain@example.com'], text: 'x' }));
  });

  it('the line-length rule at its edges: CR, LF, CRLF and U+2028 end a line', async () => {
    for (const text of [`${'a'.repeat(76)}\r${'b'.repeat(76)}`, `${'a'.repeat(40)}\u2028${'b'.repeat(40)}`, `${'a'.repeat(40)}\u2028${'b'.repeat(40)}${'c'.repeat(40)}`]) {
      await expectSameAsNodemailer(message({ text }));
    }
  });

  it('leaves to MailComposer what it does not compose', () => {
    expect(composeMime(message({ text: 'x', messageId: undefined }), now)).toBeUndefined();
    expect(composeMime(message({ text: 'x', attachments: [{ filename: 'fwd.eml', contentType: 'message/rfc822', content: Buffer.from('Subject: x\r\n\r\nx') }] }), now)).toBeUndefined();
    // A UTF-8 local part stays UTF-8 in the header: that message needs SMTPUTF8, nodemailer's case.
    expect(composeMime(message({ to: ['jörg@example.com'], smtpUtf8: true, text: 'x' }), now)).toBeUndefined();
    // Neither text, HTML nor a file: MailComposer writes its empty text/plain part its own way.
    expect(composeMime(message({}), now)).toBeUndefined();
  });

  it('gives each message its own boundaries', () => {
    const m = message({ text: 't', html: '<p>h</p>' });
    const boundary = (raw: Buffer) => /boundary="([^"]+)"/.exec(raw.toString())![1];
    expect(boundary(composeMime(m, now)!)).not.toBe(boundary(composeMime(m, now)!));
  });
});
