// The HTTP door in-process (fastify inject): request validation, header
// injection in every field, size limits, the one error shape, the OpenAPI
// document and draining. Delivery goes to recording transports here; real
// delivery is tested against the real API server in test/cluster/endpoint.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpDoor } from '../../../src/endpoint/http.ts';
import { DEFAULT_LIMITS } from '../../../src/endpoint/limits.ts';
import { createPipeline } from '../../../src/endpoint/pipeline.ts';
import { sendMessageRequestSchema, validateErrorResponse, validateResponse } from '../../../src/endpoint/schema.ts';
import { FakeKube, FakeTransports, identity, PlainDirectory, server, serviceAccount, silentLog, smtpRoute } from '../../support/endpoint-fakes.ts';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbTphcHAifQ.c2lnbmF0dXJl';
const kube = new FakeKube();
kube.tokens.set(TOKEN, { username: serviceAccount('team', 'app') });
kube.tokens.set('other-audience-token', { username: serviceAccount('team', 'app'), audiences: ['other'] });
kube.allow(serviceAccount('team', 'app'), 'team', 'alerts');

const directory = new PlainDirectory();
directory.add({
  identity: identity('team', 'alerts', { displayName: 'Example Alerts', replyTo: 'help@example.com' }),
  server: server('team', 'relay'),
  ready: true,
  primary: smtpRoute(),
});
const transports = new FakeTransports();
const pipeline = createPipeline({ client: kube, directory, log: silentLog, createTransport: transports.create });
const door = createHttpDoor({ pipeline, log: silentLog, bodyLimit: 2 * 1024 * 1024 });

afterAll(async () => {
  await door.close();
  await pipeline.close();
});

beforeEach(() => {
  transports.sent.length = 0;
});

type Body = Record<string, unknown>;
const valid = (): Body => ({
  sender: 'alerts',
  to: ['Ops Team <ops@example.org>'],
  cc: ['cc@example.org'],
  bcc: ['audit@example.org'],
  subject: 'Disk almost full',
  text: 'The disk is 95% full.',
  html: '<p>The disk is <b>95%</b> full.</p>',
  headers: { 'X-Alert-Id': 'a-123', 'List-Unsubscribe': '<mailto:unsubscribe@example.com>' },
  attachments: [{ filename: 'report.csv', contentType: 'text/csv', content: Buffer.from('host,usage\nweb-1,95\n').toString('base64') }],
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  door.app.inject({
    method: 'POST',
    url: '/v1/messages',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function expectError(res: Awaited<ReturnType<typeof post>>, status: number, code: string, field?: string) {
  const json = res.json();
  expect(res.statusCode, res.body).toBe(status);
  expect(validateErrorResponse(json), JSON.stringify(validateErrorResponse.errors)).toBe(true);
  expect(json.error.code).toBe(code);
  if (field !== undefined) expect(json.error.field).toBe(field);
  expect(res.body).not.toContain(TOKEN);
  expect(transports.sent).toHaveLength(0);
  return json.error as { code: string; message: string; field?: string };
}

describe('POST /v1/messages', () => {
  it('sends a valid message: 200 with the response the document promises', async () => {
    const res = await post(valid());
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(validateResponse(body), JSON.stringify(validateResponse.errors)).toBe(true);
    expect(body).toMatchObject({ messageId: 'fake-1', server: { namespace: 'team', name: 'relay' }, provider: 'SMTP', route: 'primary' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(transports.sent).toHaveLength(1);
    const m = transports.sent[0]!.message;
    expect(m.from).toEqual({ name: 'Example Alerts', address: 'alerts@example.com' });
    expect(m.replyTo).toBe('help@example.com');
    expect(m.to).toEqual(['"Ops Team" <ops@example.org>']);
    expect(m.bcc).toEqual(['audit@example.org']);
    expect(m.attachments?.[0]?.content.toString()).toBe('host,usage\nweb-1,95\n');
    expect(m.headers).toEqual({ 'X-Alert-Id': 'a-123', 'List-Unsubscribe': '<mailto:unsubscribe@example.com>' });
  });

  it('takes the caller\'s replyTo over the identity\'s', async () => {
    const res = await post({ ...valid(), replyTo: 'ticket-42@example.com' });
    expect(res.statusCode).toBe(200);
    expect(transports.sent[0]!.message.replyTo).toBe('ticket-42@example.com');
  });

  it('refuses a caller-supplied From: the identity is the only sender', async () => {
    await expectError(await post({ ...valid(), from: 'ceo@example.com' }), 400, 'POSTMASTER_INVALID_REQUEST', 'from');
  });
});

describe('header injection is refused in every field, naming it', () => {
  const cases: [string, string, (b: Body) => void][] = [
    ['CRLF in subject', 'subject', (b) => (b.subject = 'Hello\r\nBcc: victim@example.net')],
    ['LF in subject', 'subject', (b) => (b.subject = 'Hello\nBcc: victim@example.net')],
    ['CR in subject', 'subject', (b) => (b.subject = 'Hello\rX-Evil: 1')],
    ['NUL in subject', 'subject', (b) => (b.subject = 'Hello\u0000')],
    ['U+2028 in subject', 'subject', (b) => (b.subject = 'Hello\u2028Bcc: x@example.net')],
    ['NEL (U+0085) in subject', 'subject', (b) => (b.subject = 'Hello\u0085Bcc: x@example.net')],
    ['CRLF in a To display name', 'to[0]', (b) => (b.to = ['Ops\r\nBcc: victim@example.net <ops@example.org>'])],
    ['CRLF after a To address', 'to[0]', (b) => (b.to = ['ops@example.org\r\nBcc: victim@example.net'])],
    ['LF in a Cc address', 'cc[1]', (b) => (b.cc = ['ok@example.org', 'c\nc@example.org'])],
    ['CR in a Bcc display name', 'bcc[0]', (b) => (b.bcc = ['"Aud\rit" <audit@example.org>'])],
    ['CRLF in replyTo', 'replyTo', (b) => (b.replyTo = 'help@example.com\r\nBcc: victim@example.net')],
    ['CRLF in a header value', 'headers.X-Alert-Id', (b) => (b.headers = { 'X-Alert-Id': 'a\r\nBcc: victim@example.net' })],
    ['LF in a header value', 'headers.In-Reply-To', (b) => (b.headers = { 'In-Reply-To': '<a@b>\nX-Evil: 1' })],
    ['CRLF in a header name', 'headers."X-A\\r\\nBcc"', (b) => (b.headers = { 'X-A\r\nBcc': 'victim@example.net' })],
    ['CRLF in an attachment filename', 'attachments[0].filename', (b) => (b.attachments = [{ filename: 'a.txt\r\nContent-Type: text/html', content: '' }])],
    ['CRLF in an attachment content type', 'attachments[0].contentType', (b) => (b.attachments = [{ filename: 'a.txt', contentType: 'text/plain\r\nX-Evil: 1', content: '' }])],
  ];
  it.each(cases)('%s → 400 naming %s', async (_name, field, mutate) => {
    const body = valid();
    mutate(body);
    const err = await expectError(await post(body), 400, 'POSTMASTER_INVALID_REQUEST', field);
    expect(err.message).not.toMatch(/[\r\n]/);
  });
});

describe('addresses', () => {
  const bad: [string, string][] = [
    ['no at sign', 'ops.example.org'],
    ['no domain dot', 'ops@localhost'],
    ['two addresses in one entry', 'a@example.org, b@example.org'],
    ['quoted local part', '"a b"@example.org'],
    ['space in local part', 'a b@example.org'],
    ['unclosed angle', 'Ops <ops@example.org'],
    ['angle in display name', 'O<p>s <ops@example.org>'],
    ['non-ASCII address', 'jörg@example.org'],
    ['domain label with underscore', 'ops@ex_ample.org'],
  ];
  it.each(bad)('%s → 400 naming to[0]', async (_name, address) => {
    await expectError(await post({ ...valid(), to: [address] }), 400, 'POSTMASTER_INVALID_REQUEST', 'to[0]');
  });

  it('accepts quoted display names with commas and non-ASCII names', async () => {
    const res = await post({ ...valid(), to: ['"Doe, Jane" <jane@example.org>', 'Jörg Müller <j@example.org>'] });
    expect(res.statusCode, res.body).toBe(200);
    expect(transports.sent[0]!.message.to).toEqual(['"Doe, Jane" <jane@example.org>', '"Jörg Müller" <j@example.org>']);
  });

  it('refuses a display name in replyTo (it must be a bare address)', async () => {
    await expectError(await post({ ...valid(), replyTo: 'Help <help@example.com>' }), 400, 'POSTMASTER_INVALID_REQUEST', 'replyTo');
  });
});

describe('extra headers: an allow-list', () => {
  const refused = ['From', 'Sender', 'Return-Path', 'To', 'Cc', 'Bcc', 'Reply-To', 'Subject', 'Date', 'Message-ID', 'MIME-Version',
    'Content-Type', 'Content-Transfer-Encoding', 'DKIM-Signature', 'Received', 'X-SMTPAPI', 'X-MSYS-API', 'X-SG-EID', 'x-postmaster-route'];
  it.each(refused)('%s → 400', async (name) => {
    await expectError(await post({ ...valid(), headers: { [name]: 'value' } }), 400, 'POSTMASTER_INVALID_REQUEST', `headers.${name}`);
  });

  it('refuses the same header twice in different case', async () => {
    await expectError(await post({ ...valid(), headers: { 'X-Trace': '1', 'x-trace': '2' } }), 400, 'POSTMASTER_INVALID_REQUEST', 'headers.x-trace');
  });

  it('passes threading and list headers', async () => {
    const headers = {
      'In-Reply-To': '<m1@example.com>',
      References: '<m0@example.com> <m1@example.com>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'Auto-Submitted': 'auto-generated',
      Precedence: 'bulk',
      'X-Campaign': 'q3',
    };
    expect((await post({ ...valid(), headers })).statusCode).toBe(200);
    expect(transports.sent[0]!.message.headers).toEqual(headers);
  });
});

describe('request shape', () => {
  const cases: [string, string, (b: Body) => void][] = [
    ['missing sender', 'sender', (b) => delete b.sender],
    ['sender not an object name', 'sender', (b) => (b.sender = 'Alerts!')],
    ['missing to', 'to', (b) => delete b.to],
    ['empty to', 'to', (b) => (b.to = [])],
    ['to not an array', 'to', (b) => (b.to = 'ops@example.org')],
    ['missing subject', 'subject', (b) => delete b.subject],
    ['neither text nor html', 'text', (b) => (delete b.text, delete b.html)],
    ['headers value not a string', 'headers.X-A', (b) => (b.headers = { 'X-A': 1 })],
    ['attachment without content', 'attachments[0].content', (b) => (b.attachments = [{ filename: 'a.txt' }])],
    ['attachment content not base64', 'attachments[0].content', (b) => (b.attachments = [{ filename: 'a.txt', content: 'not base64!' }])],
    ['attachment filename with a path', 'attachments[0].filename', (b) => (b.attachments = [{ filename: '../../etc/passwd', content: '' }])],
    ['attachment content type with parameters', 'attachments[0].contentType', (b) => (b.attachments = [{ filename: 'a', contentType: 'text/plain; charset=x', content: '' }])],
    ['101 To recipients', 'to', (b) => (b.to = Array.from({ length: 101 }, (_, i) => `r${i}@example.org`))],
    ['110 recipients across to, cc and bcc', 'to', (b) => {
      b.to = Array.from({ length: 60 }, (_, i) => `t${i}@example.org`);
      b.cc = Array.from({ length: 50 }, (_, i) => `c${i}@example.org`);
    }],
  ];
  it.each(cases)('%s → 400 naming %s', async (_name, field, mutate) => {
    const body = valid();
    mutate(body);
    await expectError(await post(body), 400, 'POSTMASTER_INVALID_REQUEST', field);
  });

  it('refuses invalid JSON, an empty body and a body that is not an object', async () => {
    await expectError(await post('{"sender":'), 400, 'POSTMASTER_INVALID_REQUEST', '(body)');
    await expectError(await post('[]'), 400, 'POSTMASTER_INVALID_REQUEST', '(body)');
    await expectError(await post(''), 400, 'POSTMASTER_INVALID_REQUEST', '(body)');
  });

  it('refuses an Idempotency-Key with spaces', async () => {
    await expectError(await post(valid(), { 'idempotency-key': 'two words' }), 400, 'POSTMASTER_INVALID_REQUEST', 'Idempotency-Key');
  });

  it('refuses a body that is not JSON with 415', async () => {
    await expectError(await post('hello', { 'content-type': 'text/plain' }), 415, 'POSTMASTER_UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('size limits', () => {
  it('413 for a body over the body limit', async () => {
    const body = { ...valid(), text: 'x'.repeat(2 * 1024 * 1024) };
    await expectError(await post(body), 413, 'POSTMASTER_PAYLOAD_TOO_LARGE');
  });

  it('413 for attachments over the decoded limit, naming attachments', async () => {
    const small = createHttpDoor({ pipeline, log: silentLog, limits: { ...DEFAULT_LIMITS, maxAttachmentBytes: 1000 } });
    try {
      const content = Buffer.alloc(600, 7).toString('base64');
      const res = await small.app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        payload: { ...valid(), attachments: [{ filename: 'a.bin', content }, { filename: 'b.bin', content }] },
      });
      await expectError(res, 413, 'POSTMASTER_PAYLOAD_TOO_LARGE', 'attachments');
    } finally {
      await small.close();
    }
  });

  it('publishes its limits in the schema', () => {
    expect(sendMessageRequestSchema.properties.to.maxItems).toBe(100);
    expect(sendMessageRequestSchema.properties.attachments.maxItems).toBe(DEFAULT_LIMITS.maxAttachments);
  });
});

describe('authentication at the door', () => {
  it('401 without a token, with WWW-Authenticate', async () => {
    const res = await door.app.inject({ method: 'POST', url: '/v1/messages', payload: valid() });
    await expectError(res, 401, 'POSTMASTER_UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="postmaster"/);
  });

  it('401 for a token the API server does not know, or one for another audience', async () => {
    await expectError(await post(valid(), { authorization: 'Bearer not-a-known-token' }), 401, 'POSTMASTER_UNAUTHENTICATED');
    await expectError(await post(valid(), { authorization: 'Bearer other-audience-token' }), 401, 'POSTMASTER_UNAUTHENTICATED');
    await expectError(await post(valid(), { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 401, 'POSTMASTER_UNAUTHENTICATED');
  });

  it('checks the token before the body, so strangers learn nothing from validation', async () => {
    await expectError(await post({ nonsense: true }, { authorization: 'Bearer not-a-known-token' }), 401, 'POSTMASTER_UNAUTHENTICATED');
  });
});

describe('the rest of the door', () => {
  it('serves an OpenAPI 3.1 document with the schemas it validates with', async () => {
    const res = await door.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.paths['/v1/messages'].post.responses).toHaveProperty('429');
    expect(doc.components.schemas.SendMessageRequest.properties.to).toEqual(JSON.parse(JSON.stringify(sendMessageRequestSchema.properties.to)));
    expect(doc.components.securitySchemes.serviceAccountToken.scheme).toBe('bearer');
  });

  it("its request examples are messages the door sends (once the sender names this test's identity)", async () => {
    const doc = (await door.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const examples = Object.values(doc.paths['/v1/messages'].post.requestBody.content['application/json'].examples) as { value: Body }[];
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const { value } of examples) {
      const res = await post({ ...value, sender: 'alerts' });
      expect(res.statusCode, res.body).toBe(200);
    }
    expect(transports.sent).toHaveLength(examples.length);
  });

  it('answers unknown routes in the same error shape', async () => {
    await expectError(await door.app.inject({ method: 'GET', url: '/v2/whatever?x=1' }), 404, 'POSTMASTER_ROUTE_NOT_FOUND');
  });

  it('while draining, refuses new requests with 503, Retry-After and Connection: close', async () => {
    const d = createHttpDoor({ pipeline, log: silentLog });
    try {
      d.startDraining();
      const res = await d.app.inject({
        method: 'POST',
        url: '/v1/messages',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        payload: valid(),
      });
      await expectError(res, 503, 'POSTMASTER_DRAINING');
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers.connection).toBe('close');
    } finally {
      await d.close();
    }
  });
});
