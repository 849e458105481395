// The SMTP dialogue the connection check and sender verification share:
// DNS -> TCP -> (implicit TLS | plain) -> greeting -> EHLO -> STARTTLS -> EHLO -> AUTH.
// Every step has its own timeout, every failure maps to a reason constant and a
// sentence a person can act on, and every socket is closed before a result returns.
// The dialogue is driven by hand (not nodemailer) because a check needs what a
// sender hides: the greeting, EHLO keywords, AUTH mechanisms and certificate facts.
// The certificate checks, the login and the mix-up probes live beside it, one file each.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import tls from 'node:tls';
import type { CheckOptions, SmtpEndpoint, SmtpFacts } from '../types.ts';
import { authenticate } from './auth.ts';
import { certificateFacts, verifyCertificate } from './certificate.ts';
import { clientName, errorCode, printable } from './naming.ts';
import { probePlainGreeting, probeTls, settle } from './probes.ts';
import { replyText, SmtpFailure, SmtpReason, type SmtpReply } from './reasons.ts';

const DEFAULT_STEP_TIMEOUT_MS = 10_000;
/** A reply longer than this is not SMTP; stop buffering it. */
const MAX_REPLY_BYTES = 64 * 1024;

/**
 * One SMTP conversation. `open()` runs every step up to a logged-in session;
 * `command()` then speaks to the server; `close()` always runs last.
 */
export class SmtpSession {
  readonly endpoint: SmtpEndpoint;
  /** host:port as people write it. */
  readonly target: string;
  /** Facts learned so far (also those known when a step fails). */
  readonly facts: Partial<SmtpFacts> = {};
  /** AUTH mechanism used, once logged in. */
  authMechanism: string | undefined;

  readonly #stepMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #sockets = new Set<net.Socket>();
  /** TCP sockets with a TLS socket on top: closed through that one. */
  readonly #wrapped = new WeakSet<net.Socket>();
  #socket: net.Socket | undefined;
  #address = '';
  #decoder = new StringDecoder('utf8');
  #buffer = '';
  #lines: string[] = [];
  #pendingCode = 0;
  #replies: SmtpReply[] = [];
  #waiter: { resolve(reply: SmtpReply): void; reject(err: Error): void } | undefined;
  #broken: SmtpFailure | undefined;
  #phase = 'the greeting';

  constructor(endpoint: SmtpEndpoint, opts: CheckOptions = {}) {
    this.endpoint = endpoint;
    this.target = net.isIPv6(endpoint.host) ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
    this.#stepMs = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    this.#signal = opts.signal;
  }

  /** Connects, secures and logs in as the endpoint says; throws SmtpFailure. */
  async open(): Promise<void> {
    const { security } = this.endpoint;
    const addresses = await this.#resolve();
    const socket = await this.#connect(addresses);
    if (security === 'TLS') {
      this.#listen(await this.#handshake(socket, true));
    } else {
      this.#listen(socket);
    }
    await this.#greeting();
    let keywords = await this.#ehlo();
    if (security === 'STARTTLS') {
      if (!keywords.has('STARTTLS')) {
        throw new SmtpFailure(
          SmtpReason.STARTTLSNotOffered,
          `${this.target} does not offer STARTTLS, and security STARTTLS never falls back to plain text: ` +
            'enable TLS on the server, use security TLS if this port expects implicit TLS, or None for an internal relay.',
          false,
        );
      }
      const reply = await this.command('STARTTLS');
      if (reply.code !== 220) {
        throw new SmtpFailure(
          SmtpReason.STARTTLSRefused,
          `${this.target} answered STARTTLS with "${replyText(reply)}"${reply.code < 500 ? '; retrying later may help' : ': the server cannot start TLS'}.`,
          reply.code < 500,
        );
      }
      // Bytes sent after the 220 but before the handshake would be trusted as if
      // encrypted (the STARTTLS injection attack): refuse them.
      if (this.#buffer.length > 0 || this.#replies.length > 0) {
        throw new SmtpFailure(SmtpReason.ProtocolError, `${this.target} sent data before the TLS handshake of STARTTLS.`, false);
      }
      this.#listen(await this.#handshake(this.#unlisten(), false));
      keywords = await this.#ehlo();
    }
    if (this.endpoint.auth) this.authMechanism = await authenticate(this, this.endpoint.auth, keywords);
  }

  /** Sends one command line and reads its reply. `label` names it in messages (never a credential). */
  async command(line: string, label = line): Promise<SmtpReply> {
    const socket = this.#socket;
    if (!socket) throw new Error('SMTP session is not open');
    this.#phase = `the reply to ${label}`;
    socket.write(`${line}\r\n`);
    return this.#read(`${this.target} did not answer ${label} within ${this.#seconds()}.`);
  }

  /** Ends the dialogue politely; a server that does not answer is not an error any more. */
  async quit(): Promise<void> {
    await this.command('QUIT').catch(() => undefined);
  }

  /** Destroys every socket this session opened and waits until they are closed. */
  async close(): Promise<void> {
    // Still in the set = 'close' not emitted yet (`socket.closed` turns true earlier).
    const open = [...this.#sockets];
    const closing = open.map((s) => new Promise((resolve) => s.once('close', resolve)));
    // Only the top of a TLS stack: destroying the TCP socket under a live TLS socket crashes Node.
    for (const s of open) if (!this.#wrapped.has(s)) s.destroy();
    await Promise.all(closing);
  }

  // --- steps ---------------------------------------------------------------

  async #resolve(): Promise<{ address: string }[]> {
    const { host } = this.endpoint;
    if (net.isIP(host)) return [{ address: host }];
    try {
      const found = await this.#timed(
        lookup(host, { all: true }),
        `the DNS lookup of ${host} took longer than ${this.#seconds()}: check the cluster's DNS.`,
      );
      if (found.length === 0) throw Object.assign(new Error('no addresses'), { code: 'ENODATA' });
      return found;
    } catch (err) {
      if (err instanceof SmtpFailure && err.reason === SmtpReason.Aborted) throw err;
      if (err instanceof SmtpFailure) throw new SmtpFailure(SmtpReason.DNSLookupFailed, err.message, true);
      throw new SmtpFailure(
        SmtpReason.DNSLookupFailed,
        `DNS lookup of ${host} failed (${errorCode(err)}): check the host name, and that the cluster's DNS can resolve it.`,
        true,
      );
    }
  }

  async #connect(addresses: { address: string }[]): Promise<net.Socket> {
    let last: unknown;
    for (const { address } of addresses) {
      const socket = net.connect({ host: address, port: this.endpoint.port });
      this.#track(socket);
      try {
        await this.#timed(
          settle(socket, 'connect'),
          `no TCP connection to ${this.target} within ${this.#seconds()}: the host may be down, or a firewall drops the packets.`,
        );
        this.#address = address;
        return socket;
      } catch (err) {
        socket.destroy();
        if (err instanceof SmtpFailure && err.reason === SmtpReason.Aborted) throw err;
        last = err;
      }
    }
    if (last instanceof SmtpFailure) throw last;
    if (errorCode(last) === 'ECONNREFUSED') {
      throw new SmtpFailure(
        SmtpReason.ConnectionRefused,
        `${this.target} refused the connection: is the server running and listening on port ${this.endpoint.port}?`,
        true,
      );
    }
    throw new SmtpFailure(SmtpReason.ConnectionFailed, `could not connect to ${this.target} (${errorCode(last)}).`, true);
  }

  /** TLS over `socket`, then the certificate checks (done here, not by OpenSSL, so facts survive a failure). */
  async #handshake(socket: net.Socket, implicit: boolean): Promise<tls.TLSSocket> {
    const { host } = this.endpoint;
    const opts = this.endpoint.tls ?? {};
    const name = opts.serverName ?? host;
    const secure = tls.connect({
      socket,
      host: name,
      // SNI carries host names only, never an IP address.
      ...(net.isIP(name) ? {} : { servername: name }),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
      rejectUnauthorized: false,
    });
    this.#track(secure);
    this.#wrapped.add(socket);
    this.#phase = 'the TLS handshake';
    try {
      await this.#timed(settle(secure, 'secureConnect'), `the TLS handshake with ${this.target} did not finish within ${this.#seconds()}.`);
    } catch (err) {
      if (err instanceof SmtpFailure) throw err;
      const code = errorCode(err);
      // A TLS alert means a TLS peer answered; anything else may be plain text on the wire.
      if (implicit && !/ALERT|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS|NO_SHARED_CIPHER/.test(code)) {
        const greeting = await probePlainGreeting(this.#address, this.endpoint.port, this.#stepMs);
        if (greeting) {
          throw new SmtpFailure(
            SmtpReason.SecurityModeMismatch,
            `security TLS expects implicit TLS on ${this.target}, but the server speaks plain SMTP there ("${greeting}"): try security STARTTLS.`,
            false,
          );
        }
      }
      const hint = /PROTOCOL|VERSION/i.test(code) && opts.minVersion ? ` (tls.minVersion is ${opts.minVersion})` : '';
      throw new SmtpFailure(SmtpReason.TLSHandshakeFailed, `the TLS handshake with ${this.target} failed (${code})${hint}.`, false);
    }
    Object.assign(this.facts, certificateFacts(secure));
    if (!opts.insecureSkipVerify) verifyCertificate(secure, name, this.target, this.facts, !!opts.ca);
    return secure;
  }

  async #greeting(): Promise<void> {
    this.#phase = 'the greeting';
    let reply: SmtpReply;
    try {
      reply = await this.#read(`${this.target} accepted the connection but sent no greeting within ${this.#seconds()}.`);
    } catch (err) {
      if (err instanceof SmtpFailure && err.reason === SmtpReason.Timeout && this.endpoint.security !== 'TLS') {
        if (await probeTls(this.#address, this.endpoint.port, this.#stepMs)) throw this.#expectsImplicitTls();
      }
      throw err;
    }
    this.facts.greeting = reply.lines.join(' ');
    if (reply.code === 220) return;
    if (reply.code >= 400 && reply.code < 500) {
      throw new SmtpFailure(SmtpReason.ServiceUnavailable, `${this.target} is not taking connections right now ("${replyText(reply)}").`, true);
    }
    throw new SmtpFailure(
      SmtpReason.ConnectionRejected,
      `${this.target} refused the session ("${replyText(reply)}"): the server does not accept mail from this cluster's address.`,
      false,
    );
  }

  #expectsImplicitTls(): SmtpFailure {
    return new SmtpFailure(
      SmtpReason.SecurityModeMismatch,
      `${this.target} expects implicit TLS (it sends no plain-text greeting but completes a TLS handshake): set security TLS.`,
      false,
    );
  }

  /** EHLO (HELO when the server knows no EHLO); returns the upper-case keywords. */
  async #ehlo(): Promise<Set<string>> {
    const name = clientName(this.#socket);
    const reply = await this.command(`EHLO ${name}`, 'EHLO');
    if (reply.code !== 250) {
      if (reply.code >= 500 && reply.code !== 503) {
        const helo = await this.command(`HELO ${name}`, 'HELO');
        if (helo.code === 250) {
          this.facts.extensions = [];
          return new Set();
        }
      }
      throw this.#unexpected('EHLO', reply);
    }
    const keywords: string[] = [];
    let mechanisms: string[] | undefined;
    for (const line of reply.lines.slice(1)) {
      const [keyword = '', ...params] = line.trim().split(/[\s=]+/);
      const upper = keyword.toUpperCase();
      if (!upper) continue;
      if (upper === 'AUTH') mechanisms = [...new Set([...(mechanisms ?? []), ...params.map((p) => p.toUpperCase())])];
      if (!keywords.includes(upper)) keywords.push(upper);
    }
    this.facts.extensions = keywords;
    if (mechanisms) this.facts.authMechanisms = mechanisms;
    else delete this.facts.authMechanisms;
    return new Set(keywords);
  }

  #unexpected(what: string, reply: SmtpReply): SmtpFailure {
    const text = replyText(reply);
    if (reply.code === 421) {
      return new SmtpFailure(SmtpReason.ServiceUnavailable, `${this.target} closed the session at ${what} ("${text}").`, true);
    }
    return new SmtpFailure(SmtpReason.ProtocolError, `${this.target} answered ${what} with "${text}".`, reply.code >= 400 && reply.code < 500);
  }

  // --- reading replies -----------------------------------------------------

  #track(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // An error after a step has finished must not crash the process; #listen reports it.
    socket.on('error', () => undefined);
  }

  #listen(socket: net.Socket): void {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  #unlisten(): net.Socket {
    const socket = this.#socket!;
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    this.#socket = undefined;
    return socket;
  }

  #onData = (chunk: Buffer): void => {
    if (this.#broken) return;
    // TLS records (handshake or alert, version 3.x) where a plain greeting belongs.
    if (this.#phase === 'the greeting' && this.#buffer.length === 0 && chunk.length > 1 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03) {
      this.#fail(this.#expectsImplicitTls());
      return;
    }
    this.#buffer += this.#decoder.write(chunk);
    let eol: number;
    while ((eol = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, eol).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(eol + 1);
      const m = /^([2-5]\d\d)(?:([ -])(.*))?$/.exec(line);
      if (!m || (this.#lines.length > 0 && Number(m[1]) !== this.#pendingCode)) {
        this.#fail(new SmtpFailure(SmtpReason.ProtocolError, `${this.target} does not speak SMTP: it sent "${printable(line)}" at ${this.#phase}.`, false));
        return;
      }
      this.#pendingCode = Number(m[1]);
      this.#lines.push(m[3] ?? '');
      if (m[2] !== '-') {
        const reply = { code: this.#pendingCode, lines: this.#lines };
        this.#lines = [];
        this.#deliver(reply);
      }
    }
    if (this.#buffer.length > MAX_REPLY_BYTES) {
      this.#fail(new SmtpFailure(SmtpReason.ProtocolError, `${this.target} sent an over-long line at ${this.#phase}.`, false));
    }
  };

  #onError = (err: Error): void => {
    this.#fail(new SmtpFailure(SmtpReason.ConnectionFailed, `the connection to ${this.target} failed at ${this.#phase} (${errorCode(err)}).`, true));
  };

  #onClose = (): void => {
    this.#fail(new SmtpFailure(SmtpReason.ConnectionClosed, `${this.target} closed the connection at ${this.#phase}.`, true));
  };

  #deliver(reply: SmtpReply): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter.resolve(reply);
    else this.#replies.push(reply);
  }

  #fail(failure: SmtpFailure): void {
    this.#broken ??= failure;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#broken);
  }

  #read(timeoutMessage: string): Promise<SmtpReply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#broken) return Promise.reject(this.#broken);
    return this.#timed(
      new Promise<SmtpReply>((resolve, reject) => {
        this.#waiter = { resolve, reject };
      }),
      timeoutMessage,
    ).finally(() => {
      this.#waiter = undefined;
    });
  }

  /** Races `work` against the step timeout and the abort signal. */
  async #timed<T>(work: Promise<T>, timeoutMessage: string): Promise<T> {
    work.catch(() => undefined); // a late rejection after a timeout is not unhandled
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SmtpFailure(SmtpReason.Timeout, timeoutMessage, true)), this.#stepMs);
      onAbort = () => reject(new SmtpFailure(SmtpReason.Aborted, `the check of ${this.target} was cancelled.`, true));
      if (this.#signal?.aborted) onAbort();
      this.#signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([work, guard]);
    } finally {
      clearTimeout(timer);
      if (onAbort) this.#signal?.removeEventListener('abort', onAbort);
    }
  }

  #seconds(): string {
    const s = this.#stepMs / 1000;
    return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  }
}
