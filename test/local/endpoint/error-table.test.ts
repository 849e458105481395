// The README's table of error codes is the catalogue's: every code, its HTTP
// status, SMTP reply and whether it is temporary, as errors.ts builds them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import * as errors from '../../../src/endpoint/errors.ts';
import { ErrorCode, type EndpointError } from '../../../src/endpoint/errors.ts';

const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
const rows = new Map(
  [...readme.matchAll(/^\| `(POSTMASTER_[A-Z_]+)` \| (\d{3}) \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => [m[1]!, { http: Number(m[2]), smtp: m[3]!.trim(), temporary: m[4]!.trim() }]),
);

/** Codes only the HTTP door gives (the SMTP door has its own dialogue for these). */
const HTTP_ONLY: ReadonlySet<string> = new Set([
  ErrorCode.RouteNotFound,
  ErrorCode.MethodNotAllowed,
  ErrorCode.RequestTimeout,
  ErrorCode.HeadersTooLarge,
  ErrorCode.MessageNotFound,
]);

const samples: EndpointError[] = [
  errors.invalidRequest('subject', 'x'),
  errors.unsupportedMediaType('text/plain'),
  errors.unauthenticated('x'),
  errors.forbidden('x'),
  errors.identityNotFound('ns', 'id'),
  errors.routeNotFound('GET', '/'),
  errors.methodNotAllowed('TRACE', '/', 'POST'),
  errors.requestTimeout(30),
  errors.headersTooLarge(),
  errors.identityNotReady('ns', 'id', 'Reason'),
  errors.payloadTooLarge('x'),
  errors.idempotencyKeyReused(),
  errors.idempotencyKeyInUse(30),
  errors.queueUnavailable('x', 5),
  errors.messageNotFound('id'),
  errors.upstreamRejected('x'),
  errors.rateLimited('x', 1),
  errors.internalError(),
  errors.upstreamMisconfigured('x'),
  errors.upstreamOutcomeUnknown('x'),
  errors.upstreamUnavailable('x'),
  errors.authUnavailable('x'),
  errors.draining(),
];

it('lists every code of the catalogue once', () => {
  expect([...rows.keys()].sort()).toEqual(Object.values(ErrorCode).sort());
  expect(samples.map((e) => e.code).sort()).toEqual(Object.values(ErrorCode).sort());
});

it.each(samples.map((e) => [e.code, e] as const))('%s: the HTTP status, SMTP reply and temporariness the door gives', (code, e) => {
  const row = rows.get(code)!;
  expect(row.http).toBe(e.statusCode);
  if (HTTP_ONLY.has(e.code)) {
    expect(row.smtp).toBe('-');
    return;
  }
  expect(row.smtp.startsWith(`${e.smtpCode} ${e.smtpEnhanced}`)).toBe(true);
  expect(row.temporary.startsWith(e.temporary ? 'yes' : 'no')).toBe(true);
});
