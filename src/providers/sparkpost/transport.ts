// Sends through SparkPost's Transmissions API (POST /api/v1/transmissions) with the official
// `sparkpost` SDK (transmissions.send, whose cc/bcc support sets header_to and the CC header).
// A message a door received whole (SMTP) goes as it is, in content.email_rfc822, with every
// envelope recipient in the list; others are mapped onto content's fields.
// 200 with results.id is success unless every recipient was rejected.
import type { ApiAccount, OutboundMessage, SendResult, Transport } from '../types.ts';
import { rawBytes, SendError } from '../types.ts';
import { DEFAULT_SEND_TIMEOUT_MS, pooledAgents, type HttpAgents } from '../http-api/calls.ts';
import { customHeaders } from '../http-api/custom-headers.ts';
import { providerErrors, sendFailure } from '../http-api/failures.ts';
import { SendReason, type ProviderCheckOptions } from '../http-api/reasons.ts';
import { redact } from '../redact.ts';
import { callSparkPost, sparkPostSdk, type SparkPostSdk } from './api.ts';
import { sparkPostBaseUrl } from './urls.ts';

export interface SparkPostTransportOptions {
  /** Per-request timeout. Default 30s. */
  timeoutMs?: number;
  /** Maximum parallel connections to the API. Default 16. */
  maxSockets?: number;
  regionBaseUrls?: ProviderCheckOptions['regionBaseUrls'];
}

interface Recipient {
  address: { email: string };
}

/** What transmissions.send takes for one message (before the SDK's cc/bcc formatting). */
export interface SparkPostTransmission {
  options?: { ip_pool: string };
  recipients: Recipient[];
  cc?: Recipient[];
  bcc?: Recipient[];
  content: {
    /** The whole RFC 5322 message (then none of the fields below). */
    email_rfc822?: string;
    from?: { email: string; name?: string };
    subject?: string;
    text?: string;
    html?: string;
    reply_to?: string;
    headers?: Record<string, string>;
    attachments?: { name: string; type: string; data: string }[];
    /** Images the HTML refers to as cid:<name>. */
    inline_images?: { name: string; type: string; data: string }[];
  };
}

function unique(list: string[] | undefined, seen: Set<string>): Recipient[] {
  const out: Recipient[] = [];
  for (const raw of list ?? []) {
    const email = raw.trim();
    const k = email.toLowerCase();
    if (!email || seen.has(k)) continue;
    seen.add(k);
    out.push({ address: { email } });
  }
  return out;
}

/** Maps a message to a transmission. Throws SendError(InvalidMessage) when it cannot be sent. */
export function sparkPostTransmission(message: OutboundMessage, ipPool?: string): SparkPostTransmission {
  const seen = new Set<string>();
  const recipients = unique(message.to, seen);
  const cc = unique(message.cc, seen);
  const bcc = unique(message.bcc, seen);
  if (!recipients.length) {
    throw new SendError('The message has no To recipient; SparkPost needs at least one.', {
      reason: SendReason.InvalidMessage,
      permanent: true,
    });
  }
  const rfc822 = utf8(message.raw && rawBytes(message.raw));
  if (rfc822 !== undefined) {
    // The message carries its own To and Cc headers: every recipient goes in the list as it is.
    const all: SparkPostTransmission = { recipients: [...recipients, ...cc, ...bcc], content: { email_rfc822: rfc822 } };
    const rawPool = ipPool?.trim();
    if (rawPool) all.options = { ip_pool: rawPool };
    return all;
  }
  if (!message.text && !message.html) {
    throw new SendError('The message has neither text nor html content.', { reason: SendReason.InvalidMessage, permanent: true });
  }
  const content: SparkPostTransmission['content'] = {
    from: message.from.name ? { email: message.from.address, name: message.from.name } : { email: message.from.address },
    subject: message.subject,
  };
  if (message.text) content.text = message.text;
  if (message.html) content.html = message.html;
  if (message.replyTo) content.reply_to = message.replyTo;
  const headers = customHeaders(message.headers);
  if (headers) content.headers = headers;
  const inline = (message.attachments ?? []).filter((a) => a.disposition === 'inline' && a.contentId);
  const files = (message.attachments ?? []).filter((a) => !inline.includes(a));
  if (files.length) content.attachments = files.map((a) => ({ name: a.filename, type: a.contentType, data: a.content.toString('base64') }));
  // SparkPost names an inline image by the id the HTML uses (cid:<name>).
  if (inline.length) content.inline_images = inline.map((a) => ({ name: a.contentId!, type: a.contentType, data: a.content.toString('base64') }));
  const transmission: SparkPostTransmission = { recipients, content };
  if (cc.length) transmission.cc = cc;
  if (bcc.length) transmission.bcc = bcc;
  const pool = ipPool?.trim();
  if (pool) transmission.options = { ip_pool: pool };
  return transmission;
}

/** email_rfc822 is a JSON string: bytes that are not UTF-8 cannot travel in it, so such a message is composed from its fields. */
function utf8(raw: Buffer | undefined): string | undefined {
  if (!raw) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return undefined;
  }
}

interface TransmissionResults {
  id?: unknown;
  total_accepted_recipients?: unknown;
  total_rejected_recipients?: unknown;
  rcpt_to_errors?: unknown;
}

export class SparkPostTransport implements Transport {
  readonly kind = 'SparkPost' as const;
  /** The API origin messages go to. */
  readonly endpoint: string;
  readonly #account: ApiAccount;
  readonly #timeoutMs: number;
  readonly #agents: HttpAgents;
  readonly #sdk: SparkPostSdk;
  #closed = false;

  constructor(account: ApiAccount, opts: SparkPostTransportOptions = {}) {
    this.#account = { ...account };
    this.endpoint = sparkPostBaseUrl(account, opts.regionBaseUrls);
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.#agents = pooledAgents(opts.maxSockets ?? 16);
    // The SDK falls back to $SPARKPOST_API_KEY for an empty key: never build it with one.
    this.#sdk = sparkPostSdk(this.endpoint, account.apiKey?.trim() ? account.apiKey : 'unset', this.#agents);
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (this.#closed) {
      throw new SendError('The SparkPost transport is closed.', { reason: SendReason.UpstreamUnavailable, permanent: false });
    }
    if (!this.#account.apiKey?.trim()) {
      throw new SendError('The SparkPost API key is empty; nothing was sent.', { reason: SendReason.UpstreamRejected, permanent: true });
    }
    const transmission = sparkPostTransmission(message, this.#account.ipPool);
    const outcome = await callSparkPost(this.#sdk, this.#account.apiKey, (sdk) => sdk.transmissions.send(transmission), {
      timeoutMs: this.#timeoutMs,
      ...(signal ? { signal } : {}),
    });
    if (outcome.kind !== 'response' || outcome.status < 200 || outcome.status >= 300) {
      throw sendFailure(outcome, 'SparkPost', this.endpoint, this.#account.apiKey);
    }
    const results = ((outcome.body as { results?: unknown } | null)?.results ?? {}) as TransmissionResults;
    const accepted = typeof results.total_accepted_recipients === 'number' ? results.total_accepted_recipients : undefined;
    const rejected = typeof results.total_rejected_recipients === 'number' ? results.total_rejected_recipients : 0;
    if (accepted === 0 && rejected > 0) {
      const why = providerErrors({ errors: results.rcpt_to_errors }).map((t) => `"${redact(t, this.#account.apiKey)}"`);
      throw new SendError(
        `SparkPost rejected all ${rejected} recipient(s) of the message${why.length ? `: ${why.join(', ')}` : ''}.`,
        { reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: outcome.status },
      );
    }
    const id = typeof results.id === 'string' || typeof results.id === 'number' ? String(results.id) : '';
    return {
      messageId: id,
      response: `${outcome.status} OK: transmission ${id || '(no id)'}, ${accepted ?? '?'} accepted, ${rejected} rejected`,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}
