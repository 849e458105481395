// A real SMTP server (smtp-server) on 127.0.0.1 for tests: implicit TLS, STARTTLS
// or plain; AUTH required or not; scripted refusals; records what it received.
import { SMTPServer } from 'smtp-server';
import type { SMTPServerOptions } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import type { KeyPair } from './smtp-certs.ts';

export type SinkMode = 'TLS' | 'STARTTLS' | 'None';

export interface SinkOptions {
  /** TLS: implicit TLS from the first byte; STARTTLS: plain with STARTTLS offered; None: plain, no STARTTLS. */
  mode: SinkMode;
  /** Certificate for TLS and STARTTLS. */
  tls?: KeyPair;
  /** Highest TLS version the server speaks (default: Node's, TLS 1.3). */
  maxTlsVersion?: 'TLSv1.2';
  /** AUTH required with exactly this login (PLAIN and LOGIN; offered once the session is secure). */
  auth?: { username: string; password: string };
  /**
   * AUTH XOAUTH2 (offered with PLAIN and LOGIN): `check` says whether the bearer token is good for the user.
   * A bad token is answered as `style` does: Exchange Online with 535 5.7.3 at once, Gmail with a 334
   * base64 JSON status and then 535. Users in `disabledFor` get Exchange's 535 5.7.139 (SMTP AUTH disabled).
   */
  oauth2?: { check(user: string, token: string): boolean; style: 'Exchange' | 'Gmail'; disabledFor?: string[] };
  /** Do not offer AUTH at all (even if clients bring a login). */
  noAuth?: boolean;
  /** Offer AUTH over plain text too (mode None with auth). */
  allowInsecureAuth?: boolean;
  /** MAIL FROM addresses refused, with the reply code (default 553). */
  rejectSenders?: Record<string, number>;
  /** RCPT TO addresses refused, with the reply code (e.g. 550, 450). */
  rejectRecipients?: Record<string, number>;
  /** Reply to the end of DATA instead of 250 (e.g. 554 or 451). */
  dataReply?: number;
  /** Wait this long before answering the end of DATA (messages stay in flight). */
  dataDelayMs?: number;
  /**
   * Called with each whole message before the reply: true records it (the server had it all)
   * and drops the connection without answering, as an upstream dying before its reply would.
   */
  hangUpAfterData?: (m: ReceivedMessage) => boolean;
  /** Listen on this port (a restarted sink takes the port of the one before). Default: a free one. */
  port?: number;
  /** Do not offer SMTPUTF8 (RFC 6531), as many older MTAs do not. */
  hideSMTPUTF8?: boolean;
}

export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  /** Header fields by lower-case name, unfolded, in order. */
  headers: Map<string, string[]>;
  /** Everything after the blank line. */
  body: string;
  /** Login the client used, if any. */
  user?: string;
  /** MAIL FROM carried SMTPUTF8. */
  smtpUtf8?: boolean;
}

export interface SmtpSink {
  host: '127.0.0.1';
  port: number;
  messages: ReceivedMessage[];
  /** MAIL FROM addresses seen, accepted or not (verification leaves only these). */
  senders: string[];
  /** Connections accepted so far. */
  connections: number;
  /** Closes the listener and every open connection; resolves when all are gone. */
  close(): Promise<void>;
}

const replyError = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });

export async function startSmtpSink(opts: SinkOptions): Promise<SmtpSink> {
  if (opts.mode !== 'None' && !opts.tls) throw new Error(`sink mode ${opts.mode} needs a certificate`);
  const messages: ReceivedMessage[] = [];
  const senders: string[] = [];
  const disabled = [...(opts.mode === 'None' ? ['STARTTLS'] : []), ...(opts.noAuth || (!opts.auth && !opts.oauth2) ? ['AUTH'] : [])];
  const options: SMTPServerOptions = {
    secure: opts.mode === 'TLS',
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    ...(opts.maxTlsVersion ? { maxVersion: opts.maxTlsVersion } : {}),
    name: 'sink.localhost',
    banner: 'postmaster test sink',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: disabled,
    hideSMTPUTF8: !!opts.hideSMTPUTF8,
    authOptional: (!opts.auth && !opts.oauth2) || !!opts.noAuth,
    allowInsecureAuth: !!opts.allowInsecureAuth,
    authMethods: opts.oauth2 ? ['PLAIN', 'LOGIN', 'XOAUTH2'] : ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      const oauth2 = opts.oauth2;
      if (auth.method === 'XOAUTH2' && oauth2) {
        const user = auth.username ?? '';
        if (oauth2.disabledFor?.includes(user)) {
          return callback(
            replyError(535, '5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.'),
          );
        }
        if (oauth2.check(user, auth.accessToken ?? '')) return callback(null, { user });
        if (oauth2.style === 'Exchange') return callback(replyError(535, '5.7.3 Authentication unsuccessful [BN9PR03CA0001.namprd03.prod.outlook.com]'));
        return callback(null, { data: { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' } } as never);
      }
      const want = opts.auth;
      if (want && auth.username === want.username && auth.password === want.password) return callback(null, { user: auth.username });
      return callback(replyError(535, 'Authentication credentials invalid'));
    },
    onMailFrom(address, _session, callback) {
      senders.push(address.address);
      const code = opts.rejectSenders?.[address.address];
      if (code) return callback(replyError(code, `Sender <${address.address}> refused by test policy`));
      return callback();
    },
    onRcptTo(address, _session, callback) {
      const code = opts.rejectRecipients?.[address.address];
      if (code) return callback(replyError(code, `Recipient <${address.address}> refused by test policy`));
      return callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        if (opts.dataDelayMs) await new Promise((r) => setTimeout(r, opts.dataDelayMs));
        if (opts.dataReply) return callback(replyError(opts.dataReply, 'Message refused by test policy'));
        const raw = Buffer.concat(chunks);
        const { mailFrom, rcptTo } = session.envelope;
        const received: ReceivedMessage = {
          from: mailFrom ? mailFrom.address : '',
          to: rcptTo.map((r) => r.address),
          raw,
          ...parseMessage(raw),
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
          ...(session.envelope.smtpUtf8 ? { smtpUtf8: true } : {}),
        };
        const hangUp = opts.hangUpAfterData?.(received) ?? false;
        messages.push(received);
        if (hangUp) {
          for (const c of server.connections) if (c.id === session.id) c._socket.destroy();
          return;
        }
        callback(null, `Ok: queued as SINK${messages.length}`);
      });
    },
  };
  const server = new SMTPServer(options);
  let connections = 0;
  server.server.on('connection', () => connections++);
  server.on('error', () => undefined); // client-side resets are not test failures
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    messages,
    senders,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        // End every session now rather than after smtp-server's grace period. Destroy
        // the top socket of each (TLS where there is TLS): destroying the TCP socket
        // under a live TLS socket crashes Node.
        const tops = [...server.connections].map((c) => c._socket);
        server.close(() => resolve());
        for (const socket of tops) socket.destroy();
      }),
  };
}

function parseMessage(raw: Buffer): { headers: Map<string, string[]>; body: string } {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const headers = new Map<string, string[]>();
  for (const field of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), field.slice(colon + 1).trim()]);
  }
  return { headers, body: split < 0 ? '' : text.slice(split + 4) };
}
