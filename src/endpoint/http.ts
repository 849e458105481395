// The HTTP door: POST /v1/messages (JSON, ServiceAccount bearer token,
// Idempotency-Key) and GET /openapi.json. Every error leaves in one JSON shape,
// { error: { code, message, field?, reason? } }, with Retry-After where waiting
// helps. While draining, new requests get 503 and requests in flight finish.
import { isUtf8 } from 'node:buffer';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import {
  EndpointError,
  internalError,
  invalidRequest,
  isEndpointError,
  methodNotAllowed,
  payloadTooLarge,
  routeNotFound,
  unauthenticated,
  unsupportedMediaType,
  draining as drainingError,
} from './errors.ts';
import { clientErrorHandler, DEFAULT_HTTP_SERVER_LIMITS, serverFactory, type HttpServerLimits } from './http-server.ts';
import { DEFAULT_LIMITS, type MessageLimits } from './limits.ts';
import { messageFromBody } from './message.ts';
import { openApiDocument } from './openapi.ts';
import { checkRequestShape, type SendMessageResponse } from './schema.ts';
import type { QueuedMessageResponse } from './queue-schema.ts';
import type { DeliveredOutcome, Pipeline, QueuedOutcome } from './types.ts';

export const MESSAGES_PATH = '/v1/messages';
/** Attachments (10 MiB decoded, about 13.4 MiB as base64) plus text and html. */
export const DEFAULT_BODY_LIMIT = 25 * 1024 * 1024;
const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;

export interface HttpDoorOptions {
  pipeline: Pipeline;
  log: Logger;
  /** Largest request body in bytes; larger ones get 413. Default 25 MiB. */
  bodyLimit?: number;
  limits?: MessageLimits;
  /** Timeouts and the connection cap of the server. */
  server?: Partial<HttpServerLimits>;
}

export function createHttpDoor(opts: HttpDoorOptions) {
  const { pipeline } = opts;
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const log = opts.log.child({ component: 'http-door' });
  const serverLimits: HttpServerLimits = { ...DEFAULT_HTTP_SERVER_LIMITS, ...opts.server };
  const app = Fastify({
    serverFactory: serverFactory(serverLimits),
    clientErrorHandler: clientErrorHandler(serverLimits, log),
    requestTimeout: serverLimits.requestTimeoutMs,
    keepAliveTimeout: serverLimits.keepAliveTimeoutMs,
    loggerInstance: log,
    // Our own one line per request (below): fastify's would be a second, and never needs headers.
    logController: new LogController({ disableRequestLogging: true }),
    // A pino child per request (to bind its reqId) costs more than the request's own log
    // lines: only at debug, where the per-request line is written, is it worth it.
    ...(log.isLevelEnabled('debug') ? {} : { childLoggerFactory: (logger: FastifyBaseLogger) => logger }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    return503OnClosing: true,
    // Longer ids than the route takes reach the door's own check (400 naming the field), not a bare 414.
    routerOptions: { maxParamLength: 1024 },
  });
  // JSON only: fastify's default text/plain parser would hand the schema a string.
  app.removeContentTypeParser('text/plain');
  // fastify's own JSON parser (prototype poisoning refused), on bytes that must be UTF-8: decoding
  // would turn invalid bytes into U+FFFD, and the message would go out with other text than was sent.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    if (!isUtf8(body)) return done(invalidRequest('(body)', 'is not valid UTF-8'), undefined);
    parseJson(req, body.toString('utf8'), done);
  });
  const document = JSON.stringify(openApiDocument());
  let draining = false;

  app.addHook('onRequest', (req, reply, done) => {
    if (draining) {
      reply.header('Connection', 'close');
      sendError(reply, drainingError());
      return;
    }
    // A known path with a method it does not take: 405 before any body is read or parsed.
    const allow = allowedMethods(req.url.split('?')[0] ?? '');
    if (allow && !allow.split(', ').includes(req.method)) {
      reply.header('Allow', allow);
      sendError(reply, methodNotAllowed(req.method, req.url, allow));
      return;
    }
    done();
  });

  if (log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (req, reply, done) => {
      const fields = { method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
      req.log.debug(fields, 'request');
      done();
    });
  }

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = fromFastify(err, req.headers['content-type']);
    if (e.statusCode >= 500 && e.code === 'POSTMASTER_INTERNAL') req.log.error({ err: err.message }, 'request failed');
    return sendError(reply, e);
  });
  // A known path with a method it does not take never gets here (onRequest answers 405 with Allow).
  app.setNotFoundHandler((req, reply) => {
    // TRACE would echo the request, Authorization included: refused everywhere.
    if (req.method === 'TRACE') return sendError(reply, methodNotAllowed(req.method, req.url, 'POST /v1/messages'));
    return sendError(reply, routeNotFound(req.method, req.url));
  });

  app.get('/openapi.json', async (_req, reply) => reply.type('application/json').send(document));

  app.post(MESSAGES_PATH, async (req, reply) => {
    const token = bearerToken(req.headers.authorization);
    const caller = await pipeline.authenticateToken(token);
    const idempotencyKey = headerValue(req.headers['idempotency-key']);
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw invalidRequest('Idempotency-Key', 'must be 1 to 255 visible ASCII characters');
    }
    const body = checkRequestShape(req.body);
    const message = messageFromBody(body, limits);
    const outcome = await pipeline.send({
      caller,
      sender: body.sender,
      message,
      door: 'http',
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    });
    reply.header('Cache-Control', 'no-store');
    if (outcome.queued) {
      reply.header('Location', `${MESSAGES_PATH}/${outcome.id}`);
      return reply.code(202).send(queuedBody(outcome));
    }
    return reply.code(200).send(responseBody(outcome));
  });

  app.get<{ Params: { id: string } }>(`${MESSAGES_PATH}/:id`, async (req, reply) => {
    const caller = await pipeline.authenticateToken(bearerToken(req.headers.authorization));
    const status = await pipeline.messageStatus(caller, req.params.id);
    reply.header('Cache-Control', 'no-store');
    return reply.code(200).send(status);
  });

  return {
    app,
    get draining() {
      return draining;
    },
    /** From now on new requests get 503 (Connection: close); requests in flight go on. */
    startDraining(): void {
      draining = true;
    },
    /** Listens; resolves with the bound address (port 0 picks a free one). */
    async listen(port: number, host: string): Promise<{ host: string; port: number }> {
      await app.listen({ port, host });
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('the HTTP door did not bind a TCP port');
      return { host: address.address, port: address.port };
    },
    /** Drains, waits for requests in flight, and closes the listener. */
    async close(): Promise<void> {
      draining = true;
      await app.close();
    },
  };
}

export type HttpDoor = ReturnType<typeof createHttpDoor>;

/** The methods a path of this door takes, or undefined for a path it does not serve. */
function allowedMethods(path: string): string | undefined {
  if (path === MESSAGES_PATH) return 'POST';
  if (path === '/openapi.json' || (path.startsWith(`${MESSAGES_PATH}/`) && !path.slice(MESSAGES_PATH.length + 1).includes('/'))) return 'GET, HEAD';
  return undefined;
}

function sendError(reply: FastifyReply, e: EndpointError): FastifyReply {
  if (e.retryAfterSeconds !== undefined) reply.header('Retry-After', String(e.retryAfterSeconds));
  if (e.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer realm="postmaster", error="invalid_token"');
  reply.header('Cache-Control', 'no-store');
  return reply.code(e.statusCode).type('application/json').send(e.toJSON());
}

function bearerToken(header: string | undefined): string {
  if (!header) throw unauthenticated('Authorization: Bearer <ServiceAccount token for audience "postmaster"> is required.');
  const m = /^Bearer +(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated('The Authorization header must be "Bearer <ServiceAccount token>".');
  return m[1]!;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

function queuedBody(o: QueuedOutcome): QueuedMessageResponse {
  const { namespace, name } = o.server;
  return { id: o.id, state: 'queued', messageIdHeader: o.messageIdHeader, server: { namespace, name }, expiresAt: o.expiresAt, statusUrl: `${MESSAGES_PATH}/${o.id}` };
}

function responseBody(o: DeliveredOutcome): SendMessageResponse {
  const body: SendMessageResponse = {
    id: o.id ?? '',
    messageId: o.messageId,
    server: { namespace: o.server.namespace, name: o.server.name },
    provider: o.provider,
    route: o.route,
  };
  if (o.messageIdHeader !== undefined) body.messageIdHeader = o.messageIdHeader;
  if (o.response !== undefined) body.response = o.response;
  return body;
}

/** Fastify's own errors (body parsing, limits) in our catalogue. */
function fromFastify(err: FastifyError, contentType: string | undefined): EndpointError {
  if (isEndpointError(err)) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return payloadTooLarge('The request body is larger than this endpoint accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaType(contentType);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest('(body)', 'is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidRequest('(body)', 'Content-Length does not match the body');
  }
  if (err instanceof SyntaxError || err.statusCode === 400) return invalidRequest('(body)', 'is not valid JSON');
  return internalError(err);
}
