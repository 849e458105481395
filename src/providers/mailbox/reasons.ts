// Reasons, messages and error classification shared by the IMAP and POP3 checks.
// Every message names protocol, host, port and (where it helps) the username;
// the password never enters one: server text is cut, stripped of control
// characters and scrubbed of the password before it is quoted.
import type { CheckResult, MailboxEndpoint, MailboxFacts } from '../types.ts';

export const MailboxReason = {
  Connected: 'Connected',
  DNSLookupFailed: 'DNSLookupFailed',
  ConnectionRefused: 'ConnectionRefused',
  Timeout: 'Timeout',
  TLSHandshakeFailed: 'TLSHandshakeFailed',
  CertificateUntrusted: 'CertificateUntrusted',
  CertificateExpired: 'CertificateExpired',
  STARTTLSNotOffered: 'STARTTLSNotOffered',
  AuthenticationFailed: 'AuthenticationFailed',
  MailboxNotFound: 'MailboxNotFound',
  /** The server answered, but says it cannot serve now (IMAP [UNAVAILABLE], POP3 [SYS/TEMP] or [IN-USE], BYE). */
  ServerUnavailable: 'ServerUnavailable',
  ProtocolError: 'ProtocolError',
} as const;
export type MailboxReason = (typeof MailboxReason)[keyof typeof MailboxReason];

/**
 * Whether retrying later can help without anyone changing the spec or a Secret.
 * ProtocolError counts as transient: an unexpected answer or a dropped connection is
 * as often a passing server problem as a wrong port, and a retry backs off anyway.
 */
export const transientReasons: Readonly<Record<MailboxReason, boolean>> = {
  Connected: false,
  DNSLookupFailed: true,
  ConnectionRefused: true,
  Timeout: true,
  TLSHandshakeFailed: false,
  CertificateUntrusted: false,
  CertificateExpired: false,
  STARTTLSNotOffered: false,
  AuthenticationFailed: false,
  MailboxNotFound: false,
  ServerUnavailable: true,
  ProtocolError: true,
};

/** Where in the conversation a check was when it ended. */
export type Step =
  | 'connect'
  | 'tls'
  | 'greeting'
  | 'capabilities'
  | 'starttls'
  | 'login'
  | 'mailbox'
  | 'logout';

const stepText: Record<Step, string> = {
  connect: 'connecting',
  tls: 'doing the TLS handshake',
  greeting: 'waiting for the greeting',
  capabilities: 'asking for capabilities',
  starttls: 'starting TLS (STARTTLS)',
  login: 'logging in',
  mailbox: 'opening the mailbox',
  logout: 'logging out',
};

/** A check's failure at a known step. Thrown inside the checks, turned into a CheckResult at their edge. */
export class MailboxCheckError extends Error {
  readonly reason: MailboxReason;
  readonly step: Step;
  /** What the server said, or the error code; quoted in the message after sanitising. */
  readonly detail: string | undefined;

  constructor(reason: MailboxReason, step: Step, detail?: string, cause?: unknown) {
    super(`${reason} while ${stepText[step]}${detail ? `: ${detail}` : ''}`, { cause });
    this.name = 'MailboxCheckError';
    this.reason = reason;
    this.step = step;
    this.detail = detail;
  }
}

const dnsCodes = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_NODATA', 'EAI_FAIL']);
const refusedCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const expiredCodes = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const untrustedCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Classifies a socket or TLS error raised at `step`. Certificate errors win over
 * the step (Node reports them after the handshake), DNS and refusals are only
 * what they say, and anything else during a handshake is a handshake failure.
 */
export function classifySocketError(err: unknown, step: Step): MailboxCheckError {
  if (err instanceof MailboxCheckError) return err;
  const code = errorCode(err) ?? '';
  const detail = errorDetail(err, code);
  if (dnsCodes.has(code)) return new MailboxCheckError(MailboxReason.DNSLookupFailed, 'connect', code, err);
  if (refusedCodes.has(code)) return new MailboxCheckError(MailboxReason.ConnectionRefused, 'connect', code, err);
  if (code === 'ETIMEDOUT') return new MailboxCheckError(MailboxReason.Timeout, step, code, err);
  if (expiredCodes.has(code)) return new MailboxCheckError(MailboxReason.CertificateExpired, step, detail, err);
  if (untrustedCodes.has(code)) return new MailboxCheckError(MailboxReason.CertificateUntrusted, step, detail, err);
  if (step === 'tls' || step === 'starttls' || code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    return new MailboxCheckError(MailboxReason.TLSHandshakeFailed, step, detail, err);
  }
  return new MailboxCheckError(MailboxReason.ProtocolError, step, detail || 'the connection failed', err);
}

/** A short text for a Node error: the code, and OpenSSL's reason rather than its whole error string. */
function errorDetail(err: unknown, code: string): string {
  const opensslReason = typeof err === 'object' && err !== null ? (err as { reason?: unknown }).reason : undefined;
  let text = typeof opensslReason === 'string' && opensslReason ? opensslReason : err instanceof Error ? err.message : String(err);
  // Node appends advice about its own flags to certificate errors; it does not apply to a controller.
  text = text.replace(/; if the root CA is installed locally.*$/s, '');
  return code && !text.includes(code) ? `${code}: ${text}` : text;
}

/** What a message may say about the endpoint. */
export interface Subject {
  protocol: MailboxEndpoint['protocol'];
  host: string;
  port: number;
  security: MailboxEndpoint['security'];
  username: string;
  mailbox?: string;
  /** Scrubbed from every quoted text. */
  password: string;
  stepTimeoutMs: number;
}

const maxQuote = 200;

/** Server text or an error text made safe to quote: one line, bounded, without the password. */
export function sanitize(text: string, password: string): string {
  let out = text
    // eslint-disable-next-line no-control-regex -- control characters are what is removed
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    // Dovecot's command timing, e.g. " (0.001 + 0.000 secs)."
    .replace(/\s*\(\d+\.\d+( \+ \d+\.\d+)* secs\)/g, '')
    .trim();
  // Very short passwords would match ordinary letters; they are rejected by any real server's policy.
  if (password.length >= 4) out = out.split(password).join('[redacted]');
  if (out.length > maxQuote) out = `${out.slice(0, maxQuote)}...`;
  return out;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function describe(reason: MailboxReason, s: Subject, step: Step, detail?: string): string {
  const server = `${s.protocol} server ${s.host}:${s.port}`;
  const quoted = detail ? sanitize(detail, s.password) : '';
  const said = quoted ? ` (${quoted})` : '';
  const user = JSON.stringify(sanitize(s.username, s.password));
  switch (reason) {
    case MailboxReason.Connected:
      return s.protocol === 'IMAP'
        ? `Logged in to ${server} (${s.security}) as ${user} and opened mailbox ${JSON.stringify(s.mailbox ?? 'INBOX')} read-only.`
        : `Logged in to ${server} (${s.security}) as ${user} and read the mailbox status.`;
    case MailboxReason.DNSLookupFailed:
      return `The host name ${s.host} of the ${s.protocol} server could not be resolved${said}; check the host.`;
    case MailboxReason.ConnectionRefused:
      return `Could not connect to ${server}${said}; check host and port, and that the server is running and reachable.`;
    case MailboxReason.Timeout:
      return (
        `${server} did not answer within ${seconds(s.stepTimeoutMs)} while ${stepText[step]}; ` +
        (step === 'greeting' && s.security !== 'TLS'
          ? 'check that the port does not expect implicit TLS (security TLS), and for firewalls.'
          : 'check host, port and security, and for firewalls.')
      );
    case MailboxReason.TLSHandshakeFailed:
      return (
        `The TLS handshake with ${server} failed${said}; check security ` +
        `(TLS for an implicit-TLS port, STARTTLS for a plain port) and tls.minVersion.`
      );
    case MailboxReason.CertificateUntrusted:
      return (
        `The certificate of ${server} is not trusted${said}; give the CA that issued it (tls.caSecretRef) ` +
        `or set tls.serverName to a name the certificate is valid for.`
      );
    case MailboxReason.CertificateExpired:
      return `The certificate of ${server} is expired or not yet valid${said}; the server's certificate must be renewed.`;
    case MailboxReason.STARTTLSNotOffered:
      return (
        `${server} does not offer STARTTLS, which security STARTTLS requires; use security TLS with the ` +
        `server's implicit-TLS port, or enable STARTTLS on the server.`
      );
    case MailboxReason.AuthenticationFailed:
      return `${server} rejected the login as ${user}${said}; check the username and password in the credentials Secret.`;
    case MailboxReason.MailboxNotFound:
      return (
        `Logged in to ${server} as ${user}, but mailbox ${JSON.stringify(sanitize(s.mailbox ?? 'INBOX', s.password))} ` +
        `does not exist${said}; check the mailbox name.`
      );
    case MailboxReason.ServerUnavailable:
      return `${server} is temporarily unavailable while ${stepText[step]}${said}; the check will be retried.`;
    case MailboxReason.ProtocolError:
      return (
        `${server} answered unexpectedly while ${stepText[step]}${said}; check that the port serves ` +
        `${s.protocol} with security ${s.security}.`
      );
  }
}

export interface Observed {
  checkedAt: string;
  startedAt: number;
  greeting?: string;
  capabilities?: string[];
}

function facts(o: Observed, password: string): MailboxFacts {
  const f: MailboxFacts = { checkedAt: o.checkedAt, latencyMs: Math.round(performance.now() - o.startedAt) };
  if (o.greeting !== undefined) f.greeting = sanitize(o.greeting, password);
  if (o.capabilities !== undefined) f.capabilities = o.capabilities.map((c) => sanitize(c, password));
  return f;
}

export function success(s: Subject, o: Observed): CheckResult<MailboxFacts> {
  return {
    ok: true,
    reason: MailboxReason.Connected,
    message: describe(MailboxReason.Connected, s, 'logout'),
    transient: false,
    facts: facts(o, s.password),
  };
}

export function failure(s: Subject, o: Observed, err: MailboxCheckError): CheckResult<MailboxFacts> {
  return {
    ok: false,
    reason: err.reason,
    message: describe(err.reason, s, err.step, err.detail),
    transient: transientReasons[err.reason],
    facts: facts(o, s.password),
  };
}

export function subjectOf(endpoint: MailboxEndpoint, stepTimeoutMs: number): Subject {
  const s: Subject = {
    protocol: endpoint.protocol,
    host: endpoint.host,
    port: endpoint.port,
    security: endpoint.security,
    username: endpoint.auth.username,
    password: endpoint.auth.password,
    stepTimeoutMs,
  };
  if (endpoint.mailbox !== undefined) s.mailbox = endpoint.mailbox;
  return s;
}

export const defaultStepTimeoutMs = 10_000;
