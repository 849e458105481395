// The HTTP door's server, hardened: a request must arrive whole within a bound
// (a stalled upload gets 408 and is closed), headers within a shorter one, idle
// keep-alive connections go, the number of connections is capped, and errors
// Node raises before a request reaches fastify (bad syntax, oversized headers,
// timeouts) leave in the same JSON shape as every other error.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { headersTooLarge, invalidRequest, requestTimeout, type EndpointError } from './errors.ts';

export interface HttpServerLimits {
  /** The whole request, headers and body (default 30 s). */
  requestTimeoutMs: number;
  /** The request headers (default 10 s). */
  headersTimeoutMs: number;
  /** An idle keep-alive connection (default 5 s). */
  keepAliveTimeoutMs: number;
  /** Connections at once; more are refused at accept (default 1024). */
  maxConnections: number;
}

export const DEFAULT_HTTP_SERVER_LIMITS: Readonly<HttpServerLimits> = Object.freeze({
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
});

/** fastify's serverFactory: a Node server with the limits, checked every second rather than Node's 30 s. */
export function serverFactory(limits: HttpServerLimits) {
  return (handler: http.RequestListener): http.Server => {
    const server = http.createServer(
      {
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, limits.requestTimeoutMs),
      },
      handler,
    );
    server.maxConnections = limits.maxConnections;
    return server;
  };
}

/** fastify's clientErrorHandler: Node-level failures in our error shape, then the connection is closed. */
export function clientErrorHandler(limits: HttpServerLimits, log: Logger) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let e: EndpointError;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') e = requestTimeout(Math.round(limits.requestTimeoutMs / 1000));
    else if (err.code === 'HPE_HEADER_OVERFLOW') e = headersTooLarge();
    else e = invalidRequest('(request)', 'is not a valid HTTP request');
    log.info({ code: e.code, err: err.code ?? err.message, remote: socket.remoteAddress }, 'client error');
    if (socket.writable) {
      const body = JSON.stringify(e.toJSON());
      socket.write(
        `HTTP/1.1 ${e.statusCode} ${http.STATUS_CODES[e.statusCode]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
