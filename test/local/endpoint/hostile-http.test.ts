// The HTTP door against hostile clients, one table: invalid UTF-8 and lone
// surrogates, control characters and NUL in every field, forbidden headers in
// any spelling, deep JSON, huge recipient lists, broken HTTP framing, oversized
// lines, slow and too-slow uploads. Real sockets (bytes exactly as written), the
// real pipeline and SMTP transport, a real sink: each case checks the status and
// error code a caller sees (README's error table), what reached the sink, and
// that a normal send works afterwards. (Header injection field by field, sizes
// and stalled requests are also in http.test.ts and http-hardening.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateErrorResponse } from '../../../src/endpoint/schema.ts';
import { rawHttp, type RawHttpOptions, type RawResponse } from '../../support/http-raw.ts';
import { RELAY_TOKEN, startRelayDoors, type RelayDoors } from '../../support/relay-doors.ts';

// Short, so the slow-client cases cost little (they run again for every surviving mutant).
const REQUEST_TIMEOUT_MS = 1000;
let relay: RelayDoors;

beforeAll(async () => {
  relay = await startRelayDoors({ http: { requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: REQUEST_TIMEOUT_MS } });
});
afterAll(async () => {
  await relay?.stop();
});

type Body = Record<string, unknown>;
const valid = (): Body => ({ sender: 'alerts', to: ['Ann <ann@example.org>'], subject: 'hostile', text: 'body' });
const withBody = (change: (b: Body) => void): Body => {
  const b = valid();
  change(b);
  return b;
};

/** POST /v1/messages with these body bytes, over a raw socket. */
function post(body: string | Buffer, opts: { headers?: string[]; chunks?: number } & RawHttpOptions = {}): Promise<RawResponse> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head =
    `POST /v1/messages HTTP/1.1\r\nHost: postmaster\r\nAuthorization: Bearer ${RELAY_TOKEN}\r\n` +
    `${(opts.headers ?? ['Content-Type: application/json']).map((h) => `${h}\r\n`).join('')}Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  const n = opts.chunks ?? 1;
  const size = Math.ceil(bytes.length / n);
  const parts = Array.from({ length: n }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
  return rawHttp(relay.httpPort, [head, ...parts], opts);
}
const json = (b: unknown, opts?: Parameters<typeof post>[1]) => post(JSON.stringify(b), opts);
/** The bytes of `valid()` with `raw` spliced in as the subject's JSON text (quotes included). */
const subjectBytes = (raw: Buffer) => {
  const [before, after] = JSON.stringify({ ...valid(), subject: '@@' }).split('"@@"');
  return Buffer.concat([Buffer.from(before!), raw, Buffer.from(after!)]);
};
const nested = (depth: number, open: string, close: string, inner = '') => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

interface HttpCase {
  name: string;
  send(): Promise<RawResponse>;
  status: number;
  code?: string;
  field?: string;
  /** Messages the sink receives (0 for a refusal). */
  delivered?: number;
}

const invalid = (name: string, field: string, change: (b: Body) => void): HttpCase => ({
  name,
  send: () => json(withBody(change)),
  status: 400,
  code: 'POSTMASTER_INVALID_REQUEST',
  field,
});

const cases: HttpCase[] = [
  // Encodings.
  { name: 'invalid UTF-8 bytes in a string', send: () => post(subjectBytes(Buffer.from([0x22, 0x63, 0x61, 0x66, 0xe9, 0xff, 0x22]))), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: '(body)' },
  { name: 'an overlong UTF-8 encoding of "/"', send: () => post(subjectBytes(Buffer.from([0x22, 0xc0, 0xaf, 0x22]))), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: '(body)' },
  { name: 'a lone surrogate in the subject (\\ud800)', send: () => post(subjectBytes(Buffer.from('"a \\ud800 b"'))), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: 'subject' },
  { name: 'a lone surrogate in an address display name', send: () => post(JSON.stringify(valid()).replace('Ann <', 'Ann \\udc00 <')), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: 'to[0]' },
  // Control characters and NUL, field by field.
  invalid('LF in sender', 'sender', (b) => (b.sender = 'alerts\n')),
  invalid('NUL in sender', 'sender', (b) => (b.sender = 'ale\0rts')),
  invalid('NUL in the subject', 'subject', (b) => (b.subject = 'a\0b')),
  invalid('ESC in a To display name', 'to[0]', (b) => (b.to = ['An\x1bn <ann@example.org>'])),
  invalid('U+2029 in a Cc address', 'cc[0]', (b) => (b.cc = ['cc\u2029@example.org'])),
  invalid('DEL in a Bcc address', 'bcc[0]', (b) => (b.bcc = ['b\x7fcc@example.org'])),
  invalid('TAB in replyTo', 'replyTo', (b) => (b.replyTo = 'help\t@example.com')),
  invalid('NEL (U+0085) in a header value', 'headers.X-Trace', (b) => (b.headers = { 'X-Trace': 'a\u0085Bcc: evil@example.org' })),
  invalid('NUL in a header name', 'headers."X-A\\u0000"', (b) => (b.headers = { 'X-A\0': '1' })),
  invalid('U+2028 in an attachment file name', 'attachments[0].filename', (b) => (b.attachments = [{ filename: 'a\u2028.txt', content: '' }])),
  invalid('CRLF in an attachment contentId', 'attachments[0].contentId', (b) => (b.attachments = [{ filename: 'a.png', content: '', contentId: 'a\r\nb@x' }])),
  invalid('NUL in an attachment contentType', 'attachments[0].contentType', (b) => (b.attachments = [{ filename: 'a', content: '', contentType: 'text/plain\0' }])),
  invalid('an unknown field whose name holds NUL', '\0from', (b) => (b['\0from'] = 'ceo@example.com')),
  {
    name: 'a non-ASCII Idempotency-Key',
    send: () => json(valid(), { headers: ['Content-Type: application/json', `Idempotency-Key: ${Buffer.from('ключ').toString('latin1')}`] }),
    status: 400,
    code: 'POSTMASTER_INVALID_REQUEST',
    field: 'Idempotency-Key',
  },
  // Forbidden headers, in any spelling.
  ...['bcc', 'CONTENT-TYPE', 'Dkim-Signature', 'received', 'x-SmtpApi', 'X-Mailgun-Variables', 'x-postmaster-route', 'Return-path'].map((name) =>
    invalid(`the forbidden header ${name}`, `headers.${name}`, (b) => (b.headers = { [name]: 'value' })),
  ),
  // Deep JSON.
  { name: 'a header value nested 100,000 arrays deep', send: () => post(JSON.stringify(valid()).replace(/}$/, `,"headers":{"X-Deep":${nested(100_000, '[', ']')}}}`)), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: 'headers.X-Deep' },
  { name: 'an unknown field of 100,000 nested objects', send: () => post(JSON.stringify(valid()).replace(/}$/, `,"a":${nested(100_000, '{"a":', '}', '1')}}`)), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: 'a' },
  { name: 'a body of 100,000 nested objects', send: () => post(nested(100_000, '{"a":', '}', '1')), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: 'sender' },
  { name: 'a body of 1,000,000 nested arrays', send: () => post(nested(1_000_000, '[', ']')), status: 400, code: 'POSTMASTER_INVALID_REQUEST', field: '(body)' },
  // A field of 319 spaces: no pattern may read a run of spaces many ways (a display name once could: 66 ms a field).
  {
    name: 'an address of 319 spaces and an x, 100 times',
    async send() {
      const started = Date.now();
      const res = await json(withBody((b) => (b.to = Array.from({ length: 100 }, () => `${' '.repeat(319)}x`))));
      expect(Date.now() - started).toBeLessThan(1000);
      return res;
    },
    status: 400,
    code: 'POSTMASTER_INVALID_REQUEST',
    field: 'to[0]',
  },
  // Huge recipient lists.
  invalid('100,000 recipients in to', 'to', (b) => (b.to = Array.from({ length: 100_000 }, (_, i) => `r${i}@example.org`))),
  invalid('100 in to and 1 in bcc', 'to', (b) => ((b.to = Array.from({ length: 100 }, (_, i) => `r${i}@example.org`)), (b.bcc = ['one-more@example.org']))),
  // Broken framing and oversized lines: Node refuses them before any route; the answer keeps the error shape.
  {
    name: 'Content-Length and Transfer-Encoding together (request smuggling)',
    send: () => json(valid(), { headers: ['Content-Type: application/json', 'Transfer-Encoding: chunked'] }),
    status: 400,
    code: 'POSTMASTER_INVALID_REQUEST',
    field: '(request)',
  },
  {
    name: 'two different Content-Length fields',
    send: () => json(valid(), { headers: ['Content-Type: application/json', 'Content-Length: 3'] }),
    status: 400,
    code: 'POSTMASTER_INVALID_REQUEST',
    field: '(request)',
  },
  {
    name: 'a control character in a request header value',
    send: () => json(valid(), { headers: ['Content-Type: application/json', 'X-Evil: a\x01b'] }),
    status: 400,
    code: 'POSTMASTER_INVALID_REQUEST',
    field: '(request)',
  },
  { name: 'a request line of 100 kB', send: () => rawHttp(relay.httpPort, [`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`]), status: 431, code: 'POSTMASTER_HEADERS_TOO_LARGE' },
  // Slow clients.
  {
    name: 'a body that trickles in (8 pieces, 60 ms apart) within the request timeout: sent',
    send: () => json(valid(), { chunks: 8, gapMs: 60 }),
    status: 200,
    delivered: 1,
  },
  {
    name: 'a body that trickles in past the request timeout: 408, nothing sent',
    send: () => json(valid(), { chunks: 12, gapMs: 250 }),
    status: 408,
    code: 'POSTMASTER_REQUEST_TIMEOUT',
  },
  // Big but allowed: an attachment near the 10 MiB limit (its base64 check once overflowed the regex stack: 500).
  {
    name: 'a 9 MiB attachment',
    send: () => json(withBody((b) => (b.attachments = [{ filename: 'big.bin', content: Buffer.alloc(9 * 1024 * 1024, 0xa5).toString('base64') }]))),
    status: 200,
    delivered: 1,
  },
];

describe('hostile HTTP clients', () => {
  it.each(cases)('$name', async (c) => {
    const before = relay.sink.messages.length;
    const res = await c.send();
    expect(res.status, JSON.stringify(res.body)).toBe(c.status);
    if (c.code) {
      expect(validateErrorResponse(res.body), JSON.stringify(res.body)).toBe(true);
      expect(res.body).toMatchObject({ error: { code: c.code, ...(c.field !== undefined ? { field: c.field } : {}) } });
    }
    // Whatever was sent, the message text never carries a line break (it may be logged or shown).
    if (res.body) expect(JSON.stringify(res.body)).not.toMatch(/\\[rn]/);
    await until(() => relay.sink.messages.length >= before + (c.delivered ?? 0));
    expect(relay.sink.messages.length - before).toBe(c.delivered ?? 0);
    await normalSendWorks();
  });
});

/** The door is still up and delivers. */
async function normalSendWorks(): Promise<void> {
  const before = relay.sink.messages.length;
  const res = await json({ ...valid(), subject: 'still here' });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  await until(() => relay.sink.messages.length === before + 1);
  expect(relay.sink.messages.at(-1)!.headers.get('subject')).toEqual(['still here']);
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
