// From an API call that did not succeed to what the user sees: a CheckResult
// with a reason and a sentence for the checks, a SendError for the transports.
// The provider's own error texts are quoted, always through redact.
import { redact } from '../redact.ts';
import { SendError, type CheckResult } from '../types.ts';
import type { CallOutcome } from './calls.ts';
import { ProviderReason, SendReason, type ProviderName } from './reasons.ts';
import { retryAfterSeconds } from './retry-after.ts';

interface ProviderErrorItem {
  message?: unknown;
  field?: unknown;
  description?: unknown;
  code?: unknown;
  help?: unknown;
}

/**
 * The provider's own error texts from `{"errors":[{message, field|description|code}]}`:
 * they describe the request, never the key, but are still passed through `redact` by callers.
 */
export function providerErrors(body: unknown, max = 5): string[] {
  if (!body || typeof body !== 'object') return [];
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  const out: string[] = [];
  for (const item of errors.slice(0, max) as ProviderErrorItem[]) {
    if (!item || typeof item !== 'object') continue;
    const parts: string[] = [];
    if (typeof item.message === 'string' && item.message) parts.push(item.message.trim());
    if (typeof item.description === 'string' && item.description) parts.push(item.description.trim());
    if (typeof item.field === 'string' && item.field && item.field !== 'null') parts.push(`field ${item.field}`);
    if (typeof item.code === 'string' && item.code) parts.push(`code ${item.code}`);
    if (parts.length) out.push(parts.join('; ').slice(0, 300));
  }
  return out;
}

export function quoteErrors(body: unknown, secret: string): string {
  const texts = providerErrors(body).map((t) => redact(t, secret));
  return texts.length ? `: ${texts.map((t) => `"${t}"`).join(', ')}` : '';
}

/** A human sentence for a failed connection. */
export function describeNetworkFailure(outcome: CallOutcome): string {
  switch (outcome.kind) {
    case 'timeout':
      return `no answer within ${outcome.timeoutMs} ms`;
    case 'aborted':
      return 'the request was canceled';
    case 'network': {
      const hints: Record<string, string> = {
        ECONNREFUSED: 'connection refused',
        ECONNRESET: 'connection reset',
        ENOTFOUND: 'host name not found (DNS)',
        EAI_AGAIN: 'temporary DNS failure',
        ETIMEDOUT: 'connection timed out',
        ESOCKETTIMEDOUT: 'no answer in time',
        ECONNABORTED: 'connection aborted',
        EHOSTUNREACH: 'host unreachable',
        ENETUNREACH: 'network unreachable',
        CERT_HAS_EXPIRED: 'the server certificate has expired',
        DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed',
        UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not trusted',
      };
      const hint = outcome.code ? hints[outcome.code] : undefined;
      return hint ? `${hint} (${outcome.code})` : outcome.code ? `${outcome.code}: ${outcome.message}` : outcome.message;
    }
    case 'response':
      return `HTTP ${outcome.status}`;
  }
}

export interface FailureContext {
  provider: ProviderName;
  /** Base URL in use, named in messages. */
  endpoint: string;
  /** e.g. `GET /v3/scopes` */
  call: string;
  apiKey: string;
  describeKey?: string;
  /** Region setting hint added when a key is refused. */
  regionHint: string;
}

/** "the API key in Secret ..." or "the API key". */
export function keyPhrase(describeKey: string | undefined): string {
  return describeKey ? `the API key in ${describeKey}` : 'the API key';
}

/** A key that is empty can only be a configuration mistake; it is never sent anywhere. */
export function emptyKeyResult<F>(provider: ProviderName, describeKey: string | undefined): CheckResult<F> {
  const where = describeKey ? `The API key in ${describeKey}` : 'The API key';
  return {
    ok: false,
    reason: ProviderReason.InvalidAPIKey,
    message: `${where} is empty; put the ${provider} API key there.`,
    transient: false,
  };
}

/**
 * The CheckResult for an outcome that is not the success the caller wanted:
 * 401 → InvalidAPIKey, 403 → MissingPermission, 429/420 → RateLimited, 5xx → ProviderUnavailable,
 * network/timeout → APIUnreachable, abort → Canceled, anything else → UnexpectedResponse.
 */
export function failureResult<F>(outcome: CallOutcome, ctx: FailureContext, facts?: F): CheckResult<F> {
  const withFacts = (r: Omit<CheckResult<F>, 'facts'>): CheckResult<F> => (facts === undefined ? r : { ...r, facts });
  const key = keyPhrase(ctx.describeKey);
  if (outcome.kind !== 'response') {
    if (outcome.kind === 'aborted') {
      return withFacts({
        ok: false,
        reason: ProviderReason.Canceled,
        message: `The ${ctx.provider} check was canceled before ${ctx.endpoint} answered.`,
        transient: true,
      });
    }
    return withFacts({
      ok: false,
      reason: ProviderReason.APIUnreachable,
      message: redact(
        `Could not reach the ${ctx.provider} API at ${ctx.endpoint} (${ctx.call}): ${describeNetworkFailure(outcome)}; ` +
          'check network policies, egress proxies and DNS from the operator pod. Will retry.',
        ctx.apiKey,
      ),
      transient: true,
    });
  }
  const { status } = outcome;
  const said = quoteErrors(outcome.body, ctx.apiKey);
  if (status === 401) {
    return withFacts({
      ok: false,
      reason: ProviderReason.InvalidAPIKey,
      message:
        `${ctx.provider} refused ${key} (HTTP 401 on ${ctx.call} at ${ctx.endpoint}${said}). ` +
        `Check that the key is complete, current and not revoked; ${ctx.regionHint}`,
      transient: false,
    });
  }
  if (status === 403) {
    return withFacts({
      ok: false,
      reason: ProviderReason.MissingPermission,
      message: `${ctx.provider} accepted ${key} but refused ${ctx.call} with HTTP 403${said}; give the key the permission this call needs.`,
      transient: false,
    });
  }
  if (status === 429 || (status === 420 && ctx.provider === 'SparkPost')) {
    const wait = retryAfterSeconds(outcome.headers);
    return withFacts({
      ok: false,
      reason: ProviderReason.RateLimited,
      message:
        `${ctx.provider} rate limit reached (HTTP ${status} on ${ctx.call} at ${ctx.endpoint}${said})` +
        `${wait === undefined ? '' : `; it asks to wait ${wait}s`}. Will retry.`,
      transient: true,
    });
  }
  if (status >= 500) {
    return withFacts({
      ok: false,
      reason: ProviderReason.ProviderUnavailable,
      message: `${ctx.provider} answered HTTP ${status} on ${ctx.call} at ${ctx.endpoint}${said}: a problem on the provider's side. Will retry.`,
      transient: true,
    });
  }
  return withFacts({
    ok: false,
    reason: ProviderReason.UnexpectedResponse,
    message:
      `${ctx.provider} answered HTTP ${status} on ${ctx.call} at ${ctx.endpoint}${said}, which its API does not ` +
      'answer there; check baseUrl (or any proxy in between).',
    transient: false,
  });
}

/** The SendError for an outcome of a send that is not a 2xx. */
/**
 * Connection errors that can strike after a request was written: what the provider did is not known.
 * UND_ERR_SOCKET is fetch's (undici's) name for a socket that closed mid-request.
 */
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);

/** A call that went out and got no answer, or lost its connection mid-call: the provider may have taken it. */
export function outcomeUnknownFor(outcome: CallOutcome): boolean {
  return outcome.kind === 'timeout' || (outcome.kind === 'network' && RESET_CODES.has(outcome.code ?? ''));
}

export function sendFailure(outcome: CallOutcome, provider: ProviderName, endpoint: string, apiKey: string): SendError {
  if (outcome.kind === 'aborted') {
    return new SendError(`The send to ${provider} was canceled before ${endpoint} answered; it may or may not have been accepted.`, {
      reason: SendReason.Canceled,
      permanent: false,
    });
  }
  if (outcome.kind !== 'response') {
    // The request went out and no answer came (timeout, reset mid-call): the provider may have taken it.
    const outcomeUnknown = outcomeUnknownFor(outcome);
    return new SendError(
      redact(`Could not reach the ${provider} API at ${endpoint}: ${describeNetworkFailure(outcome)}.`, apiKey),
      { reason: SendReason.UpstreamUnavailable, permanent: false, outcomeUnknown },
    );
  }
  const { status, headers } = outcome;
  const said = quoteErrors(outcome.body, apiKey);
  if (status === 429 || (status === 420 && provider === 'SparkPost')) {
    const wait = retryAfterSeconds(headers);
    return new SendError(
      `${provider} rate limit reached (HTTP ${status}${said})${wait === undefined ? '' : `; retry after ${wait}s`}.`,
      {
        reason: SendReason.UpstreamRateLimited,
        permanent: false,
        upstreamStatus: status,
        ...(wait === undefined ? {} : { retryAfterSeconds: wait }),
      },
    );
  }
  if (status >= 500) {
    const wait = retryAfterSeconds(headers, Date.now(), true);
    return new SendError(`${provider} is unavailable (HTTP ${status}${said}).`, {
      reason: SendReason.UpstreamUnavailable,
      permanent: false,
      upstreamStatus: status,
      ...(wait === undefined ? {} : { retryAfterSeconds: wait }),
    });
  }
  const hint = status === 401 ? ' The API key was refused: check the key and the region setting.' : '';
  return new SendError(`${provider} rejected the message (HTTP ${status}${said}).${hint}`, {
    reason: SendReason.UpstreamRejected,
    permanent: true,
    upstreamStatus: status,
  });
}
