// Every way a send can fail, in one catalogue (as fastify does with its FST_ERR_*
// codes): a stable code for machines, the HTTP status, the SMTP reply (so a client
// MTA retries exactly what is temporary) and Retry-After where waiting helps.
// Messages never carry a token, password or API key: callers see them verbatim.

export const ErrorCode = {
  InvalidRequest: 'POSTMASTER_INVALID_REQUEST',
  UnsupportedMediaType: 'POSTMASTER_UNSUPPORTED_MEDIA_TYPE',
  Unauthenticated: 'POSTMASTER_UNAUTHENTICATED',
  Forbidden: 'POSTMASTER_FORBIDDEN',
  IdentityNotFound: 'POSTMASTER_IDENTITY_NOT_FOUND',
  IdentityNotReady: 'POSTMASTER_IDENTITY_NOT_READY',
  PayloadTooLarge: 'POSTMASTER_PAYLOAD_TOO_LARGE',
  RateLimited: 'POSTMASTER_RATE_LIMITED',
  IdempotencyKeyReused: 'POSTMASTER_IDEMPOTENCY_KEY_REUSED',
  IdempotencyKeyInUse: 'POSTMASTER_IDEMPOTENCY_KEY_IN_USE',
  QueueUnavailable: 'POSTMASTER_QUEUE_UNAVAILABLE',
  MessageNotFound: 'POSTMASTER_MESSAGE_NOT_FOUND',
  UpstreamRejected: 'POSTMASTER_UPSTREAM_REJECTED',
  UpstreamUnavailable: 'POSTMASTER_UPSTREAM_UNAVAILABLE',
  UpstreamMisconfigured: 'POSTMASTER_UPSTREAM_MISCONFIGURED',
  UpstreamOutcomeUnknown: 'POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN',
  AuthUnavailable: 'POSTMASTER_AUTH_UNAVAILABLE',
  Draining: 'POSTMASTER_DRAINING',
  RouteNotFound: 'POSTMASTER_ROUTE_NOT_FOUND',
  MethodNotAllowed: 'POSTMASTER_METHOD_NOT_ALLOWED',
  RequestTimeout: 'POSTMASTER_REQUEST_TIMEOUT',
  HeadersTooLarge: 'POSTMASTER_HEADERS_TOO_LARGE',
  Internal: 'POSTMASTER_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface EndpointErrorInit {
  code: ErrorCode;
  statusCode: number;
  /** SMTP reply code: 5xx refuses for good, 4xx asks the client to retry. */
  smtpCode: number;
  /** RFC 3463 enhanced status code, e.g. "5.7.8". */
  smtpEnhanced?: string;
  retryAfterSeconds?: number;
  /** The request field at fault, e.g. "to[1]", "headers.X-Foo", "Idempotency-Key". */
  field?: string;
  /** For IdentityNotReady: the identity's Ready reason (CamelCase). */
  reason?: string;
  cause?: unknown;
}

export class EndpointError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly smtpCode: number;
  readonly smtpEnhanced?: string;
  readonly retryAfterSeconds?: number;
  readonly field?: string;
  readonly reason?: string;

  constructor(message: string, init: EndpointErrorInit) {
    // One line, always: messages end up in SMTP replies and may quote an upstream's multi-line answer.
    super(message.replace(/[\r\n]+/g, ' '), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'EndpointError';
    this.code = init.code;
    this.statusCode = init.statusCode;
    this.smtpCode = init.smtpCode;
    if (init.smtpEnhanced !== undefined) this.smtpEnhanced = init.smtpEnhanced;
    if (init.retryAfterSeconds !== undefined) this.retryAfterSeconds = Math.max(1, Math.ceil(init.retryAfterSeconds));
    if (init.field !== undefined) this.field = init.field;
    if (init.reason !== undefined) this.reason = init.reason;
  }

  /** True when the same request may succeed later (SMTP 4xx). */
  get temporary(): boolean {
    return this.smtpCode >= 400 && this.smtpCode < 500;
  }

  /** The one JSON error shape of the HTTP door. */
  toJSON(): { error: { code: ErrorCode; message: string; field?: string; reason?: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field !== undefined ? { field: this.field } : {}),
        ...(this.reason !== undefined ? { reason: this.reason } : {}),
      },
    };
  }
}

export const isEndpointError = (e: unknown): e is EndpointError => e instanceof EndpointError;

/** Seconds a caller should wait before retrying when the upstream gave no hint. */
export const DEFAULT_UPSTREAM_RETRY_SECONDS = 30;

/** A field of the request is missing, malformed or not allowed (400; SMTP 553 for addresses, else 554). */
export function invalidRequest(field: string, message: string): EndpointError {
  const address = /^(to|cc|bcc|replyTo)\b/.test(field);
  return new EndpointError(`${field}: ${message}`, {
    code: ErrorCode.InvalidRequest,
    statusCode: 400,
    smtpCode: address ? 553 : 554,
    smtpEnhanced: address ? '5.1.3' : '5.6.0',
    field,
  });
}

export function unsupportedMediaType(contentType: string | undefined): EndpointError {
  return new EndpointError(`Content-Type ${JSON.stringify(contentType ?? '')} is not supported; send application/json.`, {
    code: ErrorCode.UnsupportedMediaType,
    statusCode: 415,
    smtpCode: 554,
    smtpEnhanced: '5.6.0',
  });
}

/** No credentials, or credentials the API server (or the SMTP login check) does not accept. */
export function unauthenticated(message: string): EndpointError {
  return new EndpointError(message, { code: ErrorCode.Unauthenticated, statusCode: 401, smtpCode: 535, smtpEnhanced: '5.7.8' });
}

export function forbidden(message: string): EndpointError {
  return new EndpointError(message, { code: ErrorCode.Forbidden, statusCode: 403, smtpCode: 550, smtpEnhanced: '5.7.1' });
}

export function identityNotFound(namespace: string, name: string): EndpointError {
  return new EndpointError(
    `SenderIdentity "${name}" not found in namespace "${namespace}": identities are looked up in the caller's namespace.`,
    { code: ErrorCode.IdentityNotFound, statusCode: 404, smtpCode: 550, smtpEnhanced: '5.1.8', field: 'sender' },
  );
}

/**
 * The identity exists but cannot send now. HTTP 409 (the caller cannot fix it by
 * changing the request); SMTP 451 so a client MTA keeps the message while someone fixes it.
 */
export function identityNotReady(namespace: string, name: string, reason: string, detail?: string): EndpointError {
  return new EndpointError(`SenderIdentity "${namespace}/${name}" is not Ready (${reason})${detail ? `: ${detail}` : '.'}`, {
    code: ErrorCode.IdentityNotReady,
    statusCode: 409,
    smtpCode: 451,
    smtpEnhanced: '4.3.5',
    reason,
  });
}

export function payloadTooLarge(message: string, field?: string): EndpointError {
  return new EndpointError(message, {
    code: ErrorCode.PayloadTooLarge,
    statusCode: 413,
    smtpCode: 552,
    smtpEnhanced: '5.3.4',
    ...(field ? { field } : {}),
  });
}

export function rateLimited(what: string, retryAfterSeconds: number): EndpointError {
  const wait = Math.max(1, Math.ceil(retryAfterSeconds));
  return new EndpointError(`Rate limit of ${what} reached; retry after ${wait}s.`, {
    code: ErrorCode.RateLimited,
    statusCode: 429,
    smtpCode: 450,
    smtpEnhanced: '4.7.1',
    retryAfterSeconds: wait,
  });
}

export function idempotencyKeyReused(): EndpointError {
  return new EndpointError(
    'Idempotency-Key was already used with a different request; use a new key for a new message.',
    { code: ErrorCode.IdempotencyKeyReused, statusCode: 422, smtpCode: 554, smtpEnhanced: '5.5.0', field: 'Idempotency-Key' },
  );
}

/** Another request with this key is still being sent (by any replica): its outcome is not known yet. */
export function idempotencyKeyInUse(retryAfterSeconds: number): EndpointError {
  return new EndpointError(
    'A request with this Idempotency-Key is still being processed; retry after it finished to get its result.',
    {
      code: ErrorCode.IdempotencyKeyInUse,
      statusCode: 409,
      smtpCode: 451,
      smtpEnhanced: '4.5.0',
      field: 'Idempotency-Key',
      retryAfterSeconds,
    },
  );
}

/**
 * The identity's EmailServer delivers Queued, and the message cannot be stored
 * now (no durable store configured, or the store unreachable): nothing was accepted.
 */
export function queueUnavailable(message: string, retryAfterSeconds: number, cause?: unknown): EndpointError {
  return new EndpointError(`${message} Nothing was accepted.`, {
    code: ErrorCode.QueueUnavailable,
    statusCode: 503,
    smtpCode: 451,
    smtpEnhanced: '4.3.0',
    retryAfterSeconds,
    cause,
  });
}

/** GET /v1/messages/{id}: no queued message by that id that this caller may read. */
export function messageNotFound(id: string): EndpointError {
  return new EndpointError(
    `No queued message "${id}" that you may read (records are kept for 24 hours; messages sent Direct have none).`,
    { code: ErrorCode.MessageNotFound, statusCode: 404, smtpCode: 550 },
  );
}

/**
 * The upstream refused this message for good (an API 4xx, an SMTP 5xx): 422 with
 * the upstream's own words, since the same request would be refused again. Never
 * retried elsewhere.
 */
export function upstreamRejected(message: string, cause?: unknown): EndpointError {
  return new EndpointError(message, {
    code: ErrorCode.UpstreamRejected,
    statusCode: 422,
    smtpCode: 550,
    smtpEnhanced: '5.0.0',
    cause,
  });
}

/**
 * The provider API refused our credentials or our sender (HTTP 401/403): nothing
 * the caller can change, so 502, and SMTP 451 so a client MTA keeps the message
 * until someone fixes the EmailServer's key or verifies the sender. Permanent for
 * the pipeline all the same: never retried through the fallback.
 */
export function upstreamMisconfigured(message: string, cause?: unknown): EndpointError {
  return new EndpointError(message, {
    code: ErrorCode.UpstreamMisconfigured,
    statusCode: 502,
    smtpCode: 451,
    smtpEnhanced: '4.3.5',
    retryAfterSeconds: 60,
    cause,
  });
}

/** The upstream could not take the message now (network, 5xx, 429, SMTP 4xx): nothing was sent. */
export function upstreamUnavailable(message: string, retryAfterSeconds?: number, cause?: unknown): EndpointError {
  return new EndpointError(message, {
    code: ErrorCode.UpstreamUnavailable,
    statusCode: 503,
    smtpCode: 451,
    smtpEnhanced: '4.4.0',
    retryAfterSeconds: retryAfterSeconds ?? DEFAULT_UPSTREAM_RETRY_SECONDS,
    cause,
  });
}

/**
 * The upstream took the message and then went silent before saying whether it
 * accepted it (the connection broke after the data): it may have been delivered.
 * A retry is safe to deduplicate: it carries the same Message-ID when the same
 * Idempotency-Key is sent (HTTP) or the client keeps its own Message-ID (SMTP).
 */
export function upstreamOutcomeUnknown(message: string, cause?: unknown): EndpointError {
  return new EndpointError(`${message} The message may have been delivered; a retry may deliver it twice, under the same Message-ID.`, {
    code: ErrorCode.UpstreamOutcomeUnknown,
    statusCode: 502,
    smtpCode: 451,
    smtpEnhanced: '4.4.2',
    retryAfterSeconds: DEFAULT_UPSTREAM_RETRY_SECONDS,
    cause,
  });
}

/** The API server could not answer a TokenReview or SubjectAccessReview: try again shortly. */
export function authUnavailable(what: string, cause?: unknown): EndpointError {
  return new EndpointError(`Could not check ${what} with the Kubernetes API server; retry shortly.`, {
    code: ErrorCode.AuthUnavailable,
    statusCode: 503,
    smtpCode: 454,
    smtpEnhanced: '4.7.0',
    retryAfterSeconds: 5,
    cause,
  });
}

export function draining(): EndpointError {
  return new EndpointError('This postmaster replica is shutting down; retry (another replica will answer).', {
    code: ErrorCode.Draining,
    statusCode: 503,
    smtpCode: 421,
    smtpEnhanced: '4.3.2',
    retryAfterSeconds: 1,
  });
}

export function routeNotFound(method: string, url: string): EndpointError {
  return new EndpointError(`No route ${method} ${url.split('?')[0]}; messages go to POST /v1/messages.`, {
    code: ErrorCode.RouteNotFound,
    statusCode: 404,
    smtpCode: 500,
  });
}

export function methodNotAllowed(method: string, url: string, allow: string): EndpointError {
  return new EndpointError(`${method} is not allowed on ${url.split('?')[0]}; use ${allow}.`, {
    code: ErrorCode.MethodNotAllowed,
    statusCode: 405,
    smtpCode: 500,
  });
}

/** The client did not send its whole request in time (a stalled upload); the connection is closed. */
export function requestTimeout(seconds: number): EndpointError {
  return new EndpointError(`The request was not received within ${seconds}s; the connection is closed. Nothing was sent.`, {
    code: ErrorCode.RequestTimeout,
    statusCode: 408,
    smtpCode: 500,
  });
}

export function headersTooLarge(): EndpointError {
  return new EndpointError('The request headers are larger than this endpoint accepts.', {
    code: ErrorCode.HeadersTooLarge,
    statusCode: 431,
    smtpCode: 500,
  });
}

/** A bug of ours: the message says nothing of it (the log does). */
export function internalError(cause?: unknown): EndpointError {
  return new EndpointError('Internal error before the message reached the upstream; retry later.', {
    code: ErrorCode.Internal,
    statusCode: 500,
    smtpCode: 451,
    smtpEnhanced: '4.3.0',
    retryAfterSeconds: DEFAULT_UPSTREAM_RETRY_SECONDS,
    cause,
  });
}
