// The SMTP way out: a pooled nodemailer transport behind the Transport contract.
// send() resolves only on the server's 250 after DATA; every failure becomes a
// SendError that says whether a retry or a fallback can help, and whether the
// server already had the whole message (then the outcome is unknown).
import { isAscii } from 'node:buffer';
import { pipeline, Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { Mail, NodemailerError, SendMailOptions } from 'nodemailer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import SMTPPool from 'nodemailer/lib/smtp-pool';
import type { SMTPPoolOptions, SMTPPoolSentMessageInfo } from 'nodemailer/lib/smtp-pool';
import { needsSmtpUtf8, parseMailbox } from '../../mail/address.ts';
import { composeOptions } from '../compose.ts';
import type { DkimSignTransform } from '../dkim/sign.ts';
import { rawParts, SendError } from '../types.ts';
import { composeMime } from './mime.ts';
import { transportAuth } from './transport-auth.ts';
import { passwordForms } from './with-session.ts';
import type { DkimSigning, OutboundMessage, RawMessage, SendResult, SmtpEndpoint, Transport } from '../types.ts';

export const SmtpSendReason = {
  UpstreamRejected: 'UpstreamRejected',
  UpstreamTemporaryFailure: 'UpstreamTemporaryFailure',
  UpstreamUnavailable: 'UpstreamUnavailable',
  /** The message has 8-bit bytes and the server does not take 8BITMIME: sending it would corrupt it. */
  EightBitMimeUnsupported: 'EightBitMimeUnsupported',
  /** A recipient's address is internationalized and the server does not take SMTPUTF8 (RFC 6531). */
  SmtpUtf8Unsupported: 'SmtpUtf8Unsupported',
  /** The connection broke after the whole message was sent, before the server's reply. */
  UpstreamOutcomeUnknown: 'UpstreamOutcomeUnknown',
  UpstreamAuthFailed: 'UpstreamAuthFailed',
  UpstreamTLSFailed: 'UpstreamTLSFailed',
  MessageRefused: 'MessageRefused',
  Aborted: 'Aborted',
  TransportClosed: 'TransportClosed',
} as const;

export interface SmtpTransportTimeouts {
  /** TCP connect (and DNS), default 15s. */
  connectionTimeoutMs?: number;
  /** Greeting after connect, default 15s. */
  greetingTimeoutMs?: number;
  /** Silence on an open connection (also an idle pooled one), default 60s. */
  socketTimeoutMs?: number;
}

/** nodemailer pool options for an endpoint: the one place security modes map to nodemailer's flags. */
export function smtpTransportOptions(endpoint: SmtpEndpoint, timeouts: SmtpTransportTimeouts = {}): SMTPPoolOptions & { pool: true } {
  const t = endpoint.tls ?? {};
  return {
    pool: true,
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.security === 'TLS',
    // STARTTLS is required, never a silent fall back to plain text; None never upgrades.
    requireTLS: endpoint.security === 'STARTTLS',
    ignoreTLS: endpoint.security === 'None',
    ...transportAuth(endpoint.auth),
    ...(t.serverName ? { servername: t.serverName } : {}),
    tls: {
      rejectUnauthorized: !t.insecureSkipVerify,
      ...(t.ca ? { ca: t.ca } : {}),
      ...(t.serverName ? { servername: t.serverName } : {}),
      ...(t.minVersion ? { minVersion: t.minVersion } : {}),
    },
    maxConnections: endpoint.pool?.maxConnections ?? 5,
    maxMessages: endpoint.pool?.maxMessagesPerConnection ?? 100,
    // One retry on a fresh connection covers a pooled connection the server dropped
    // while idle; more would only delay the caller's answer.
    maxRequeues: 1,
    connectionTimeout: timeouts.connectionTimeoutMs ?? 15_000,
    greetingTimeout: timeouts.greetingTimeoutMs ?? 15_000,
    socketTimeout: timeouts.socketTimeoutMs ?? 60_000,
    dnsTimeout: timeouts.connectionTimeoutMs ?? 15_000,
    // Message parts are buffers from the caller: never let one name a file or URL to read.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  };
}

export class SmtpTransport implements Transport {
  readonly kind = 'SMTP' as const;
  readonly #pool: SMTPPool;
  readonly #mailer: Mail<SMTPPoolSentMessageInfo, SMTPPoolOptions>;
  readonly #target: string;
  readonly #secrets: string[];
  readonly #eightBitMime: boolean | undefined;
  readonly #smtpUtf8: boolean | undefined;
  #closing: Promise<void> | undefined;

  constructor(endpoint: SmtpEndpoint, timeouts: SmtpTransportTimeouts = {}) {
    this.#pool = new SMTPPool(smtpTransportOptions(endpoint, timeouts));
    this.#mailer = nodemailer.createTransport(this.#pool);
    this.#mailer.use('stream', signDkim);
    this.#mailer.use('stream', trackHandOver);
    this.#target = `${endpoint.host}:${endpoint.port}`;
    this.#secrets = passwordForms(endpoint);
    this.#eightBitMime = endpoint.eightBitMime;
    this.#smtpUtf8 = endpoint.smtpUtf8;
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (this.#closing) {
      throw new SendError(`The SMTP transport to ${this.#target} is closed.`, { reason: SmtpSendReason.TransportClosed, permanent: false });
    }
    // Scanned once: the refusal below and BODY=8BITMIME both depend on it.
    const eightBit = !!message.raw && rawParts(message.raw).some((part) => !isAscii(part));
    if (eightBit && this.#eightBitMime === false) {
      // Carried unchanged or not at all: re-encoding the client's MIME is not a relay's business.
      throw new SendError(`${this.#target} does not take 8-bit messages (no 8BITMIME) and this one has 8-bit content; nothing was sent.`, {
        reason: SmtpSendReason.EightBitMimeUnsupported,
        permanent: true,
      });
    }
    const international = this.#smtpUtf8 === false ? envelopeRecipients(message).find(needsSmtpUtf8) : undefined;
    if (international) {
      // nodemailer would send it without SMTPUTF8 and the server would take or mangle a name it cannot read.
      throw new SendError(`${this.#target} does not take internationalized addresses (no SMTPUTF8), and <${international}> is one; nothing was sent.`, {
        reason: SmtpSendReason.SmtpUtf8Unsupported,
        permanent: true,
      });
    }
    const progress: Progress = { handedOver: false };
    try {
      const dkim = message.dkim?.keys.length ? { signing: message.dkim, Signer: await loadSigner() } : undefined;
      // The client's bytes (SMTP door), or the fields composed in one pass (mime.ts); MailComposer for the rest.
      const raw = message.raw ?? composeMime(message, new Date());
      if (raw) {
        const info = await this.#sendRaw(message, raw, eightBit, progress, signal, dkim);
        return { messageId: queueId(info.response) ?? info.messageId, response: info.response };
      }
      const info = await this.#mailer.sendMail({
        ...mailOptions(message, signal),
        [PROGRESS]: progress,
        ...(dkim ? { [DKIM]: dkim } : {}),
      } as SendMailOptions);
      return { messageId: queueId(info.response) ?? info.messageId, response: info.response };
    } catch (err) {
      throw this.#sendError(err, progress.handedOver);
    }
  }

  /**
   * Pass-through: the bytes go to the pool as they are, with an explicit envelope.
   * nodemailer's Mail and MimeNode would parse the envelope addresses again, make a
   * Message-ID and a MIME boundary from random bytes and wrap the bytes in streams,
   * all for a message that is already finished; the pool needs only what it reads here.
   */
  #sendRaw(message: OutboundMessage, raw: RawMessage, eightBit: boolean, progress: Progress, signal: AbortSignal | undefined, dkim: Dkim | undefined): Promise<SMTPPoolSentMessageInfo> {
    const envelope = {
      from: message.from.address,
      to: envelopeRecipients(message),
      ...(eightBit ? { use8BitMime: true } : {}),
    };
    const messageId = message.messageId ?? '';
    const mail = {
      data: signal ? { signal } : {},
      message: {
        getEnvelope: () => envelope,
        messageId: () => messageId,
        getHeader: (key: string) => (key.toLowerCase() === 'message-id' ? messageId : undefined),
        // Called again when the pool retries on a fresh connection: a new stream each time.
        createReadStream: () => {
          let stream: Readable = bytesOf(raw);
          if (dkim) {
            const signer = new dkim.Signer(dkim.signing);
            pipeline(stream, signer, () => undefined);
            stream = signer;
          }
          // The connection reads the stream to its end only after DATA's 354: then the server has it all.
          return stream.once('end', () => (progress.handedOver = true));
        },
      },
    };
    return new Promise((resolve, reject) => {
      this.#pool.send(mail as unknown as Parameters<SMTPPool['send']>[0], (err, info) => (err || !info ? reject(err ?? new Error('the pool gave no send result')) : resolve(info)));
    });
  }

  /** Stops taking messages, lets queued and in-flight ones finish, then closes the pool. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#pool.pendingCount() > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      this.#mailer.close();
    })();
    return this.#closing;
  }

  #sendError(err: unknown, handedOver: boolean): SendError {
    const e = (err ?? {}) as NodemailerError;
    const response = e.response ? this.#redact(e.response) : undefined;
    const status = e.responseCode;
    const at = e.command && e.command !== 'API' && e.command !== 'CONN' ? ` at ${e.command}` : '';
    const opts = (reason: string, permanent: boolean) => ({ reason, permanent, cause: err, ...(status ? { upstreamStatus: status } : {}) });
    if (e.code === 'EABORT' || e.name === 'AbortError') {
      return new SendError(`Sending through ${this.#target} was cancelled.`, opts(SmtpSendReason.Aborted, false));
    }
    if (e.code === 'EAUTH' || e.code === 'ENOAUTH') {
      // Not permanent: the message is fine, and a fallback with other credentials may take it.
      const said = response ? ` ("${response}")` : '';
      return new SendError(`${this.#target} refused the login${said}: check the SmtpTarget's credentials.`, opts(SmtpSendReason.UpstreamAuthFailed, false));
    }
    const detail = [e.code, e.originalCode].filter(Boolean).join('/') || this.#redact(String(e.message));
    const tlsError = !status && /CERT|SSL|TLS/i.test(`${e.originalCode ?? ''} ${e.message ?? ''}`);
    if (e.code === 'ETLS' || e.command === 'STARTTLS' || tlsError) {
      // The connection, not the message, is at fault (certificate, no STARTTLS): never permanent.
      const said = response ? `: "${response}"` : ` (${detail})`;
      return new SendError(`No secure connection to ${this.#target}${said}; check the SmtpTarget's security and tls settings.`, opts(SmtpSendReason.UpstreamTLSFailed, false));
    }
    if (status && status >= 500 && status !== 503) {
      return new SendError(`${this.#target} rejected the message${at}: "${response}".`, opts(SmtpSendReason.UpstreamRejected, true));
    }
    if (status && status >= 400) {
      return new SendError(`${this.#target} deferred the message${at}: "${response}"; try again later.`, opts(SmtpSendReason.UpstreamTemporaryFailure, false));
    }
    if (handedOver && !status) {
      // Every byte went out and no reply came back: the server may have queued it.
      return new SendError(`The connection to ${this.#target} broke after the message was sent and before the server answered (${detail}).`, {
        ...opts(SmtpSendReason.UpstreamOutcomeUnknown, false),
        outcomeUnknown: true,
      });
    }
    if (e.code === 'EMESSAGE' || e.code === 'EENVELOPE') {
      // Refused before the server saw it (too large for the advertised SIZE, no recipients).
      return new SendError(`The message cannot go to ${this.#target}: ${this.#redact(e.message)}.`, opts(SmtpSendReason.MessageRefused, true));
    }
    return new SendError(`Could not deliver through ${this.#target} (${detail}); a retry may succeed.`, opts(SmtpSendReason.UpstreamUnavailable, false));
  }

  #redact(text: string): string {
    return this.#secrets.reduce((t, s) => t.split(s).join('[redacted]'), text);
  }
}

/** Where a send stands: whether the SMTP connection has read the whole message (it does so only after DATA's 354). */
interface Progress {
  handedOver: boolean;
}
/** A key nodemailer copies into mail.data with the other options (symbols it would not). */
const PROGRESS = 'postmasterProgress';

/**
 * A nodemailer 'stream' plugin: the message stream the connection reads ends
 * only once every byte was written to the server, so a failure after that is
 * an unknown outcome (the server may have queued it), not "nothing was sent".
 */
function trackHandOver(mail: { data: SendMailOptions; message: { createReadStream(options?: unknown): NodeJS.ReadableStream } }, done: (err?: Error | null) => void): void {
  const progress = (mail.data as Record<string, Progress | undefined>)[PROGRESS];
  if (progress) {
    const create = mail.message.createReadStream.bind(mail.message);
    mail.message.createReadStream = (options?: unknown) => create(options).once('end', () => (progress.handedOver = true));
  }
  done();
}

/** Where the message's signing keys ride in mail.data (nodemailer's own `dkim` option is RSA only). */
const DKIM = 'postmasterDkim';

/** The keys to sign with, and the signer (mailauth, loaded by the first message signed: many servers sign none). */
interface Dkim {
  signing: DkimSigning;
  Signer: typeof DkimSignTransform;
}
let signer: Promise<typeof DkimSignTransform> | undefined;
const loadSigner = () => (signer ??= import('../dkim/sign.ts').then((m) => m.DkimSignTransform));

/**
 * A nodemailer 'stream' plugin: the finished message (every header nodemailer
 * and the pipeline set, Date and Message-ID included) passes through the DKIM
 * signer, which prepends its DKIM-Signature fields; the bytes signed are the bytes sent.
 */
function signDkim(mail: { data: SendMailOptions; message: { processFunc(fn: (input: NodeJS.ReadableStream) => NodeJS.ReadableStream): void } }, done: (err?: Error | null) => void): void {
  const dkim = (mail.data as Record<string, Dkim | undefined>)[DKIM];
  if (dkim) {
    mail.message.processFunc((input) => {
      const signer = new dkim.Signer(dkim.signing);
      pipeline(input as Readable, signer, () => undefined);
      return signer;
    });
  }
  done();
}

/** A message nodemailer composes (the pass-through bytes go by #sendRaw). */
function mailOptions(message: OutboundMessage, signal: AbortSignal | undefined): SendMailOptions {
  const { from } = message;
  const envelope = { from: from.address, to: [...message.to, ...(message.cc ?? []), ...(message.bcc ?? [])] };
  return {
    ...composeOptions(message),
    // Explicit envelope: the identity's address as sender; bcc only here, never in a header.
    envelope,
    ...(signal ? { signal } : {}),
  };
}

/** The bare address of a mailbox the pipeline checked (`Name <a@b>` or `a@b`). */
function envelopeRecipients(message: OutboundMessage): string[] {
  return [...message.to, ...(message.cc ?? []), ...(message.bcc ?? [])].map(envelopeAddress);
}

function envelopeAddress(mailbox: string): string {
  // The pipeline checked the addresses; UTF-8 local parts are there only when the client declared SMTPUTF8.
  return parseMailbox(mailbox, { utf8LocalPart: true }).mailbox?.address ?? mailbox;
}

// nodemailer writes a message and its final "." in separate socket writes (the data
// stream's transform, then its flush), each a system call and a wake-up of the
// server. The socket is corked while the data stream runs and uncorked when it ends,
// so a small message leaves in one write; a large one is flushed whenever the socket's
// buffer reaches its high-water mark, where the pipe pauses for 'drain' (which a
// corked socket would never emit).
type CorkableSocket = NodeJS.WritableStream & { cork(): void; uncork(): void; writableLength: number; writableHighWaterMark: number };
type Connection = { _socket?: CorkableSocket; _createSendStream(cb: unknown): Readable };
const connectionProto = SMTPConnection.prototype as unknown as Connection;
const createSendStream = connectionProto._createSendStream;
connectionProto._createSendStream = function (this: Connection, callback: unknown) {
  const stream = createSendStream.call(this, callback);
  const socket = this._socket;
  if (!socket) return stream;
  socket.cork();
  let corked = true;
  const uncork = () => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  stream.on('data', () => {
    if (socket.writableLength < socket.writableHighWaterMark) return;
    socket.uncork();
    socket.cork();
  });
  stream.once('end', () => process.nextTick(uncork));
  stream.once('error', uncork);
  stream.once('close', uncork);
  return stream;
};

/** A stream of one Buffer, in one chunk. */
/** The message's parts as a stream, each pushed as it is (no copy). */
function bytesOf(raw: RawMessage): Readable {
  return new Readable({
    read() {
      for (const part of rawParts(raw)) this.push(part);
      this.push(null);
    },
  });
}

/** The queue id the server named in its 250 ("queued as 4Xyz", Exim's "id=1abc-..."), if it did. */
function queueId(response: string | undefined): string | undefined {
  const m = /queued as ([A-Za-z0-9._-]+)/i.exec(response ?? '') ?? /\bid=([A-Za-z0-9._-]+)/.exec(response ?? '');
  return m?.[1];
}
