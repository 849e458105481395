// Access tokens for the three grants: requested on demand, cached (by a hash
// of the grant, so the connection test and the transport share one token)
// until shortly before they expire, renewed on request after a refusal.
// Tokens and the grant's secrets never appear in an error or a log line.
import { createHash } from 'node:crypto';
import { redact } from '../redact.ts';
import { identityEndpoints, microsoftTokenUrl } from './endpoints.ts';
import { googleAssertion, microsoftClientAssertion } from './jwt.ts';
import { grantSecrets, TokenError, TokenReason, type AccessToken, type OAuth2Grant } from './types.ts';

export interface TokenOptions {
  /** Ignore a cached token (the server refused it). */
  renew?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A token is renewed this long before it expires (at most half its lifetime). */
const RENEW_BEFORE_MS = 5 * 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;

const cache = new Map<string, { token: string; expiresAt: number; renewAt: number }>();
const inFlight = new Map<string, Promise<AccessToken>>();

export const grantKey = (grant: OAuth2Grant) => createHash('sha256').update(JSON.stringify(grant)).digest('hex');

/** The token endpoint of a grant, as called. */
export function tokenUrlOf(grant: OAuth2Grant): string {
  if (grant.flow === 'Microsoft') return microsoftTokenUrl(grant.tenantId);
  if (grant.flow === 'Google') return identityEndpoints().googleToken;
  return grant.tokenUrl;
}

/** A valid access token for the grant: the cached one, or a new one. Throws TokenError. */
export async function accessToken(grant: OAuth2Grant, opts: TokenOptions = {}): Promise<AccessToken> {
  const key = grantKey(grant);
  const cached = cache.get(key);
  if (cached && !opts.renew && Date.now() < cached.renewAt) return { token: cached.token, expiresAt: cached.expiresAt, fresh: false };
  if (opts.renew) cache.delete(key);
  const pending = inFlight.get(key);
  if (pending) return pending;
  const request = requestToken(grant, opts).finally(() => inFlight.delete(key));
  inFlight.set(key, request);
  return request;
}

/** Drops every cached token (tests). */
export function forgetTokens(): void {
  cache.clear();
}

async function requestToken(grant: OAuth2Grant, opts: TokenOptions): Promise<AccessToken> {
  const url = tokenUrlOf(grant);
  let form: Record<string, string>;
  try {
    form = formOf(grant, url);
  } catch (err) {
    if (err instanceof TokenError) throw err;
    const code = (err as { code?: string }).code ?? 'unreadable';
    throw new TokenError(TokenReason.TokenRequestFailed, `The certificate or private key in the Secret could not be used (${code}): put PEM text there.`, false);
  }
  const secrets = grantSecrets(grant);
  const signal = opts.signal
    ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)])
    : AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? 'no answer in time' : (e.cause?.code ?? e.name ?? 'network error');
    throw new TokenError(TokenReason.TokenRequestFailed, `The token endpoint ${url} could not be reached (${why}); will retry.`, true);
  }
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: described by status below
  }
  if (response.ok && typeof body.access_token === 'string' && body.access_token) {
    const lifetimeMs = Math.max(1, Number(body.expires_in ?? 3600)) * 1000;
    const now = Date.now();
    const entry = { token: body.access_token, expiresAt: now + lifetimeMs, renewAt: now + lifetimeMs - Math.min(RENEW_BEFORE_MS, lifetimeMs / 2) };
    cache.set(grantKey(grant), entry);
    return { token: entry.token, expiresAt: entry.expiresAt, fresh: true };
  }
  throw tokenFailure(url, response.status, body, secrets);
}

function formOf(grant: OAuth2Grant, url: string): Record<string, string> {
  switch (grant.flow) {
    case 'Microsoft': {
      const form: Record<string, string> = { client_id: grant.clientId, scope: grant.scope, grant_type: 'client_credentials' };
      if (grant.certificate) {
        form.client_assertion_type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
        form.client_assertion = microsoftClientAssertion(url, grant.clientId, grant.certificate.certificatePem, grant.certificate.privateKeyPem);
      } else {
        form.client_secret = grant.clientSecret ?? '';
      }
      return form;
    }
    case 'Google': {
      const key = serviceAccountKey(grant.serviceAccountJson);
      return { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: googleAssertion(key, grant.subject, grant.scope, url) };
    }
    case 'RefreshToken': {
      const form: Record<string, string> = { grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: grant.clientId };
      if (grant.clientSecret) form.client_secret = grant.clientSecret;
      if (grant.scope) form.scope = grant.scope;
      return form;
    }
  }
}

function serviceAccountKey(json: string): { client_email: string; private_key: string; private_key_id?: string } {
  let key: Record<string, unknown>;
  try {
    key = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new TokenError(TokenReason.TokenRequestFailed, 'The service account key is not JSON: put the JSON key file from the Google Cloud console in the Secret.', false);
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
    throw new TokenError(
      TokenReason.TokenRequestFailed,
      'The service account key has no client_email or private_key: put the JSON key of a service account (type service_account) in the Secret.',
      false,
    );
  }
  return { client_email: key.client_email, private_key: key.private_key, ...(typeof key.private_key_id === 'string' ? { private_key_id: key.private_key_id } : {}) };
}

/** Microsoft appends trace and correlation ids (and a timestamp) to error_description: cut them. */
function shorten(description: string): string {
  return description.replace(/\s*(Trace ID|Correlation ID|Timestamp):[\s\S]*$/i, '').replace(/\s+/g, ' ').trim().slice(0, 400);
}

function tokenFailure(url: string, status: number, body: Record<string, unknown>, secrets: string[]): TokenError {
  const error = typeof body.error === 'string' ? body.error : undefined;
  const description = typeof body.error_description === 'string' ? shorten(body.error_description) : undefined;
  const said = secrets.reduce((t, secret) => redact(t, secret), [error, description].filter(Boolean).join(': ') || `HTTP ${status}`);
  if (status >= 500 || status === 429) {
    return new TokenError(TokenReason.TokenRequestFailed, `The token endpoint ${url} answered HTTP ${status} ("${said}"); will retry.`, true, status);
  }
  if (error === 'invalid_grant') {
    return new TokenError(
      TokenReason.InvalidGrant,
      `The token endpoint ${url} refused the grant ("${said}"): the refresh token was revoked or expired, or the service account ` +
        'is not allowed to act for this user (domain-wide delegation of the scope); renew the grant and update the Secret.',
      false,
      status,
    );
  }
  return new TokenError(
    TokenReason.TokenRequestFailed,
    `The token endpoint ${url} refused the request (HTTP ${status}, "${said}"): check the client id, secret or certificate, tenant and scope.`,
    false,
    status,
  );
}
