// The SMTP door of the send endpoint, for applications that only speak SMTP
// (Grafana, Keycloak, GitLab): AUTH, MAIL FROM = the identity's address, DATA
// handed to the pipeline, and 250 only once the upstream has accepted the message.
//
// Replies (the text starts with the RFC 3463 code); refusals are errors.ts's
// EndpointErrors, so both doors say the same thing in the same words:
//   no AUTH before MAIL 530 5.7.0 · AUTH is offered only after STARTTLS (certificate given); sent anyway 538
//   bad login 535 5.7.8 · token check unavailable 454 4.7.0
//   MAIL FROM not the identity's address, or RBAC refuses (checked at MAIL FROM) 550 5.7.1 · unknown identity 550 5.1.8
//   identity not Ready 451 4.3.5 · shutting down 421 4.3.2
//   bad RCPT address 553 5.1.3 · too many recipients 452 4.5.3 · too big 552 5.3.4
//   internationalized RCPT without SMTPUTF8, or a route that cannot carry it 553 5.6.7 (RFC 6531)
//   malformed or smuggled headers 554 5.6.0 (553 5.1.3 in address headers)
//   pipeline failures: the EndpointError's smtpCode (4xx temporary, 5xx permanent)
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { authenticate, type SmtpLogin } from './smtp-auth.ts';
import {
  draining,
  forbidden,
  identityNotFound,
  identityNotReady,
  invalidRequest,
  isEndpointError,
  payloadTooLarge,
  unauthenticated,
  type EndpointError,
} from './errors.ts';
import { addressKey, asciiDomain, needsSmtpUtf8 } from '../mail/address.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { checkAddress } from './message.ts';
import { rfc5322Date } from './pass-through.ts';
import { submittedMessage } from './smtp-message.ts';
import { offerAuthOnlyAfterStarttls } from './smtp-starttls.ts';
import { oneLine, reply, replyFor, type SmtpReply } from './smtp-replies.ts';
import type { Directory, Pipeline } from './types.ts';

export interface SmtpDoorOptions {
  pipeline: Pipeline;
  directory: Directory;
  log: Logger;
  /**
   * PEM key and certificate: STARTTLS is offered, and AUTH only after it; since
   * every transaction needs a login, none happens without TLS. Absent: plain text only.
   */
  tls?: { key: string; cert: string };
  /** Largest message accepted (SIZE extension), in bytes. */
  maxMessageBytes: number;
  port: number;
  host: string;
  /** Recipients per message (default: the pipeline's limit, 100). */
  maxRecipients?: number;
  /** Name in the greeting (default postmaster). */
  name?: string;
  /** Idle time before a connection is closed (default 60s). */
  socketTimeoutMs?: number;
  /** How long close() waits for messages in flight (default 30s). */
  drainTimeoutMs?: number;
}

export interface SmtpDoor {
  /** Starts listening; resolves with the port (useful with port 0). */
  listen(): Promise<number>;
  /** New connections and new transactions get 421; messages already in DATA finish. */
  stopAccepting(): void;
  /** Stops accepting, waits for messages in flight, then closes every connection. */
  close(): Promise<void>;
  /** Messages between DATA and their final reply. */
  readonly inFlight: number;
}

export function createSmtpDoor(opts: SmtpDoorOptions): SmtpDoor {
  const { pipeline, directory } = opts;
  const log = opts.log.child({ component: 'smtp-door' });
  const maxRecipients = opts.maxRecipients ?? DEFAULT_LIMITS.maxRecipients;
  const logins = new WeakMap<SMTPServerSession, SmtpLogin>();
  let accepting = true;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let closing: Promise<void> | undefined;

  const server = new SMTPServer({
    name: opts.name ?? 'postmaster',
    banner: 'postmaster send endpoint',
    logger: false,
    disableReverseLookup: true,
    ...(opts.tls
      ? { key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2' as const }
      : { disabledCommands: ['STARTTLS'], allowInsecureAuth: true }),
    authMethods: ['PLAIN', 'LOGIN'],
    authRequiredMessage: '5.7.0 Authentication required: log in with AUTH PLAIN or AUTH LOGIN',
    size: opts.maxMessageBytes,
    hideREQUIRETLS: true, // the upstream route decides TLS, we cannot promise it end to end
    // SMTPUTF8 is offered; an internationalized recipient is taken only where the route can carry it (onRcptTo).
    socketTimeout: opts.socketTimeoutMs ?? 60_000,

    onConnect(_session, callback) {
      callback(accepting ? null : asReply(draining(), log));
    },

    onAuth(auth, session, callback) {
      authenticate({ directory, pipeline }, auth.username ?? '', auth.password ?? '').then(
        (login) => {
          logins.set(session, login);
          log.info({ session: session.id, caller: login.caller.username, identity: login.identity, via: login.via }, 'smtp login');
          callback(null, { user: login.caller.username });
        },
        (err: unknown) => {
          // The password is never logged; the username only when it has the shape of a name
          // (someone may have pasted a token into the wrong field).
          const username = /^[a-z0-9][-a-z0-9./]{0,300}$/.test(auth.username ?? '') ? auth.username : '(not a name)';
          const refused = asReply(err, log);
          log.info({ session: session.id, username, method: auth.method, remote: session.remoteAddress, reply: refused.message }, 'smtp login refused');
          callback(refused);
        },
      );
    },

    onMailFrom(address, session, callback) {
      if (!accepting) return callback(asReply(draining(), log));
      const login = logins.get(session);
      if (!login) return callback(asReply(unauthenticated('Authentication required'), log));
      const refused = checkSender(directory, login, address);
      if (refused) return callback(asReply(refused, log));
      // RBAC before DATA: a caller that may not send as the identity never uploads the message.
      pipeline.authorize(login.caller, login.identity).then(
        () => callback(),
        (err: unknown) => callback(asReply(err, log)),
      );
    },

    onRcptTo(address, session, callback) {
      const rcpt = address.address;
      const utf8 = session.envelope.smtpUtf8 === true;
      if (needsSmtpUtf8(rcpt)) {
        const refused = utf8 ? routeRefusesUtf8(directory, logins.get(session), rcpt) : `<${oneLine(rcpt)}> is an internationalized address: declare SMTPUTF8 in MAIL FROM (RFC 6531)`;
        if (refused) return callback(reply(553, '5.6.7', refused));
      }
      try {
        // The pipeline's own address rule, so no envelope recipient can fail the message after DATA.
        checkAddress(asciiDomain(rcpt), 'RCPT TO', { utf8LocalPart: utf8 });
      } catch (err) {
        return callback(reply(553, '5.1.3', isEndpointError(err) ? err.message : 'RCPT TO: not an email address'));
      }
      const known = session.envelope.rcptTo.some((r) => addressKey(r.address) === addressKey(rcpt));
      if (!known && session.envelope.rcptTo.length >= maxRecipients) {
        return callback(reply(452, '4.5.3', `Too many recipients: at most ${maxRecipients} per message; send the rest in another transaction`));
      }
      callback();
    },

    onData(stream, session, callback) {
      inFlight++;
      receive(stream, opts.maxMessageBytes)
        .then(
          (raw) => deliver(raw, session),
          (err: unknown) => {
            // A client that hangs up mid-DATA is the client's business, not a fault of ours.
            if ((err as { code?: string }).code === 'ECONNECTION') {
              log.info({ session: session.id, remote: session.remoteAddress }, 'client left during DATA; nothing was sent');
              throw invalidRequest('message', 'the connection closed before the message was received in full');
            }
            throw err;
          },
        )
        .then(
          (text) => callback(null, text),
          (err: unknown) => callback(asReply(err, log)),
        )
        .finally(() => {
          inFlight--;
          if (inFlight === 0) drained?.();
        });
    },
  });
  if (opts.tls) offerAuthOnlyAfterStarttls(server);
  // Client resets and TLS failures surface here; they concern one connection only.
  server.on('error', (err) => log.debug({ err: err.message }, 'smtp connection error'));

  async function deliver(raw: Buffer | undefined, session: SMTPServerSession): Promise<string> {
    if (!raw) throw payloadTooLarge(`Message too big: the limit is ${opts.maxMessageBytes} bytes.`);
    const login = logins.get(session);
    if (!login) throw unauthenticated('Authentication required');
    const recipients = session.envelope.rcptTo.map((r) => r.address);
    // Leaving through SMTP now, the message travels as its bytes: only its header section is read.
    // A Queued message may leave later by another route (the server may change): read it whole.
    const route = directory.resolve(login.caller.namespace, login.identity);
    const passThrough = route?.primary?.provider === 'SMTP' && route.server?.spec.delivery?.mode !== 'Queued';
    const message = await submittedMessage(raw, recipients, { passThrough });
    // Carried as received; the pipeline makes only the relay's edits (pass-through.ts).
    message.raw = raw;
    message.received = receivedTrace(session, opts.name ?? 'postmaster');
    if (session.envelope.smtpUtf8) message.smtpUtf8 = true;
    const started = performance.now();
    const outcome = await pipeline.send({ caller: login.caller, sender: login.identity, message, door: 'smtp' });
    // The pipeline logs the send itself; this ties it to the SMTP session.
    log.debug(
      {
        session: session.id,
        caller: login.caller.username,
        namespace: login.caller.namespace,
        identity: login.identity,
        recipients: recipients.length,
        id: outcome.id,
        server: `${outcome.server.namespace}/${outcome.server.name}`,
        ms: Math.round(performance.now() - started),
      },
      outcome.queued ? 'smtp message queued' : 'smtp message sent',
    );
    // Queued: stored in the shared store, delivered by the queue (Postfix's words for the same promise).
    if (outcome.queued) return `2.0.0 Ok: queued as ${outcome.id}`;
    return `2.0.0 Ok: sent as ${oneLine(outcome.messageId)} via ${outcome.provider} (${outcome.route})`;
  }

  /** Stop accepting, let messages in flight finish (bounded), then end every session. */
  async function shutDown(): Promise<void> {
    accepting = false;
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.drainTimeoutMs ?? 30_000);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const listening = server.server.listening;
    const closed = new Promise<void>((resolve) => (listening ? server.server.close(() => resolve()) : resolve()));
    // The top socket of each session (TLS after STARTTLS): destroying the TCP one under live TLS crashes Node.
    const sockets = [...server.connections].map((c) => c._socket);
    for (const c of server.connections) c.send(421, '4.3.2 Service shutting down');
    // Clients normally hang up on a 421; whoever does not within a second is cut off.
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
    await Promise.race([Promise.all(sockets.map((s) => (s.destroyed ? undefined : new Promise((r) => s.once('close', r))))), grace]);
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
    await closed;
  }

  return {
    get inFlight() {
      return inFlight;
    },

    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(opts.port, opts.host, () => {
          server.server.off('error', reject);
          resolve((server.server.address() as AddressInfo).port);
        });
      }),

    stopAccepting() {
      accepting = false;
    },

    close() {
      closing ??= shutDown();
      return closing;
    },
  };
}

/** Our Received field (RFC 5321 section 4.4): who handed it over, how, and when. */
function receivedTrace(session: SMTPServerSession, name: string): string {
  const helo = (session.hostNameAppearsAs || 'unknown').replace(/[^\x21-\x7e]/g, '');
  const remote = (session.remoteAddress ?? '').replace(/^::ffff:/, '');
  const via = session.transmissionType || (session.secure ? 'ESMTPSA' : 'ESMTPA');
  return `from ${helo} ([${remote}]) by ${name} (postmaster) with ${via} id ${session.id}; ${rfc5322Date(new Date())}`;
}

/** MAIL FROM: the identity's address, of an identity that exists and is Ready. */
function checkSender(directory: Directory, login: SmtpLogin, address: SMTPServerAddress): EndpointError | undefined {
  const { namespace } = login.caller;
  const resolved = directory.resolve(namespace, login.identity);
  if (!resolved) return identityNotFound(namespace, login.identity);
  const allowed = resolved.identity.spec.email;
  if (!address.address || addressKey(address.address) !== addressKey(allowed)) {
    return forbidden(`Sender <${address.address}> refused: SenderIdentity "${namespace}/${login.identity}" sends as <${allowed}> only.`);
  }
  if (!resolved.ready) return identityNotReady(namespace, login.identity, resolved.reason ?? 'NotReady', resolved.message);
  return undefined;
}

/**
 * Why the identity's route cannot carry an internationalized recipient, before the message is
 * uploaded: the provider APIs take ASCII addresses, and an SmtpTarget whose last connection
 * test showed no SMTPUTF8 would get the address without it (RFC 6531 section 3.4).
 */
function routeRefusesUtf8(directory: Directory, login: SmtpLogin | undefined, rcpt: string): string | undefined {
  const route = login ? directory.resolve(login.caller.namespace, login.identity)?.primary : undefined;
  if (!route) return undefined; // refused at MAIL FROM or by the pipeline, with its own reason
  const to = `<${oneLine(rcpt)}> is an internationalized address`;
  if (route.provider !== 'SMTP') return `${to}, and ${route.provider} takes ASCII addresses only; nothing was sent`;
  if (route.endpoint.smtpUtf8 === false) return `${to}, and the SmtpTarget ${route.endpoint.host}:${route.endpoint.port} does not offer SMTPUTF8; nothing was sent`;
  return undefined;
}

/**
 * Reads DATA to the end. Resolves undefined when the message went over the
 * limit: the rest is read and dropped, so the reply lands after the final dot.
 */
function receive(stream: SMTPServerDataStream, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve(stream.sizeExceeded || size > limit ? undefined : Buffer.concat(chunks)));
  });
}

function asReply(err: unknown, log: Logger): SmtpReply {
  const { reply: r, unexpected } = replyFor(err);
  // A bug of ours: the log gets its name and message (our own code's words), the client a 451.
  if (unexpected) log.error({ err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'smtp door: unexpected error');
  return r;
}
