// Shared pieces of the HTTP API providers (SendGrid, SparkPost): reason constants,
// the outcome of one API call, and how an outcome becomes a CheckResult or a SendError.
// Nothing here ever sees more of a secret than `redact` needs to scrub it.
import http from 'node:http';
import https from 'node:https';
import type { CheckOptions, CheckResult, Region } from './types.ts';
import { SendError } from './types.ts';

/** Reasons of key checks and sender verification (CheckResult.reason). */
export const ProviderReason = {
  /** The key works, may send, and the configured IP pool exists. */
  Connected: 'Connected',
  /** 401: the provider does not know the key (revoked, mistyped, or the other region's key). */
  InvalidAPIKey: 'InvalidAPIKey',
  /** SendGrid: the key works but lacks the mail.send scope. */
  MissingSendScope: 'MissingSendScope',
  /** 403 on a call the check needs: the key lacks a permission. */
  MissingPermission: 'MissingPermission',
  /** The configured IP pool does not exist in the account. */
  IPPoolNotFound: 'IPPoolNotFound',
  /** 429 (SparkPost also 420, sending limit): transient. */
  RateLimited: 'RateLimited',
  /** 5xx: transient. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** Connection refused/reset, DNS failure, timeout: transient. */
  APIUnreachable: 'APIUnreachable',
  /** The caller's AbortSignal fired; transient (nothing was decided). */
  Canceled: 'Canceled',
  /** An answer the documented API does not give (e.g. a 404 on a fixed path: wrong baseUrl). */
  UnexpectedResponse: 'UnexpectedResponse',
  /** The sender address is allowed to send (verified single sender, authenticated or verified domain). */
  SenderVerified: 'SenderVerified',
  /** SendGrid: neither a verified single sender nor under a valid authenticated domain. */
  SenderNotVerified: 'SenderNotVerified',
  /** The address is not a syntactically usable mailbox (no domain). */
  InvalidSenderAddress: 'InvalidSenderAddress',
  /** SparkPost: the sending domain exists but its ownership is not verified. */
  SendingDomainNotVerified: 'SendingDomainNotVerified',
  /** SparkPost: the address's domain is not a sending domain of the account. */
  SendingDomainNotFound: 'SendingDomainNotFound',
  /** SparkPost: the sending domain is blocked by compliance. */
  SendingDomainBlocked: 'SendingDomainBlocked',
} as const;
export type ProviderReason = (typeof ProviderReason)[keyof typeof ProviderReason];

/** Reasons carried by SendError from the API transports. */
export const SendReason = {
  /** 4xx other than 429 (and SparkPost 420), or every recipient refused: permanent. */
  UpstreamRejected: 'UpstreamRejected',
  /** 429 (SparkPost also 420): temporary, retryAfterSeconds when the provider said. */
  UpstreamRateLimited: 'UpstreamRateLimited',
  /** 5xx, network error, timeout: temporary. */
  UpstreamUnavailable: 'UpstreamUnavailable',
  /** The message cannot be sent as given (no recipient, no content): permanent, nothing was sent. */
  InvalidMessage: 'InvalidMessage',
  /** The caller's AbortSignal fired before the provider answered: temporary. */
  Canceled: 'Canceled',
} as const;
export type SendReason = (typeof SendReason)[keyof typeof SendReason];

export type ProviderName = 'SendGrid' | 'SparkPost';

/** Options of the provider checks: CheckOptions plus how to name the key in messages. */
export interface ProviderCheckOptions extends CheckOptions {
  /**
   * Where the key came from, for messages, e.g. `Secret "mail/sendgrid" key "apiKey"`.
   * Never the key itself.
   */
  describeKey?: string;
  /**
   * Replaces the public per-region base URLs (an egress proxy per region; tests).
   * `account.baseUrl` still wins over both.
   */
  regionBaseUrls?: Partial<Record<Region, string>>;
}

/** Facts of a sender verification. */
export interface SenderFacts {
  checkedAt: string;
  latencyMs: number;
  endpoint: string;
  address: string;
  /** How the address is allowed: a single verified sender, an authenticated (SendGrid) or sending (SparkPost) domain. */
  via?: 'SingleSender' | 'AuthenticatedDomain' | 'SendingDomain';
  /** The domain that authorises the address, when via a domain. */
  domain?: string;
}

export type Headers = Record<string, string>;

/** What one API call came to. Bodies are parsed JSON (or a string when not JSON). */
export type CallOutcome =
  | { kind: 'response'; status: number; headers: Headers; body: unknown }
  | { kind: 'network'; code?: string; message: string }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'aborted' };

/** Connection pools of one user of an API (a transport, or the checks). */
export interface HttpAgents {
  http: http.Agent;
  https: https.Agent;
}

/** Agents of the checks: a connection per call, closed when the call ends, so nothing lingers between checks. */
export const oneShotAgents: HttpAgents = {
  http: new http.Agent({ keepAlive: false }),
  https: new https.Agent({ keepAlive: false }),
};

/** Keep-alive agents of a transport; its close() destroys them. */
export function pooledAgents(maxSockets: number): HttpAgents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets }),
    https: new https.Agent({ keepAlive: true, maxSockets }),
  };
}

export const DEFAULT_STEP_TIMEOUT_MS = 10_000;
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;

/** Replaces every occurrence of the secret (and of obvious encodings of it) in a text. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  let out = text;
  const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]);
  forms.add(Buffer.from(`${secret}:`).toString('base64'));
  for (const form of forms) out = out.split(form).join('[redacted]');
  return out;
}

/** Lower-cased header names, one string value each. Accepts Node and axios header objects. */
export function normalizeHeaders(raw: unknown): Headers {
  const out: Headers = {};
  if (!raw || typeof raw !== 'object') return out;
  const source =
    typeof (raw as { toJSON?: unknown }).toJSON === 'function'
      ? ((raw as { toJSON: () => unknown }).toJSON() as Record<string, unknown>)
      : (raw as Record<string, unknown>);
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String).join(', ') : String(value);
  }
  return out;
}

/**
 * Seconds the provider asks us to wait: `Retry-After` (delta-seconds or HTTP date), else, unless
 * `retryAfterOnly`, SendGrid's `X-RateLimit-Reset` (Unix time at which the rate-limit period
 * refreshes; sent on every answer, so only meaningful on a 429). Undefined when neither.
 */
export function retryAfterSeconds(headers: Headers, nowMs: number = Date.now(), retryAfterOnly = false): number | undefined {
  const retryAfter = headers['retry-after']?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  if (retryAfterOnly) return undefined;
  const reset = headers['x-ratelimit-reset']?.trim();
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Math.ceil(Number(reset) - nowMs / 1000));
  return undefined;
}

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
export function sendFailure(outcome: CallOutcome, provider: ProviderName, endpoint: string, apiKey: string): SendError {
  if (outcome.kind === 'aborted') {
    return new SendError(`The send to ${provider} was canceled before ${endpoint} answered; it may or may not have been accepted.`, {
      reason: SendReason.Canceled,
      permanent: false,
    });
  }
  if (outcome.kind !== 'response') {
    return new SendError(
      redact(`Could not reach the ${provider} API at ${endpoint}: ${describeNetworkFailure(outcome)}.`, apiKey),
      { reason: SendReason.UpstreamUnavailable, permanent: false },
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

/** Headers the providers set themselves and refuse (or would duplicate) in custom headers. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'subject',
  'reply-to',
  'content-type',
  'content-transfer-encoding',
  'mime-version',
  'received',
  'dkim-signature',
  'x-sg-id',
  'x-sg-eid',
]);

/** The message's custom headers without the reserved ones; undefined when none is left. */
export function customHeaders(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!RESERVED_HEADERS.has(name.toLowerCase())) out[name] = value;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Strips trailing slashes. */
export function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The domain of an address (lower case), or undefined when it has none. */
export function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  const domain = address.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  return /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/.test(domain) ? domain : undefined;
}

/** Milliseconds since a performance.now() reading. */
export function elapsedSince(startMs: number): number {
  return Math.max(0, Math.round(performance.now() - startMs));
}

/** Where a sender verification stands once its address is read: refused outright, or ready to ask the provider. */
export type SenderCheckStart =
  | { refused: CheckResult<SenderFacts> }
  | { refused?: undefined; normalized: string; domain: string; facts: (extra?: Partial<SenderFacts>) => SenderFacts };

/**
 * The opening both providers' sender verifications share: the address
 * normalised, its domain found (or an InvalidSenderAddress result), and a
 * builder for the facts every later result carries.
 */
export function startSenderCheck(endpoint: string, address: string, started: number, checkedAt: string): SenderCheckStart {
  const normalized = address.trim().toLowerCase();
  const facts = (extra: Partial<SenderFacts> = {}): SenderFacts => ({
    checkedAt,
    latencyMs: elapsedSince(started),
    endpoint,
    address: normalized,
    ...extra,
  });
  const domain = domainOf(normalized);
  if (!domain) {
    return {
      refused: {
        ok: false,
        reason: ProviderReason.InvalidSenderAddress,
        message: `"${address}" is not an email address with a domain; set a sender address such as noreply@example.com.`,
        transient: false,
        facts: facts(),
      },
    };
  }
  return { normalized, domain, facts };
}
