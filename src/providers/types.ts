// The contract between the controller / send endpoint and the outside world:
// connection checks that report what they found, and transports that deliver.
// Secret values enter here as plain strings and must never leave in a result,
// a message, an error or a log line.
import type { EntraCredentials, OAuth2Grant } from './oauth2/types.ts';

/** Outcome of one check (connection test, key check, sender verification). */
export interface CheckResult<F = undefined> {
  ok: boolean;
  /** CamelCase reason constant, e.g. Connected, AuthenticationFailed, Timeout. */
  reason: string;
  /** One sentence a person can act on. Names hosts, ports, keys; never a secret value. */
  message: string;
  /**
   * True when retrying later can help without anyone changing anything
   * (timeouts, refused connections, 5xx, 429). False when only a change of
   * the spec or a Secret can help (bad password, bad certificate, missing IP pool).
   */
  transient: boolean;
  /** Facts recorded on success (and where known on failure). */
  facts?: F;
  /** Neither passed nor failed: it cannot be known without sending (the condition is Unknown, with this reason). */
  unknown?: boolean;
}

export type SecurityMode = 'TLS' | 'STARTTLS' | 'None';

export interface TlsOptions {
  /** PEM CA bundle to trust instead of the system roots. */
  ca?: string;
  serverName?: string;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  insecureSkipVerify?: boolean;
}

export interface Login {
  username: string;
  password: string;
}

/** AUTH XOAUTH2 as `user`, with an access token of `grant` (fetched and cached by providers/oauth2). */
export interface OAuth2Login {
  user: string;
  oauth2: OAuth2Grant;
}

/** Everything needed to open an SMTP connection, with Secrets already resolved. */
export interface SmtpEndpoint {
  host: string;
  port: number;
  security: SecurityMode;
  auth?: Login | OAuth2Login;
  tls?: TlsOptions;
  pool?: { maxConnections: number; maxMessagesPerConnection: number };
  /** What the last connection test saw: false when the server did not announce 8BITMIME. */
  eightBitMime?: boolean;
  /** Likewise for SMTPUTF8 (RFC 6531): false means internationalized addresses cannot go this way. */
  smtpUtf8?: boolean;
}

export interface SmtpFacts {
  checkedAt: string;
  latencyMs: number;
  greeting?: string;
  tlsVersion?: string;
  tlsCipher?: string;
  certificateSubject?: string;
  certificateIssuer?: string;
  certificateNotAfter?: string;
  extensions?: string[];
  authMechanisms?: string[];
}

export type Region = 'US' | 'EU';

/** A provider API account, with the key already resolved. */
export interface ApiAccount {
  apiKey: string;
  region: Region;
  ipPool?: string;
  /** Base URL override (tests, proxies). Absent: the region's public URL. */
  baseUrl?: string;
}

export interface ProviderFacts {
  checkedAt: string;
  latencyMs: number;
  endpoint: string;
  account?: string;
  scopes?: string[];
  ipPool?: string;
}

export interface MailboxEndpoint {
  protocol: 'IMAP' | 'POP3';
  host: string;
  port: number;
  security: SecurityMode;
  auth: Login;
  tls?: TlsOptions;
  mailbox?: string;
}

export interface MailboxFacts {
  checkedAt: string;
  latencyMs: number;
  greeting?: string;
  capabilities?: string[];
}

export interface CheckOptions {
  /** Per-step timeout (connect, greeting, TLS, each command). Default 10s. */
  stepTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A message ready to go upstream: addresses already validated, From already the identity's. */
/** A message's bytes: one buffer, or parts that are the message in order. */
export type RawMessage = Buffer | Buffer[];

/** The parts of a message's bytes, for streaming them without joining. */
export function rawParts(raw: RawMessage): Buffer[] {
  return Buffer.isBuffer(raw) ? [raw] : raw;
}

/** The message's bytes in one buffer (a copy when in parts), for APIs that take one. */
export function rawBytes(raw: RawMessage): Buffer {
  return Buffer.isBuffer(raw) ? raw : Buffer.concat(raw);
}

export interface OutboundMessage {
  from: { name?: string; address: string };
  /** The Message-ID header, `<id@domain>`: the caller's, or one the pipeline chose (stable per Idempotency-Key). */
  messageId?: string;
  /**
   * The whole message as it is to go out, when a door received one (SMTP): the
   * SMTP transport sends these bytes as they are; the fields above still say what
   * it holds, for transports that compose their own. In parts when the relay edited
   * the header section: its fields, then the client's body as received, not copied.
   */
  raw?: RawMessage;
  replyTo?: string;
  to: string[];
  cc?: string[];
  bcc?: string[];
  /** The SMTP client declared SMTPUTF8 (RFC 6531): recipients may have UTF-8 local parts. */
  smtpUtf8?: boolean;
  subject: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  /** `contentId` (without angle brackets) with `inline`: an image the HTML refers to as `cid:<contentId>`. */
  attachments?: { filename: string; contentType: string; content: Buffer; contentId?: string; disposition?: 'attachment' | 'inline' }[];
  /** Sign with these keys when the message leaves through SMTP (API providers sign with their own domain authentication). */
  dkim?: DkimSigning;
}

/** One DKIM key, resolved from its Secret: the private key is a secret value. */
export interface DkimKey {
  domain: string;
  selector: string;
  /** PEM, PKCS#8 or PKCS#1. */
  privateKey: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
}

/** How a message is signed: one or two keys (RSA and Ed25519), over these header fields. */
export interface DkimSigning {
  keys: DkimKey[];
  headers: string[];
}

export interface SendResult {
  /** The id the upstream gave the message (SMTP queue id, X-Message-Id, transmission id). */
  messageId: string;
  /** What the upstream said, e.g. "250 2.0.0 Ok: queued as ABC". */
  response?: string;
}

/**
 * Why a send failed. `permanent` means the upstream refused this message and a
 * retry (or a fallback) would be refused too (4xx from an API, 5xx from SMTP);
 * otherwise the failure is temporary (network, timeout, 5xx from an API, 429,
 * SMTP 4xx) and a fallback or a later retry may succeed.
 */
export class SendError extends Error {
  readonly reason: string;
  readonly permanent: boolean;
  /** Seconds the upstream asked us to wait, if it said. */
  readonly retryAfterSeconds?: number;
  /** Upstream status: HTTP status or SMTP reply code. */
  readonly upstreamStatus?: number;
  /**
   * The upstream had the whole message when the connection broke, before it said
   * whether it accepted it: it may have been delivered. Never retried or sent to a fallback here.
   */
  readonly outcomeUnknown: boolean;

  constructor(
    message: string,
    opts: { reason: string; permanent: boolean; retryAfterSeconds?: number; upstreamStatus?: number; outcomeUnknown?: boolean; cause?: unknown },
  ) {
    super(message, { cause: opts.cause });
    this.name = 'SendError';
    this.reason = opts.reason;
    this.permanent = opts.permanent;
    if (opts.retryAfterSeconds !== undefined) this.retryAfterSeconds = opts.retryAfterSeconds;
    if (opts.upstreamStatus !== undefined) this.upstreamStatus = opts.upstreamStatus;
    this.outcomeUnknown = opts.outcomeUnknown ?? false;
  }
}

export type ApiProvider = 'SendGrid' | 'SparkPost';

/** A Microsoft Graph sender: the Entra app (Secrets resolved) and its sendMail options. */
export interface GraphAccount {
  app: EntraCredentials;
  saveToSentItems: boolean;
  /** Base URL override (tests, proxies). Absent: the configured Graph URL. */
  baseUrl?: string;
}

/** Where mail leaves, with Secrets resolved: an SMTP endpoint, or a provider API account. */
export type SenderRoute =
  | { provider: 'SMTP'; endpoint: SmtpEndpoint }
  | { provider: ApiProvider; account: ApiAccount; describeKey: string }
  | { provider: 'MicrosoftGraph'; account: GraphAccount; describeKey: string };

/** One way out: an SMTP pool, the SendGrid, SparkPost or Microsoft Graph API. */
export interface Transport {
  readonly kind: 'SMTP' | 'SendGrid' | 'SparkPost' | 'MicrosoftGraph';
  /** Resolves once the upstream accepted the message; rejects with SendError otherwise. */
  send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}
