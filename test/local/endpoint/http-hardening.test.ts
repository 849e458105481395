// The HTTP door against clients that misbehave, over real sockets: stalled
// uploads and headers get 408 and are closed, oversized headers 431, a body
// declared too large 413 before it is sent, unknown methods 405, garbage 400,
// always in the documented { error: { code, message } } shape; and the
// connection cap holds.
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateErrorResponse } from '../../../src/endpoint/schema.ts';
import { createHttpDoor, type HttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline } from '../../../src/endpoint/pipeline.ts';
import { rawHttp, type RawResponse } from '../../support/http-raw.ts';
import { FakeKube, FakeTransports, identity, PlainDirectory, server, serviceAccount, silentLog, smtpRoute } from '../../support/endpoint-fakes.ts';

const TOKEN = 'token-of-app';
let door: HttpDoor;
let port: number;
const sockets: net.Socket[] = [];

beforeEach(async () => {
  const kube = new FakeKube();
  kube.tokens.set(TOKEN, { username: serviceAccount('team', 'app') });
  kube.allow(serviceAccount('team', 'app'), 'team', 'alerts');
  const directory = new PlainDirectory();
  directory.add({ identity: identity('team', 'alerts'), server: server('team', 'relay'), ready: true, primary: smtpRoute() });
  const pipeline = createPipeline({ client: kube, directory, log: silentLog, createTransport: new FakeTransports().create });
  door = createHttpDoor({ pipeline, log: silentLog, server: { requestTimeoutMs: 500, headersTimeoutMs: 500, maxConnections: 3 } });
  port = (await door.listen(0, '127.0.0.1')).port;
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await door.close();
});

/** Writes `chunks` (then nothing more) and reads until the server closes. */
const raw = (chunks: string[]) => rawHttp(port, chunks);

const errorCode = (r: RawResponse) => (r.body as { error: { code: string } }).error.code;

describe('slow and stalled clients', () => {
  it('a stalled upload gets 408 in the error shape and the connection is closed', async () => {
    const started = Date.now();
    const r = await raw([
      `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"sender":`,
    ]);
    expect(r.status).toBe(408);
    expect(validateErrorResponse(r.body)).toBe(true);
    expect(errorCode(r)).toBe('POSTMASTER_REQUEST_TIMEOUT');
    // rawHttp resolves only once the server closed the connection.
    // Bounded by the configured 0.5 s (checked as often), not held for minutes.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('headers that never finish get 408 too', async () => {
    const r = await raw(['POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ']);
    expect(r.status).toBe(408);
    expect(errorCode(r)).toBe('POSTMASTER_REQUEST_TIMEOUT');
  });
});

describe('refused before the body is read', () => {
  it('a Content-Length over the body limit gets 413 at once, without the body being sent', async () => {
    const r = await raw([`POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\n`]);
    expect(r.status).toBe(413);
    expect(errorCode(r)).toBe('POSTMASTER_PAYLOAD_TOO_LARGE');
  });

  it('a text longer than the content limit is 413 naming text, not a malformed request', async () => {
    const res = await door.app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ sender: 'alerts', to: ['a@example.org'], subject: 's', text: 'x'.repeat(5 * 1024 * 1024 + 1) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'POSTMASTER_PAYLOAD_TOO_LARGE', field: 'text' } });
  });
});

describe('one error shape for what never reaches a route', () => {
  it('TRACE is 405 everywhere; a wrong method on a known path is 405 with Allow', async () => {
    for (const [method, url, allow] of [
      ['TRACE', '/v1/messages', 'POST'],
      ['TRACE', '/anything', undefined],
      ['GET', '/v1/messages', 'POST'],
      ['DELETE', '/openapi.json', 'GET, HEAD'],
    ] as const) {
      const res = await door.app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(validateErrorResponse(res.json())).toBe(true);
      expect(res.json()).toMatchObject({ error: { code: 'POSTMASTER_METHOD_NOT_ALLOWED' } });
      expect(res.headers.allow).toBe(allow);
    }
    expect((await door.app.inject({ method: 'GET', url: '/nowhere' })).statusCode).toBe(404);
  });

  it('a request Node cannot parse is 400, oversized headers 431, both in the error shape', async () => {
    const bad = await raw(['BLAH / HTTP/1.1\r\n\r\n']);
    expect(bad.status).toBe(400);
    expect(validateErrorResponse(bad.body)).toBe(true);
    expect(errorCode(bad)).toBe('POSTMASTER_INVALID_REQUEST');
    const big = await raw([`GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`]);
    expect(big.status).toBe(431);
    expect(errorCode(big)).toBe('POSTMASTER_HEADERS_TOO_LARGE');
  });
});

describe('the connection cap', () => {
  it('refuses connections beyond the cap at accept, and serves the others', async () => {
    const open = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(port, '127.0.0.1', () => resolve(s));
            s.on('error', () => undefined);
            sockets.push(s);
          }),
      ),
    );
    const extra = net.connect(port, '127.0.0.1');
    sockets.push(extra);
    extra.on('error', () => undefined);
    const received: string[] = [];
    extra.on('data', (c: Buffer) => received.push(c.toString()));
    extra.on('connect', () => extra.write('GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n'));
    await new Promise((r) => extra.once('close', r));
    expect(received.join('')).toBe('');
    // The three held ones still get answers.
    const first = open[0]!;
    const answer = new Promise<string>((r) => first.once('data', (c: Buffer) => r(c.toString())));
    first.write('GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await answer).toMatch(/^HTTP\/1\.1 200/);
  });
});
