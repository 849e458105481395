// What a client receives when Node refuses a request before fastify sees it
// (the exact bytes on the connection, and the log line an operator reads), and
// the server's bounds: headers are cut at their own, shorter, timeout.
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { clientErrorHandler, DEFAULT_HTTP_SERVER_LIMITS, serverFactory } from '../../../src/endpoint/http-server.ts';
import { createHttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline } from '../../../src/endpoint/pipeline.ts';
import { rawHttp } from '../../support/http-raw.ts';
import { FakeKube, FakeTransports, PlainDirectory, silentLog } from '../../support/endpoint-fakes.ts';

/** A connection as the handler sees it: what was written, whether it was closed. */
function connection(state: { destroyed?: boolean; writable?: boolean } = {}) {
  const written: string[] = [];
  let closed = false;
  const socket = {
    destroyed: state.destroyed ?? false,
    writable: state.writable ?? true,
    remoteAddress: '10.0.0.7',
    write: (s: string) => void written.push(s),
    destroy: () => void (closed = true),
  } as unknown as net.Socket;
  return { socket, written, closed: () => closed };
}

function logged() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), cb()) }));
  return { log, lines };
}

const err = (code: string | undefined, message = 'boom') => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('clientErrorHandler', () => {
  const limits = { ...DEFAULT_HTTP_SERVER_LIMITS, requestTimeoutMs: 2_400 };

  it('a request timeout: 408 in the error shape, with the bound in seconds, then the connection is closed', () => {
    const { log, lines } = logged();
    const c = connection();
    clientErrorHandler(limits, log)(err('ERR_HTTP_REQUEST_TIMEOUT'), c.socket);
    const body = JSON.stringify({
      error: { code: 'POSTMASTER_REQUEST_TIMEOUT', message: 'The request was not received within 2s; the connection is closed. Nothing was sent.' },
    });
    expect(c.written).toEqual([
      `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    ]);
    expect(c.closed()).toBe(true);
    expect(lines).toEqual([expect.objectContaining({ msg: 'client error', code: 'POSTMASTER_REQUEST_TIMEOUT', err: 'ERR_HTTP_REQUEST_TIMEOUT', remote: '10.0.0.7' })]);
  });

  it('rounds the bound to the nearest second', () => {
    const c = connection();
    clientErrorHandler({ ...limits, requestTimeoutMs: 2_600 }, silentLog)(err('ERR_HTTP_REQUEST_TIMEOUT'), c.socket);
    expect(c.written[0]).toContain('within 3s;');
  });

  it('oversized headers: 431; anything else Node cannot parse: 400 naming the request', () => {
    const big = connection();
    clientErrorHandler(limits, silentLog)(err('HPE_HEADER_OVERFLOW'), big.socket);
    expect(big.written[0]).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(big.written[0]).toContain('{"error":{"code":"POSTMASTER_HEADERS_TOO_LARGE","message":"The request headers are larger than this endpoint accepts."}}');
    const { log, lines } = logged();
    const bad = connection();
    clientErrorHandler(limits, log)(err(undefined, 'Parse Error'), bad.socket);
    expect(bad.written[0]).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(bad.written[0]).toContain(
      '{"error":{"code":"POSTMASTER_INVALID_REQUEST","message":"(request): is not a valid HTTP request","field":"(request)"}}',
    );
    expect(lines[0]).toMatchObject({ code: 'POSTMASTER_INVALID_REQUEST', err: 'Parse Error' });
  });

  it('a connection the client reset, or one already gone, gets nothing and no log line', () => {
    const { log, lines } = logged();
    const reset = connection();
    clientErrorHandler(limits, log)(err('ECONNRESET'), reset.socket);
    const gone = connection({ destroyed: true });
    clientErrorHandler(limits, log)(err('HPE_HEADER_OVERFLOW'), gone.socket);
    expect([reset.written, gone.written, reset.closed(), gone.closed(), lines]).toEqual([[], [], false, false, []]);
  });

  it('a connection that cannot be written to is closed without a reply', () => {
    const c = connection({ writable: false });
    clientErrorHandler(limits, silentLog)(err('HPE_HEADER_OVERFLOW'), c.socket);
    expect(c.written).toEqual([]);
    expect(c.closed()).toBe(true);
  });
});

describe('the server', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_HTTP_SERVER_LIMITS).toEqual({ requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 });
    const s = serverFactory(DEFAULT_HTTP_SERVER_LIMITS)(() => undefined);
    expect([s.requestTimeout, s.headersTimeout, s.keepAliveTimeout, s.maxConnections]).toEqual([30_000, 10_000, 5_000, 1024]);
    const short = serverFactory({ ...DEFAULT_HTTP_SERVER_LIMITS, requestTimeoutMs: 500 })(() => undefined);
    expect(short.headersTimeout).toBe(500);
  });

  it('cuts headers that never finish at the headers bound, well before the request bound', async () => {
    const pipeline = createPipeline({ client: new FakeKube(), directory: new PlainDirectory(), log: silentLog, createTransport: new FakeTransports().create });
    const door = createHttpDoor({ pipeline, log: silentLog, server: { requestTimeoutMs: 20_000, headersTimeoutMs: 300 } });
    try {
      const { port } = await door.listen(0, '127.0.0.1');
      const started = Date.now();
      const r = await rawHttp(port, ['GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: '], { timeoutMs: 15_000 });
      expect(r.status).toBe(408);
      expect((r.body as { error: { message: string } }).error.message).toBe('The request was not received within 20s; the connection is closed. Nothing was sent.');
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      await door.close();
      await pipeline.close();
    }
  });
});
