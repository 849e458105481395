// The HTTP door's answers exactly as a client reads them (fastify inject, and a
// listening server for fetch): status, headers (Allow, Location, Retry-After,
// WWW-Authenticate, Cache-Control), whole bodies of 200, 202 and the status
// read, and the words of every refusal the door itself makes.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpDoor, DEFAULT_BODY_LIMIT, type HttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline } from '../../../src/endpoint/pipeline.ts';
import type { QueuedJob } from '../../../src/endpoint/queued.ts';
import { validateErrorResponse } from '../../../src/endpoint/schema.ts';
import type { Pipeline } from '../../../src/endpoint/types.ts';
import { memoryStore } from '../../../src/store/store.ts';
import { FakeKube, FakeTransports, identity, PlainDirectory, server, serviceAccount, silentLog, smtpRoute } from '../../support/endpoint-fakes.ts';

const TOKEN = 'token-of-app';
const kube = new FakeKube();
kube.tokens.set(TOKEN, { username: serviceAccount('team', 'app') });
kube.allow(serviceAccount('team', 'app'), 'team', 'alerts');
kube.allow(serviceAccount('team', 'app'), 'team', 'queued');

const directory = new PlainDirectory();
directory.add({ identity: identity('team', 'alerts'), server: server('team', 'relay'), ready: true, primary: smtpRoute() });
directory.add({ identity: identity('team', 'queued'), server: server('team', 'stored', { delivery: { mode: 'Queued' } }), ready: true, primary: smtpRoute() });

// The shared store's queue, held in a Map: what the door stores and what it reads back.
const jobs = new Map<string, QueuedJob>();
const queue = {
  add: async (id: string, data: QueuedJob) => void (jobs.has(id) || jobs.set(id, data)),
  get: async (id: string) => (jobs.has(id) ? { id, phase: 'waiting' as const, data: jobs.get(id)! } : undefined),
  work: () => {},
};
const store = { ...memoryStore(), queue: () => queue as never, status: () => ({ store: 'redis' as const, up: true, appendonly: 'yes' as const, description: 'Redis' }) };
const transports = new FakeTransports();
const pipeline = createPipeline({ client: kube, directory, log: silentLog, createTransport: transports.create, store });
const door = createHttpDoor({ pipeline, log: silentLog });

afterAll(async () => {
  await door.close();
  await pipeline.close();
});
beforeEach(() => {
  transports.sent.length = 0;
});

const body = (sender = 'alerts') => ({ sender, to: ['ann@example.org'], subject: 'hi', text: 'body' });
const inject = (method: string, url: string, opts: { headers?: Record<string, string>; payload?: unknown } = {}, d: HttpDoor = door) =>
  d.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...opts.headers },
    ...(opts.payload !== undefined ? { payload: typeof opts.payload === 'string' ? opts.payload : JSON.stringify(opts.payload) } : {}),
  });
const post = (payload: unknown, headers: Record<string, string> = {}) => inject('POST', '/v1/messages', { payload, headers });

function refused(res: Awaited<ReturnType<typeof inject>>, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  const json = res.json();
  expect(validateErrorResponse(json)).toBe(true);
  expect(json.error.code).toBe(code);
  return json.error as { message: string; field?: string };
}

describe('what a successful request returns', () => {
  it('Direct: 200 with the delivery id, the upstream id and reply, and the Message-ID', async () => {
    const res = await post(body());
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const json = res.json();
    expect(Object.keys(json).sort()).toEqual(['id', 'messageId', 'messageIdHeader', 'provider', 'response', 'route', 'server']);
    expect(json).toMatchObject({ messageId: expect.stringMatching(/^fake-/), server: { namespace: 'team', name: 'relay' }, provider: 'SMTP', route: 'primary', response: '250 2.0.0 Ok' });
    expect(json.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(json.messageIdHeader).toBe(transports.sent[0]!.message.messageId);
  });

  it('Queued: 202 with Location and the status URL; GET on it tells the state', async () => {
    const res = await post(body('queued'));
    expect(res.statusCode, res.body).toBe(202);
    const json = res.json();
    expect(Object.keys(json).sort()).toEqual(['expiresAt', 'id', 'messageIdHeader', 'server', 'state', 'statusUrl']);
    expect(json).toMatchObject({ state: 'queued', server: { namespace: 'team', name: 'stored' }, statusUrl: `/v1/messages/${json.id}` });
    expect(res.headers.location).toBe(`/v1/messages/${json.id}`);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(jobs.has(json.id)).toBe(true);

    const status = await inject('GET', `/v1/messages/${json.id}`);
    expect(status.statusCode, status.body).toBe(200);
    expect(status.headers['cache-control']).toBe('no-store');
    expect(status.json()).toMatchObject({ id: json.id, state: 'queued', identity: { namespace: 'team', name: 'queued' }, messageIdHeader: json.messageIdHeader, attempts: 0 });
  });

  it('a status read needs a token, and an id the caller may read', async () => {
    refused(await inject('GET', '/v1/messages/nope', { headers: { authorization: '' } }), 401, 'POSTMASTER_UNAUTHENTICATED');
    refused(await inject('GET', '/v1/messages/nope'), 404, 'POSTMASTER_MESSAGE_NOT_FOUND');
    // Ids longer than the route's default parameter limit reach the door's own check, naming the field.
    const long = refused(await inject('GET', `/v1/messages/${'a'.repeat(300)}`), 400, 'POSTMASTER_INVALID_REQUEST');
    expect(long.field).toBe('id');
  });

  it('serves its OpenAPI document as JSON', async () => {
    const res = await inject('GET', '/openapi.json');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json().openapi).toBe('3.1.0');
  });
});

describe('methods and routes', () => {
  it('405 with Allow for a known path and a method it does not take, before anything else', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v1/messages', 'POST'],
      ['PUT', '/v1/messages?x=1', 'POST'],
      ['POST', '/openapi.json', 'GET, HEAD'],
      ['DELETE', '/v1/messages/abc', 'GET, HEAD'],
      ['TRACE', '/v1/messages', 'POST'],
    ];
    for (const [method, url, allow] of cases) {
      const res = await inject(method, url, { headers: { authorization: '' } });
      const err = refused(res, 405, 'POSTMASTER_METHOD_NOT_ALLOWED');
      expect(res.headers.allow, `${method} ${url}`).toBe(allow);
      expect(err.message).toBe(`${method} is not allowed on ${url.split('?')[0]}; use ${allow}.`);
    }
  });

  it('HEAD is taken where GET is', async () => {
    expect((await inject('HEAD', '/openapi.json')).statusCode).toBe(200);
  });

  it('TRACE is refused on any path; other unknown routes are 404 saying where messages go', async () => {
    const trace = await inject('TRACE', '/elsewhere');
    expect(refused(trace, 405, 'POSTMASTER_METHOD_NOT_ALLOWED').message).toBe('TRACE is not allowed on /elsewhere; use POST /v1/messages.');
    expect(trace.headers.allow).toBeUndefined();
    expect(refused(await inject('GET', '/v1/messages/'), 400, 'POSTMASTER_INVALID_REQUEST').field).toBe('id');
    for (const url of ['/v1/messages/a/b', '/v1/messagesx', '/']) {
      const res = await inject('GET', url);
      expect(refused(res, 404, 'POSTMASTER_ROUTE_NOT_FOUND').message).toBe(`No route GET ${url}; messages go to POST /v1/messages.`);
      expect(res.headers.allow).toBeUndefined();
    }
  });
});

describe('the bearer token', () => {
  it('is required, and its refusal says how to send one', async () => {
    const res = await inject('POST', '/v1/messages', { headers: { authorization: '' }, payload: body() });
    expect(refused(res, 401, 'POSTMASTER_UNAUTHENTICATED').message).toBe(
      'Authorization: Bearer <ServiceAccount token for audience "postmaster"> is required.',
    );
    expect(res.headers['www-authenticate']).toBe('Bearer realm="postmaster", error="invalid_token"');
  });

  it('must be one token after "Bearer"', async () => {
    for (const authorization of [`Bearer ${TOKEN} x`, `Basic ${TOKEN}`, `Bearer`, ` Bearer ${TOKEN}`, `xBearer ${TOKEN}`]) {
      const res = await post(body(), { authorization });
      expect(refused(res, 401, 'POSTMASTER_UNAUTHENTICATED').message, authorization).toBe('The Authorization header must be "Bearer <ServiceAccount token>".');
    }
  });

  it('takes any case of "Bearer", several spaces and trailing white space', async () => {
    for (const authorization of [`bearer ${TOKEN}`, `Bearer   ${TOKEN}`, `BEARER ${TOKEN}\t`]) {
      expect((await post(body(), { authorization })).statusCode, authorization).toBe(200);
    }
  });
});

describe('the request', () => {
  it('Idempotency-Key: 1 to 255 visible ASCII characters', async () => {
    expect((await post(body(), { 'idempotency-key': 'k'.repeat(255) })).statusCode).toBe(200);
    expect((await post(body(), { 'idempotency-key': '!~' })).statusCode).toBe(200);
    for (const key of ['k'.repeat(256), 'ä', 'a b']) {
      const err = refused(await post(body(), { 'idempotency-key': key }), 400, 'POSTMASTER_INVALID_REQUEST');
      expect(err).toEqual({ code: 'POSTMASTER_INVALID_REQUEST', field: 'Idempotency-Key', message: 'Idempotency-Key: must be 1 to 255 visible ASCII characters' });
    }
  });

  it('an idempotent retry answers the first result, and sends once', async () => {
    const first = await post(body(), { 'idempotency-key': 'retry-1' });
    const second = await post(body(), { 'idempotency-key': 'retry-1' });
    expect(second.json()).toEqual(first.json());
    expect(transports.sent).toHaveLength(1);
  });

  it('body refusals name the body and say what is wrong', async () => {
    expect(refused(await post(''), 400, 'POSTMASTER_INVALID_REQUEST').message).toBe('(body): is empty; send a JSON object');
    expect(refused(await post('{"a":'), 400, 'POSTMASTER_INVALID_REQUEST').message).toBe('(body): is not valid JSON');
    expect(refused(await post('{"__proto__":{"x":1}}'), 400, 'POSTMASTER_INVALID_REQUEST').message).toBe('(body): is not valid JSON');
    const media = await post('hello', { 'content-type': 'text/plain' });
    expect(refused(media, 415, 'POSTMASTER_UNSUPPORTED_MEDIA_TYPE').message).toBe('Content-Type "text/plain" is not supported; send application/json.');
    const utf8 = await door.app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]),
    });
    expect(refused(utf8, 400, 'POSTMASTER_INVALID_REQUEST')).toEqual({ code: 'POSTMASTER_INVALID_REQUEST', field: '(body)', message: '(body): is not valid UTF-8' });
  });

  it('a Content-Length that does not match the body is refused, naming the body', async () => {
    const res = await door.app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': '5' },
      payload: JSON.stringify(body()),
    });
    expect(refused(res, 400, 'POSTMASTER_INVALID_REQUEST')).toEqual({ code: 'POSTMASTER_INVALID_REQUEST', field: '(body)', message: '(body): Content-Length does not match the body' });
  });

  it('413 over the body limit, 25 MiB by default', async () => {
    expect(DEFAULT_BODY_LIMIT).toBe(25 * 1024 * 1024);
    const big = await post({ ...body(), text: 'x'.repeat(DEFAULT_BODY_LIMIT) });
    expect(refused(big, 413, 'POSTMASTER_PAYLOAD_TOO_LARGE').message).toBe('The request body is larger than this endpoint accepts.');
  });
});

describe('failures behind the door', () => {
  const failing = (send: Pipeline['send'], log = silentLog) => createHttpDoor({ pipeline: { ...pipeline, authenticateToken: pipeline.authenticateToken, send }, log });

  it('a bug is 500 with Retry-After, saying nothing of it; the log does', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const d = failing(async () => {
      throw new Error('secret internals');
    }, log);
    try {
      const res = await inject('POST', '/v1/messages', { payload: body() }, d);
      const err = refused(res, 500, 'POSTMASTER_INTERNAL');
      expect(err.message).toBe('Internal error before the message reached the upstream; retry later.');
      expect(res.headers['retry-after']).toBe('30');
      expect(res.body).not.toContain('secret internals');
      expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
        expect.objectContaining({ msg: 'request failed', err: 'secret internals', component: 'http-door' }),
      );
    } finally {
      await d.close();
    }
  });

  it('an error of the catalogue keeps its status, Retry-After and words, and is not logged as a failure', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const { rateLimited } = await import('../../../src/endpoint/errors.ts');
    const d = failing(async () => {
      throw rateLimited('10 messages per minute', 7.2);
    }, log);
    try {
      const res = await inject('POST', '/v1/messages', { payload: body() }, d);
      expect(refused(res, 429, 'POSTMASTER_RATE_LIMITED').message).toBe('Rate limit of 10 messages per minute reached; retry after 8s.');
      expect(res.headers['retry-after']).toBe('8');
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(lines.join('')).not.toContain('request failed');
    } finally {
      await d.close();
    }
  });
});

describe('failures that are not bugs', () => {
  it('an unavailable upstream is 503 with its Retry-After, and not logged as a failed request', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const { upstreamUnavailable } = await import('../../../src/endpoint/errors.ts');
    const d = createHttpDoor({ pipeline: { ...pipeline, authenticateToken: pipeline.authenticateToken, send: async () => { throw upstreamUnavailable('The relay is away.', 12); } }, log });
    try {
      const res = await inject('POST', '/v1/messages', { payload: body() }, d);
      expect(refused(res, 503, 'POSTMASTER_UPSTREAM_UNAVAILABLE').message).toBe('The relay is away.');
      expect(res.headers['retry-after']).toBe('12');
      expect(lines.join('')).not.toContain('request failed');
    } finally {
      await d.close();
    }
  });

  it('a refusal without a wait has no Retry-After, and no WWW-Authenticate unless it is a 401', async () => {
    const res = await post(body(), { 'idempotency-key': 'a b' });
    refused(res, 400, 'POSTMASTER_INVALID_REQUEST');
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.headers['www-authenticate']).toBeUndefined();
    const head = await inject('HEAD', '/v1/messages');
    expect(head.statusCode).toBe(405);
    expect(head.headers.allow).toBe('POST');
  });
});

describe('logging and lifecycle', () => {
  it('at debug, one line per request with method, path without the query, status and time', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const d = createHttpDoor({ pipeline, log });
    try {
      await inject('GET', '/openapi.json?x=1', {}, d);
      const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request');
      expect(line).toMatchObject({ method: 'GET', path: '/openapi.json', status: 200, ms: expect.any(Number), component: 'http-door' });
    } finally {
      await d.close();
    }
  });

  it('at info, no per-request lines', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const d = createHttpDoor({ pipeline, log });
    try {
      await inject('GET', '/openapi.json', {}, d);
      expect(lines).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('listens on the port it reports, and drains: new requests get 503 with Connection: close', async () => {
    const d = createHttpDoor({ pipeline, log: silentLog });
    try {
      const { host, port } = await d.listen(0, '127.0.0.1');
      expect(host).toBe('127.0.0.1');
      const ok = await fetch(`http://127.0.0.1:${port}/openapi.json`);
      expect(ok.status).toBe(200);
      expect(d.draining).toBe(false);
      d.startDraining();
      expect(d.draining).toBe(true);
      const res = await inject('GET', '/openapi.json', {}, d);
      expect(refused(res, 503, 'POSTMASTER_DRAINING').message).toBe('This postmaster replica is shutting down; retry (another replica will answer).');
      expect(res.headers.connection).toBe('close');
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      await d.close();
    }
    expect(d.draining).toBe(true);
  });

  it('a door built now parses JSON only, refuses prototype poisoning, and serves status reads', async () => {
    const d = createHttpDoor({ pipeline, log: silentLog });
    try {
      expect((await inject('POST', '/v1/messages', { payload: 'hello', headers: { 'content-type': 'text/plain' } }, d)).statusCode).toBe(415);
      for (const poisoned of ['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}']) {
        expect(refused(await inject('POST', '/v1/messages', { payload: poisoned }, d), 400, 'POSTMASTER_INVALID_REQUEST').message, poisoned).toBe('(body): is not valid JSON');
      }
      refused(await inject('GET', '/v1/messages/nope', {}, d), 404, 'POSTMASTER_MESSAGE_NOT_FOUND');
      expect((await inject('POST', '/v1/messages', { payload: body() }, d)).statusCode).toBe(200);
    } finally {
      await d.close();
    }
  });

  it('counts what it sends under the http door', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const p = createPipeline({ client: kube, directory, log: silentLog, createTransport: transports.create, metrics: { registry } });
    const d = createHttpDoor({ pipeline: p, log: silentLog });
    try {
      expect((await inject('POST', '/v1/messages', { payload: body() }, d)).statusCode).toBe(200);
      expect(await registry.metrics()).toMatch(/postmaster_endpoint_messages_total\{door="http",[^}]*result="sent"\} 1/);
    } finally {
      await d.close();
      await p.close();
    }
  });

  it('close() drains too', async () => {
    const d = createHttpDoor({ pipeline, log: silentLog });
    await d.close();
    expect(d.draining).toBe(true);
  });
});
