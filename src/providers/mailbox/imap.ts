// IMAP login check with imapflow: connect (implicit TLS, required STARTTLS, or
// plain text), log in, open the mailbox read-only (EXAMINE), log out. Sockets
// are opened through an imapflow transport of our own, so the check knows each
// of them, times the STARTTLS handshake with the step timeout, and waits until
// all are closed before it returns.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ImapTransport } from 'imapflow';
import type { CheckOptions, CheckResult, MailboxEndpoint, MailboxFacts } from '../types.ts';
import {
  classifySocketError,
  defaultStepTimeoutMs,
  errorCode,
  failure,
  MailboxCheckError,
  MailboxReason,
  subjectOf,
  success,
  type Observed,
  type Step,
} from './reasons.ts';
import { abortable, SocketTracker, tlsOptions } from './sockets.ts';

/** The parts of imapflow's errors the check reads (they are plain Errors with extra fields). */
interface ImapError {
  code?: string;
  message?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  mailboxMissing?: boolean;
  serverResponseCode?: string;
  response?: unknown;
  /** The server's BYE text, on "Unexpected close" (ClosedAfterConnect*). */
  reason?: unknown;
}

const timeoutCodes = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'ETIMEOUT', 'UPGRADE_TIMEOUT']);

export async function checkImap(endpoint: MailboxEndpoint, opts: CheckOptions = {}): Promise<CheckResult<MailboxFacts>> {
  const stepTimeoutMs = opts.stepTimeoutMs ?? defaultStepTimeoutMs;
  const subject = subjectOf(endpoint, stepTimeoutMs);
  const observed: Observed = { checkedAt: new Date().toISOString(), startedAt: performance.now() };
  const mailbox = endpoint.mailbox ?? 'INBOX';
  const sockets = new SocketTracker();
  const tls = tlsOptions(endpoint);
  const state = { step: 'connect' as Step, upgradeStarted: false, lastError: undefined as unknown };

  const transport: ImapTransport = {
    connect(options, onConnect) {
      const connected = (): void => {
        state.step = 'greeting';
        onConnect();
      };
      let socket: Socket;
      if (options.secure) {
        socket = tlsConnect(tls, connected);
        socket.once('connect', () => (state.step = 'tls'));
      } else {
        socket = tcpConnect({ host: endpoint.host, port: endpoint.port }, connected);
      }
      // The greeting is the first data; what follows until the mailbox is opened is session
      // setup: CAPABILITY and STARTTLS, or (after TLS) CAPABILITY, ID, LOGIN, NAMESPACE.
      socket.once('data', () => (state.step = endpoint.security === 'STARTTLS' ? 'starttls' : 'login'));
      return sockets.add(socket);
    },
    upgrade(plain, _options, onSecure) {
      state.upgradeStarted = true;
      state.step = 'starttls';
      const secure = sockets.add(
        tlsConnect({ ...tls, socket: plain as Socket }, () => {
          clearTimeout(timer);
          state.step = 'login';
          onSecure();
        }),
      );
      // imapflow's own upgrade timeout is a fixed 10s; the handshake is one step like any other.
      const timer = setTimeout(
        () => secure.destroy(new MailboxCheckError(MailboxReason.Timeout, 'starttls')),
        stepTimeoutMs,
      );
      secure.once('close', () => clearTimeout(timer));
      return secure;
    },
  };

  // Loaded on first use: memory an operator without mailboxes never needs.
  const { ImapFlow } = await import('imapflow');
  const client = new ImapFlow({
    host: endpoint.host,
    port: endpoint.port,
    secure: endpoint.security === 'TLS',
    // true: STARTTLS or fail; false: never (security None). Never a silent fall back to plain text.
    doSTARTTLS: endpoint.security === 'STARTTLS' ? true : endpoint.security === 'None' ? false : undefined,
    auth: { user: endpoint.auth.username, pass: endpoint.auth.password },
    transport,
    logger: false,
    clientInfo: { name: 'postmaster' },
    connectionTimeout: stepTimeoutMs,
    greetingTimeout: stepTimeoutMs,
    // Inactivity watchdog: bounds each command of the session setup (CAPABILITY, ID, LOGIN, ...).
    socketTimeout: stepTimeoutMs,
    disableAutoIdle: true,
    disableCompression: true,
    disableAutoEnable: true,
  });
  // Without a listener an 'error' event would be thrown; the last one explains a dropped connection.
  client.on('error', (err: unknown) => (state.lastError ??= err));

  const close = (): void => {
    try {
      client.close();
    } catch {
      // already closed
    }
  };

  return abortable(opts.signal, close, async () => {
    try {
      // Greeting, CAPABILITY, STARTTLS, ID and LOGIN each have imapflow's step timers; this
      // bounds the whole setup in case a step slips through them.
      await bounded(client.connect(), stepTimeoutMs * 6, () => state.step, close);
      observed.greeting = client.greeting;
      observed.capabilities = [...client.capabilities.keys()];
      state.step = 'mailbox';
      await bounded(client.mailboxOpen(mailbox, { readOnly: true }), stepTimeoutMs, () => 'mailbox', close);
      state.step = 'logout';
      // A server that does not answer LOGOUT does not undo a successful login and EXAMINE.
      await bounded(client.logout(), stepTimeoutMs, () => 'logout', close).catch(() => undefined);
      return success(subject, observed);
    } catch (err) {
      if (observed.greeting === undefined && typeof client.greeting === 'string') observed.greeting = client.greeting;
      return failure(subject, observed, classify(err, state.step, state.lastError, endpoint, state.upgradeStarted));
    } finally {
      close();
      await sockets.closeAll();
      // imapflow defers parts of its teardown to setImmediate; let them run before returning.
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
}

/** `promise`, or a Timeout at the current step after `ms` (calling `onTimeout` to tear down). */
async function bounded<T>(promise: Promise<T>, ms: number, step: () => Step, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new MailboxCheckError(MailboxReason.Timeout, step());
      onTimeout();
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function serverText(e: ImapError): string | undefined {
  // imapflow gives the whole tagged line ("2 NO [AUTHENTICATIONFAILED] ..."): drop the tag and status.
  const response = typeof e.response === 'string' ? e.response.replace(/^\S+\s+(NO|BAD)\s+/i, '') : undefined;
  const code = e.serverResponseCode;
  if (response && code && !response.includes(code)) return `[${code}] ${response}`;
  return response ?? (code ? `[${code}]` : e.message);
}

function classify(err: unknown, step: Step, lastError: unknown, endpoint: MailboxEndpoint, upgradeStarted: boolean): MailboxCheckError {
  if (err instanceof MailboxCheckError) return err;
  const e: ImapError = typeof err === 'object' && err !== null ? (err as ImapError) : { message: String(err) };
  const code = errorCode(err) ?? '';
  if (e.authenticationFailed) {
    const reason = e.serverResponseCode?.toUpperCase() === 'UNAVAILABLE' ? MailboxReason.ServerUnavailable : MailboxReason.AuthenticationFailed;
    return new MailboxCheckError(reason, 'login', serverText(e), err);
  }
  if (timeoutCodes.has(code) || timeoutCodes.has(errorCode(lastError) ?? '')) {
    const at: Step = code === 'CONNECT_TIMEOUT' ? (step === 'tls' ? 'tls' : 'connect') : code === 'GREETING_TIMEOUT' ? 'greeting' : step;
    return new MailboxCheckError(MailboxReason.Timeout, at, undefined, err);
  }
  if (e.tlsFailed && !upgradeStarted && endpoint.security === 'STARTTLS') {
    return new MailboxCheckError(MailboxReason.STARTTLSNotOffered, 'starttls', e.message, err);
  }
  if (e.mailboxMissing || e.serverResponseCode?.toUpperCase() === 'NONEXISTENT') {
    return new MailboxCheckError(MailboxReason.MailboxNotFound, 'mailbox', serverText(e), err);
  }
  if (code.startsWith('ClosedAfterConnect') && typeof e.reason === 'string' && e.reason) {
    // The server said BYE (e.g. "Too many connections") and closed.
    return new MailboxCheckError(MailboxReason.ServerUnavailable, step, e.reason, err);
  }
  if (e.serverResponseCode?.toUpperCase() === 'UNAVAILABLE') {
    return new MailboxCheckError(MailboxReason.ServerUnavailable, step, serverText(e), err);
  }
  // Socket and TLS errors (DNS, refused, certificates, handshake) keep their Node code.
  if (/^(E[A-Z]+|ERR_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|[A-Z_]*SELF_SIGNED[A-Z_]*|UNABLE_TO_[A-Z_]+|HOSTNAME_MISMATCH)$/.test(code)) {
    return classifySocketError(err, step);
  }
  if (lastError !== undefined && errorCode(lastError)) return classifySocketError(lastError, step);
  if (step === 'mailbox') return new MailboxCheckError(MailboxReason.ProtocolError, 'mailbox', serverText(e), err);
  return classifySocketError(err, step);
}
