// Sends through Microsoft Graph: POST /v1.0/users/{sender}/sendMail with the
// message in MIME form (base64, Content-Type text/plain). 202 Accepted is
// success; a refused token is renewed once; every other answer becomes a
// SendError that says whether a retry or the fallback SmtpTarget can help.
import { DEFAULT_SEND_TIMEOUT_MS, type CallOutcome } from '../http-api/calls.ts';
import { describeNetworkFailure, outcomeUnknownFor } from '../http-api/failures.ts';
import { SendReason } from '../http-api/reasons.ts';
import { retryAfterSeconds } from '../http-api/retry-after.ts';
import { identityEndpoints } from '../oauth2/endpoints.ts';
import { accessToken } from '../oauth2/token.ts';
import { grantSecrets, MICROSOFT_GRAPH_SCOPE, TokenError, type MicrosoftGrant } from '../oauth2/types.ts';
import { redact } from '../redact.ts';
import { SendError, type GraphAccount, type OutboundMessage, type SendResult, type Transport } from '../types.ts';
import { callGraph, graphError } from './api.ts';
import { mimeOf } from './mime.ts';

/** Graph refuses a sendMail request over 4 MB; the MIME body is base64, so this is the limit of that text. */
export const GRAPH_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export const graphGrant = (account: GraphAccount): MicrosoftGrant => ({ flow: 'Microsoft', ...account.app, scope: MICROSOFT_GRAPH_SCOPE });
export const graphBaseUrl = (account: GraphAccount) => (account.baseUrl ?? identityEndpoints().graph).replace(/\/+$/, '');

export class GraphTransport implements Transport {
  readonly kind = 'MicrosoftGraph' as const;
  readonly endpoint: string;
  readonly #account: GraphAccount;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(account: GraphAccount, opts: { timeoutMs?: number } = {}) {
    this.#account = account;
    this.endpoint = graphBaseUrl(account);
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (this.#closed) throw new SendError('The Microsoft Graph transport is closed.', { reason: SendReason.UpstreamUnavailable, permanent: false });
    const body = (await mimeOf(message)).toString('base64');
    if (body.length > GRAPH_MAX_REQUEST_BYTES) {
      throw new SendError(
        `The message is ${Math.ceil(body.length / 1024)} KiB as Graph takes it (base64 MIME), over the 4 MB limit of sendMail; ` +
          'nothing was sent. Send large attachments as links, or use an SMTP server.',
        { reason: 'MessageTooLarge', permanent: true, upstreamStatus: 413 },
      );
    }
    const path = `/v1.0/users/${encodeURIComponent(message.from.address)}/sendMail`;
    const grant = graphGrant(this.#account);
    let token = await this.#token(grant, false);
    const call = (t: string) =>
      callGraph(this.endpoint, t, { method: 'POST', path, body, contentType: 'text/plain' }, { timeoutMs: this.#timeoutMs, ...(signal ? { signal } : {}) });
    let outcome = await call(token.token);
    if (outcome.kind === 'response' && outcome.status === 401 && !token.fresh) {
      // Nothing was sent on a 401: a cached token the service no longer takes gets one fresh try.
      token = await this.#token(grant, true);
      outcome = await call(token.token);
    }
    if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
      const requestId = outcome.headers['request-id'];
      return {
        messageId: message.messageId ?? requestId ?? '',
        response: `${outcome.status} ${outcome.status === 202 ? 'Accepted' : 'OK'}${requestId ? ` request-id: ${requestId}` : ''}`,
      };
    }
    throw graphSendFailure(outcome, this.endpoint, grantSecrets(grant));
  }

  async #token(grant: MicrosoftGrant, renew: boolean) {
    try {
      return await accessToken(grant, { renew });
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      // A refused client is the EmailServer's fault (like a 401): permanent; an unreachable endpoint is temporary.
      throw new SendError(`Microsoft Graph: no access token: ${err.message}`, {
        reason: err.transient ? SendReason.UpstreamUnavailable : 'UpstreamAuthFailed',
        permanent: !err.transient,
        ...(err.transient ? {} : { upstreamStatus: 401 }),
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** The SendError of a sendMail answer that is not a 2xx (mirrors http-api's sendFailure, with Graph's error body). */
export function graphSendFailure(outcome: CallOutcome, endpoint: string, secrets: string[]): SendError {
  const scrub = (t: string) => secrets.reduce((s, secret) => redact(s, secret), t);
  if (outcome.kind === 'aborted') {
    return new SendError(`The send to Microsoft Graph was canceled before ${endpoint} answered; it may or may not have been accepted.`, {
      reason: SendReason.Canceled,
      permanent: false,
    });
  }
  if (outcome.kind !== 'response') {
    const outcomeUnknown = outcomeUnknownFor(outcome);
    return new SendError(scrub(`Could not reach Microsoft Graph at ${endpoint}: ${describeNetworkFailure(outcome)}.`), {
      reason: SendReason.UpstreamUnavailable,
      permanent: false,
      outcomeUnknown,
    });
  }
  const { status, headers } = outcome;
  const detail = graphError(outcome.body);
  const said = detail ? `: "${scrub(detail)}"` : '';
  if (status === 429) {
    const wait = retryAfterSeconds(headers, Date.now(), true);
    return new SendError(`Microsoft Graph is throttling (HTTP 429${said})${wait === undefined ? '' : `; retry after ${wait}s`}.`, {
      reason: SendReason.UpstreamRateLimited,
      permanent: false,
      upstreamStatus: status,
      ...(wait === undefined ? {} : { retryAfterSeconds: wait }),
    });
  }
  if (status >= 500) {
    const wait = retryAfterSeconds(headers, Date.now(), true);
    return new SendError(`Microsoft Graph is unavailable (HTTP ${status}${said}).`, {
      reason: SendReason.UpstreamUnavailable,
      permanent: false,
      upstreamStatus: status,
      ...(wait === undefined ? {} : { retryAfterSeconds: wait }),
    });
  }
  const hint =
    status === 401
      ? ' The app token was refused: check the app registration and its Mail.Send permission (admin consent).'
      : status === 403
        ? ' The app may not send as this mailbox: check Mail.Send with admin consent, and any application access policy that limits it to some mailboxes.'
        : '';
  return new SendError(`Microsoft Graph rejected the message (HTTP ${status}${said}).${hint}`, {
    reason: SendReason.UpstreamRejected,
    permanent: true,
    upstreamStatus: status,
  });
}
