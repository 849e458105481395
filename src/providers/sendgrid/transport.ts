// Sends through SendGrid's v3 Mail Send API (POST /v3/mail/send) with the official
// @sendgrid/client, one client per request on the transport's own connection pool.
// 202 Accepted with X-Message-Id is success; every other answer becomes a SendError.
import type { ApiAccount, OutboundMessage, SendResult, Transport } from '../types.ts';
import { SendError } from '../types.ts';
import { DEFAULT_SEND_TIMEOUT_MS, pooledAgents, type HttpAgents } from '../http-api/calls.ts';
import { customHeaders } from '../http-api/custom-headers.ts';
import { sendFailure } from '../http-api/failures.ts';
import { SendReason, type ProviderCheckOptions } from '../http-api/reasons.ts';
import { callSendGrid } from './api.ts';
import { sendGridBaseUrl } from './urls.ts';

export interface SendGridTransportOptions {
  /** Per-request timeout. Default 30s. */
  timeoutMs?: number;
  /** Maximum parallel connections to the API. Default 16. */
  maxSockets?: number;
  regionBaseUrls?: ProviderCheckOptions['regionBaseUrls'];
}

interface EmailObject {
  email: string;
  name?: string;
}

/** The JSON body of POST /v3/mail/send for one message. */
export interface SendGridMailBody {
  personalizations: { to: EmailObject[]; cc?: EmailObject[]; bcc?: EmailObject[] }[];
  from: EmailObject;
  reply_to?: EmailObject;
  subject: string;
  content: { type: 'text/plain' | 'text/html'; value: string }[];
  attachments?: { content: string; filename: string; type: string; disposition: 'attachment' | 'inline'; content_id?: string }[];
  headers?: Record<string, string>;
  ip_pool_name?: string;
}

/** Recipients with duplicates removed: SendGrid refuses an address twice across to, cc and bcc. */
function unique(list: string[] | undefined, seen: Set<string>): EmailObject[] {
  const out: EmailObject[] = [];
  for (const raw of list ?? []) {
    const email = raw.trim();
    const k = email.toLowerCase();
    if (!email || seen.has(k)) continue;
    seen.add(k);
    out.push({ email });
  }
  return out;
}

/** Maps a message to SendGrid's Mail Send body. Throws SendError(InvalidMessage) when it cannot be sent. */
export function sendGridMailBody(message: OutboundMessage, ipPool?: string): SendGridMailBody {
  const seen = new Set<string>();
  const to = unique(message.to, seen);
  const cc = unique(message.cc, seen);
  const bcc = unique(message.bcc, seen);
  if (!to.length) {
    throw new SendError('The message has no To recipient; SendGrid needs at least one.', {
      reason: SendReason.InvalidMessage,
      permanent: true,
    });
  }
  // SendGrid requires text/plain before text/html.
  const content: SendGridMailBody['content'] = [];
  if (message.text) content.push({ type: 'text/plain', value: message.text });
  if (message.html) content.push({ type: 'text/html', value: message.html });
  if (!content.length) {
    throw new SendError('The message has neither text nor html content.', { reason: SendReason.InvalidMessage, permanent: true });
  }
  const personalization: SendGridMailBody['personalizations'][number] = { to };
  if (cc.length) personalization.cc = cc;
  if (bcc.length) personalization.bcc = bcc;
  const body: SendGridMailBody = {
    personalizations: [personalization],
    from: message.from.name ? { email: message.from.address, name: message.from.name } : { email: message.from.address },
    subject: message.subject,
    content,
  };
  if (message.replyTo) body.reply_to = { email: message.replyTo };
  if (message.attachments?.length) {
    body.attachments = message.attachments.map((a) => ({
      content: a.content.toString('base64'),
      filename: a.filename,
      type: a.contentType,
      disposition: a.disposition ?? 'attachment',
      ...(a.contentId ? { content_id: a.contentId } : {}),
    }));
  }
  const headers = customHeaders(message.headers);
  // SendGrid carries a Message-ID given as a custom header (it is not among its reserved ones).
  const withId = message.messageId ? { ...headers, 'Message-ID': message.messageId } : headers;
  if (withId) body.headers = withId;
  const pool = ipPool?.trim();
  if (pool) body.ip_pool_name = pool;
  return body;
}

export class SendGridTransport implements Transport {
  readonly kind = 'SendGrid' as const;
  /** The base URL messages go to. */
  readonly endpoint: string;
  readonly #account: ApiAccount;
  readonly #timeoutMs: number;
  readonly #agents: HttpAgents;
  #closed = false;

  constructor(account: ApiAccount, opts: SendGridTransportOptions = {}) {
    this.#account = { ...account };
    this.endpoint = sendGridBaseUrl(account, opts.regionBaseUrls);
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.#agents = pooledAgents(opts.maxSockets ?? 16);
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (this.#closed) {
      throw new SendError('The SendGrid transport is closed.', { reason: SendReason.UpstreamUnavailable, permanent: false });
    }
    if (!this.#account.apiKey?.trim()) {
      throw new SendError('The SendGrid API key is empty; nothing was sent.', { reason: SendReason.UpstreamRejected, permanent: true });
    }
    const body = sendGridMailBody(message, this.#account.ipPool);
    const outcome = await callSendGrid(
      this.endpoint,
      this.#account.apiKey,
      { method: 'POST', path: '/v3/mail/send', body },
      { timeoutMs: this.#timeoutMs, agents: this.#agents, ...(signal ? { signal } : {}) },
    );
    if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) {
      const id = outcome.headers['x-message-id'];
      return {
        messageId: id ?? '',
        response: `${outcome.status} ${outcome.status === 202 ? 'Accepted' : 'OK'}${id ? ` X-Message-Id: ${id}` : ''}`,
      };
    }
    throw sendFailure(outcome, 'SendGrid', this.endpoint, this.#account.apiKey);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}
