// POP3 login check (RFC 1939, CAPA from RFC 2449, STLS from RFC 2595, SASL PLAIN
// from RFC 5034): greeting, CAPA, STLS when security is STARTTLS, USER/PASS (or
// AUTH PLAIN when the server offers no USER), STAT, QUIT. Every wait is bounded
// by the step timeout, and every socket is closed before the result is returned.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { CheckOptions, CheckResult, Login, MailboxEndpoint, MailboxFacts } from '../types.ts';
import {
  classifySocketError,
  defaultStepTimeoutMs,
  failure,
  MailboxCheckError,
  MailboxReason,
  subjectOf,
  success,
  type Observed,
  type Step,
} from './reasons.ts';
import { abortable, SocketTracker, tlsOptions } from './sockets.ts';

export async function checkPop3(endpoint: MailboxEndpoint, opts: CheckOptions = {}): Promise<CheckResult<MailboxFacts>> {
  const stepTimeoutMs = opts.stepTimeoutMs ?? defaultStepTimeoutMs;
  const subject = subjectOf(endpoint, stepTimeoutMs);
  const observed: Observed = { checkedAt: new Date().toISOString(), startedAt: performance.now() };
  const conn = new Pop3Connection(endpoint, stepTimeoutMs);
  return abortable(
    opts.signal,
    () => void conn.close(),
    async () => {
      try {
        await converse(conn, endpoint, observed);
        return success(subject, observed);
      } catch (err) {
        return failure(subject, observed, classifySocketError(err, conn.step));
      } finally {
        await conn.close();
      }
    },
  );
}

async function converse(conn: Pop3Connection, endpoint: MailboxEndpoint, observed: Observed): Promise<void> {
  await conn.connect();
  if (endpoint.security === 'TLS') await conn.startTls('tls');

  const greeting = await conn.reply('greeting');
  if (!greeting.ok) throw new MailboxCheckError(temporary(greeting.text) ?? MailboxReason.ProtocolError, 'greeting', greeting.text);
  observed.greeting = greeting.text;

  let capabilities = await conn.capabilities();
  if (endpoint.security === 'STARTTLS') {
    // Without CAPA support we still try STLS: its answer is the authority.
    if (capabilities && !capabilities.some((c) => c.toUpperCase() === 'STLS')) {
      throw new MailboxCheckError(MailboxReason.STARTTLSNotOffered, 'starttls', 'STLS is not among the capabilities');
    }
    const stls = await conn.command('STLS', 'starttls');
    if (!stls.ok) throw new MailboxCheckError(MailboxReason.STARTTLSNotOffered, 'starttls', stls.text);
    await conn.startTls('starttls');
    // Capabilities seen before TLS could have been forged (RFC 2595 section 4): ask again.
    capabilities = await conn.capabilities();
  }
  if (capabilities) observed.capabilities = capabilities;

  await login(conn, endpoint.auth, capabilities);

  const stat = await conn.command('STAT', 'mailbox');
  if (!stat.ok) throw new MailboxCheckError(temporary(stat.text) ?? MailboxReason.ProtocolError, 'mailbox', stat.text);
  // A QUIT the server does not answer does not undo a successful login and STAT.
  await conn.command('QUIT', 'logout').catch(() => undefined);
}

async function login(conn: Pop3Connection, auth: Login, capabilities: string[] | undefined): Promise<void> {
  if (/[\r\n\0]/.test(auth.username) || /[\r\n\0]/.test(auth.password)) {
    throw new MailboxCheckError(MailboxReason.AuthenticationFailed, 'login', 'the username or password contains a line break or NUL');
  }
  const offersUser = !capabilities || capabilities.some((c) => c.toUpperCase() === 'USER');
  const offersPlain = capabilities?.some((c) => /^SASL\b.*\bPLAIN\b/i.test(c)) ?? false;
  let answer: Reply;
  if (offersUser) {
    answer = await conn.command(`USER ${auth.username}`, 'login');
    if (answer.ok && !answer.continuation) answer = await conn.command(`PASS ${auth.password}`, 'login');
  } else if (offersPlain) {
    // Without the optional initial response, which every server that speaks SASL must take.
    answer = await conn.command('AUTH PLAIN', 'login');
    if (answer.continuation) {
      const token = Buffer.from(`\0${auth.username}\0${auth.password}`, 'utf8').toString('base64');
      answer = await conn.command(token, 'login');
    }
  } else {
    throw new MailboxCheckError(MailboxReason.AuthenticationFailed, 'login', 'the server offers neither USER/PASS nor SASL PLAIN');
  }
  if (answer.continuation) throw new MailboxCheckError(MailboxReason.ProtocolError, 'login', 'an unexpected SASL challenge');
  if (!answer.ok) throw new MailboxCheckError(temporary(answer.text) ?? MailboxReason.AuthenticationFailed, 'login', answer.text);
}

/** ServerUnavailable for the RFC 2449/3206 response codes that mean "try again later". */
function temporary(text: string): MailboxReason | undefined {
  return /^\[(SYS\/TEMP|IN-USE|LOGIN-DELAY)\b/i.test(text) ? MailboxReason.ServerUnavailable : undefined;
}

interface Reply {
  ok: boolean;
  /** A SASL continuation ("+ challenge") rather than +OK. */
  continuation: boolean;
  /** The text after +OK / -ERR / +. */
  text: string;
}

const maxLineLength = 8192;
const maxCapabilities = 200;

/** A POP3 conversation over one TCP connection (and the TLS socket on top of it, if any). */
class Pop3Connection {
  /** The step the conversation is in; a failure is reported against it. */
  step: Step = 'connect';
  readonly #endpoint: MailboxEndpoint;
  readonly #stepTimeoutMs: number;
  readonly #sockets = new SocketTracker();
  #socket: Socket | undefined;
  #connected = false;
  #secured = false;
  #buffer = '';
  readonly #lines: string[] = [];
  #error: unknown;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(endpoint: MailboxEndpoint, stepTimeoutMs: number) {
    this.#endpoint = endpoint;
    this.#stepTimeoutMs = stepTimeoutMs;
  }

  async connect(): Promise<void> {
    const socket = this.#sockets.add(tcpConnect({ host: this.#endpoint.host, port: this.#endpoint.port }));
    socket.once('connect', () => {
      this.#connected = true;
      this.#notify();
    });
    this.#attach(socket);
    await this.#until('connect', () => this.#connected);
  }

  /** Starts TLS on the connection: right away for implicit TLS, after +OK to STLS for STARTTLS. */
  async startTls(step: 'tls' | 'starttls'): Promise<void> {
    const plain = this.#socket;
    if (!plain) throw new MailboxCheckError(MailboxReason.ProtocolError, step, 'not connected');
    if (this.#buffer || this.#lines.length) {
      // Anything after the +OK to STLS and before the handshake was not sent by the server
      // over TLS (RFC 2595 section 4): possibly injected, never trusted.
      throw new MailboxCheckError(MailboxReason.ProtocolError, step, 'the server sent data before the TLS handshake');
    }
    this.#detach(plain);
    const secure = this.#sockets.add(tlsConnect({ ...tlsOptions(this.#endpoint), socket: plain }));
    secure.once('secureConnect', () => {
      this.#secured = true;
      this.#notify();
    });
    this.#attach(secure);
    await this.#until(step, () => this.#secured);
  }

  /** Sends one command line and reads its one-line reply. */
  async command(line: string, step: Step): Promise<Reply> {
    this.step = step;
    this.#socket?.write(`${line}\r\n`);
    return this.reply(step);
  }

  async reply(step: Step): Promise<Reply> {
    const line = await this.#readLine(step);
    const m = /^(\+OK|-ERR|\+)(?:\s+(.*))?$/i.exec(line);
    if (!m) throw new MailboxCheckError(MailboxReason.ProtocolError, step, `not a POP3 reply: ${line}`);
    const status = m[1]!.toUpperCase();
    return { ok: status !== '-ERR', continuation: status === '+', text: (m[2] ?? '').trim() };
  }

  /** CAPA: the capability lines, or undefined when the server does not support CAPA. */
  async capabilities(): Promise<string[] | undefined> {
    const first = await this.command('CAPA', 'capabilities');
    if (!first.ok || first.continuation) return undefined;
    const capabilities: string[] = [];
    for (;;) {
      const line = await this.#readLine('capabilities');
      if (line === '.') return capabilities;
      if (capabilities.length >= maxCapabilities) {
        throw new MailboxCheckError(MailboxReason.ProtocolError, 'capabilities', 'the CAPA list does not end');
      }
      capabilities.push(line.startsWith('..') ? line.slice(1) : line);
    }
  }

  /** Destroys every socket and resolves once their handles are closed. Safe to call more than once. */
  close(): Promise<void> {
    this.#closed = true;
    this.#notify();
    return this.#sockets.closeAll();
  }

  #attach(socket: Socket): void {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  #detach(socket: Socket): void {
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffer += chunk.toString('latin1');
    let i: number;
    while ((i = this.#buffer.indexOf('\n')) >= 0) {
      this.#lines.push(this.#buffer.slice(0, i).replace(/\r$/, ''));
      this.#buffer = this.#buffer.slice(i + 1);
    }
    if (this.#buffer.length > maxLineLength) {
      this.#error ??= new MailboxCheckError(MailboxReason.ProtocolError, this.step, 'a line longer than 8 KiB');
    }
    this.#notify();
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
    this.#notify();
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    this.#notify();
  };

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #readLine(step: Step): Promise<string> {
    await this.#until(step, () => this.#lines.length > 0);
    return this.#lines.shift()!;
  }

  /** Waits until `ready()` holds, at most one step timeout; fails on a socket error or close. */
  async #until(step: Step, ready: () => boolean): Promise<void> {
    this.step = step;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MailboxCheckError(MailboxReason.Timeout, step)), this.#stepTimeoutMs);
    });
    try {
      for (;;) {
        if (this.#error !== undefined) throw classifySocketError(this.#error, step);
        if (ready()) return;
        if (this.#closed) {
          const during = step === 'tls' || step === 'starttls';
          throw new MailboxCheckError(
            during ? MailboxReason.TLSHandshakeFailed : MailboxReason.ProtocolError,
            step,
            'the server closed the connection',
          );
        }
        await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), timeout]);
      }
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}
