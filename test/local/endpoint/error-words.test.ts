// The words and replies of every error of the catalogue, as callers of either
// door read them: the message, the field, Retry-After, the SMTP reply, and the
// one JSON shape (error-table.test.ts checks the codes and statuses against the README).
import { describe, expect, it } from 'vitest';
import * as e from '../../../src/endpoint/errors.ts';
import { EndpointError, ErrorCode } from '../../../src/endpoint/errors.ts';

const seen = (err: EndpointError) => ({
  message: err.message,
  smtp: `${err.smtpCode} ${err.smtpEnhanced ?? ''}`.trim(),
  retryAfter: err.retryAfterSeconds,
  json: err.toJSON(),
});

describe('the catalogue, word for word', () => {
  it.each<[string, () => EndpointError, ReturnType<typeof seen>]>([
    ['invalid address field', () => e.invalidRequest('to[1]', 'is bad'), { message: 'to[1]: is bad', smtp: '553 5.1.3', retryAfter: undefined, json: { error: { code: ErrorCode.InvalidRequest, message: 'to[1]: is bad', field: 'to[1]' } } }],
    ['invalid other field', () => e.invalidRequest('subject', 'is bad'), { message: 'subject: is bad', smtp: '554 5.6.0', retryAfter: undefined, json: { error: { code: ErrorCode.InvalidRequest, message: 'subject: is bad', field: 'subject' } } }],
    ['media type', () => e.unsupportedMediaType(undefined), { message: 'Content-Type "" is not supported; send application/json.', smtp: '554 5.6.0', retryAfter: undefined, json: { error: { code: ErrorCode.UnsupportedMediaType, message: 'Content-Type "" is not supported; send application/json.' } } }],
    ['unauthenticated', () => e.unauthenticated('who?'), { message: 'who?', smtp: '535 5.7.8', retryAfter: undefined, json: { error: { code: ErrorCode.Unauthenticated, message: 'who?' } } }],
    ['forbidden', () => e.forbidden('no'), { message: 'no', smtp: '550 5.7.1', retryAfter: undefined, json: { error: { code: ErrorCode.Forbidden, message: 'no' } } }],
    ['identity not found', () => e.identityNotFound('team', 'alerts'), {
      message: 'SenderIdentity "alerts" not found in namespace "team": identities are looked up in the caller\'s namespace.',
      smtp: '550 5.1.8', retryAfter: undefined,
      json: { error: { code: ErrorCode.IdentityNotFound, message: 'SenderIdentity "alerts" not found in namespace "team": identities are looked up in the caller\'s namespace.', field: 'sender' } },
    }],
    ['identity not ready', () => e.identityNotReady('team', 'alerts', 'ServerNotReady'), {
      message: 'SenderIdentity "team/alerts" is not Ready (ServerNotReady).', smtp: '451 4.3.5', retryAfter: undefined,
      json: { error: { code: ErrorCode.IdentityNotReady, message: 'SenderIdentity "team/alerts" is not Ready (ServerNotReady).', reason: 'ServerNotReady' } },
    }],
    ['identity not ready, with detail', () => e.identityNotReady('team', 'alerts', 'R', 'the relay is down'), {
      message: 'SenderIdentity "team/alerts" is not Ready (R): the relay is down', smtp: '451 4.3.5', retryAfter: undefined,
      json: { error: { code: ErrorCode.IdentityNotReady, message: 'SenderIdentity "team/alerts" is not Ready (R): the relay is down', reason: 'R' } },
    }],
    ['payload too large', () => e.payloadTooLarge('too big', 'text'), { message: 'too big', smtp: '552 5.3.4', retryAfter: undefined, json: { error: { code: ErrorCode.PayloadTooLarge, message: 'too big', field: 'text' } } }],
    ['payload too large, no field', () => e.payloadTooLarge('too big'), { message: 'too big', smtp: '552 5.3.4', retryAfter: undefined, json: { error: { code: ErrorCode.PayloadTooLarge, message: 'too big' } } }],
    ['rate limited', () => e.rateLimited('10 per minute', 0.2), { message: 'Rate limit of 10 per minute reached; retry after 1s.', smtp: '450 4.7.1', retryAfter: 1, json: { error: { code: ErrorCode.RateLimited, message: 'Rate limit of 10 per minute reached; retry after 1s.' } } }],
    ['key reused', () => e.idempotencyKeyReused(), {
      message: 'Idempotency-Key was already used with a different request; use a new key for a new message.', smtp: '554 5.5.0', retryAfter: undefined,
      json: { error: { code: ErrorCode.IdempotencyKeyReused, message: 'Idempotency-Key was already used with a different request; use a new key for a new message.', field: 'Idempotency-Key' } },
    }],
    ['key in use', () => e.idempotencyKeyInUse(2.5), {
      message: 'A request with this Idempotency-Key is still being processed; retry after it finished to get its result.', smtp: '451 4.5.0', retryAfter: 3,
      json: { error: { code: ErrorCode.IdempotencyKeyInUse, message: 'A request with this Idempotency-Key is still being processed; retry after it finished to get its result.', field: 'Idempotency-Key' } },
    }],
    ['queue unavailable', () => e.queueUnavailable('The store is away.', 5), { message: 'The store is away. Nothing was accepted.', smtp: '451 4.3.0', retryAfter: 5, json: { error: { code: ErrorCode.QueueUnavailable, message: 'The store is away. Nothing was accepted.' } } }],
    ['message not found', () => e.messageNotFound('m-1'), {
      message: 'No queued message "m-1" that you may read (records are kept for 24 hours; messages sent Direct have none).', smtp: '550', retryAfter: undefined,
      json: { error: { code: ErrorCode.MessageNotFound, message: 'No queued message "m-1" that you may read (records are kept for 24 hours; messages sent Direct have none).' } },
    }],
    ['upstream rejected', () => e.upstreamRejected('550 no such user'), { message: '550 no such user', smtp: '550 5.0.0', retryAfter: undefined, json: { error: { code: ErrorCode.UpstreamRejected, message: '550 no such user' } } }],
    ['upstream misconfigured', () => e.upstreamMisconfigured('bad key'), { message: 'bad key', smtp: '451 4.3.5', retryAfter: 60, json: { error: { code: ErrorCode.UpstreamMisconfigured, message: 'bad key' } } }],
    ['upstream unavailable', () => e.upstreamUnavailable('down'), { message: 'down', smtp: '451 4.4.0', retryAfter: 30, json: { error: { code: ErrorCode.UpstreamUnavailable, message: 'down' } } }],
    ['upstream unavailable, with a hint', () => e.upstreamUnavailable('down', 12), { message: 'down', smtp: '451 4.4.0', retryAfter: 12, json: { error: { code: ErrorCode.UpstreamUnavailable, message: 'down' } } }],
    ['outcome unknown', () => e.upstreamOutcomeUnknown('The connection broke.'), {
      message: 'The connection broke. The message may have been delivered; a retry may deliver it twice, under the same Message-ID.', smtp: '451 4.4.2', retryAfter: 30,
      json: { error: { code: ErrorCode.UpstreamOutcomeUnknown, message: 'The connection broke. The message may have been delivered; a retry may deliver it twice, under the same Message-ID.' } },
    }],
    ['auth unavailable', () => e.authUnavailable('the token'), { message: 'Could not check the token with the Kubernetes API server; retry shortly.', smtp: '454 4.7.0', retryAfter: 5, json: { error: { code: ErrorCode.AuthUnavailable, message: 'Could not check the token with the Kubernetes API server; retry shortly.' } } }],
    ['draining', () => e.draining(), { message: 'This postmaster replica is shutting down; retry (another replica will answer).', smtp: '421 4.3.2', retryAfter: 1, json: { error: { code: ErrorCode.Draining, message: 'This postmaster replica is shutting down; retry (another replica will answer).' } } }],
    ['route not found', () => e.routeNotFound('GET', '/x?y=1'), { message: 'No route GET /x; messages go to POST /v1/messages.', smtp: '500', retryAfter: undefined, json: { error: { code: ErrorCode.RouteNotFound, message: 'No route GET /x; messages go to POST /v1/messages.' } } }],
    ['method not allowed', () => e.methodNotAllowed('PUT', '/v1/messages?a', 'POST'), { message: 'PUT is not allowed on /v1/messages; use POST.', smtp: '500', retryAfter: undefined, json: { error: { code: ErrorCode.MethodNotAllowed, message: 'PUT is not allowed on /v1/messages; use POST.' } } }],
    ['request timeout', () => e.requestTimeout(30), { message: 'The request was not received within 30s; the connection is closed. Nothing was sent.', smtp: '500', retryAfter: undefined, json: { error: { code: ErrorCode.RequestTimeout, message: 'The request was not received within 30s; the connection is closed. Nothing was sent.' } } }],
    ['headers too large', () => e.headersTooLarge(), { message: 'The request headers are larger than this endpoint accepts.', smtp: '500', retryAfter: undefined, json: { error: { code: ErrorCode.HeadersTooLarge, message: 'The request headers are larger than this endpoint accepts.' } } }],
    ['internal', () => e.internalError(new Error('x')), { message: 'Internal error before the message reached the upstream; retry later.', smtp: '451 4.3.0', retryAfter: 30, json: { error: { code: ErrorCode.Internal, message: 'Internal error before the message reached the upstream; retry later.' } } }],
  ])('%s', (_name, make, expected) => {
    // Built inside the test, so mutation testing counts the factory as covered by it.
    const err = make();
    expect(seen(err)).toEqual(expected);
    expect(err.name).toBe('EndpointError');
    expect(e.isEndpointError(err)).toBe(true);
  });
});

describe('EndpointError', () => {
  it('is one line, always', () => {
    expect(e.upstreamRejected('550-first\r\n550 second\n\nthird').message).toBe('550-first 550 second third');
  });

  it('keeps the cause, and has none when given none', () => {
    const cause = new Error('root');
    expect(e.upstreamUnavailable('x', undefined, cause).cause).toBe(cause);
    expect(e.queueUnavailable('x', 1, cause).cause).toBe(cause);
    expect(e.upstreamRejected('x', cause).cause).toBe(cause);
    expect(e.upstreamMisconfigured('x', cause).cause).toBe(cause);
    expect(e.upstreamOutcomeUnknown('x', cause).cause).toBe(cause);
    expect(e.authUnavailable('x', cause).cause).toBe(cause);
    expect(e.internalError(cause).cause).toBe(cause);
    expect('cause' in e.forbidden('x')).toBe(false);
  });

  it('is temporary exactly for SMTP 4xx replies', () => {
    const at = (smtpCode: number) => new EndpointError('x', { code: ErrorCode.Internal, statusCode: 500, smtpCode }).temporary;
    expect([at(399), at(400), at(451), at(499), at(500), at(550)]).toEqual([false, true, true, true, false, false]);
  });

  it('Retry-After is whole seconds, at least 1', () => {
    const after = (retryAfterSeconds: number) => new EndpointError('x', { code: ErrorCode.Internal, statusCode: 500, smtpCode: 451, retryAfterSeconds }).retryAfterSeconds;
    expect([after(0), after(0.1), after(1), after(1.2), after(30)]).toEqual([1, 1, 1, 2, 30]);
  });

  it('addresses are refused with 553, other fields with 554', () => {
    const smtp = (field: string) => e.invalidRequest(field, 'x').smtpCode;
    expect(['to', 'to[3]', 'cc[0]', 'bcc[1]', 'replyTo'].map(smtp)).toEqual([553, 553, 553, 553, 553]);
    expect(['subject', 'tox', 'headers.to', 'sender', 'text'].map(smtp)).toEqual([554, 554, 554, 554, 554]);
  });
});
