// A local Microsoft Graph for tests: the parts of the documented v1.0 API postmaster uses.
//  - POST /v1.0/users/{id | userPrincipalName}/sendMail, Content-Type text/plain, body = the MIME message in
//    base64: 202 Accepted with no body; 400 ErrorInvalidRecipients; 400 ErrorMimeContentInvalidBase64String;
//    401 InvalidAuthenticationToken (no, expired or foreign token); 403 ErrorAccessDenied (no Mail.Send role, or
//    an application access policy that does not cover the mailbox); 429 with Retry-After; 503.
//  - GET /v1.0/users/{id}: 200, 404 Request_ResourceNotFound, 403 Authorization_RequestDenied without User.Read.All.
// Errors are {"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}.
// Tokens are those of the FakeIdentityProvider for https://graph.microsoft.com.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { FakeIdentityProvider } from './oauth2-server.ts';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';

export interface GraphMessage {
  mailbox: string;
  /** The MIME message exactly as decoded from the request body. */
  mime: Buffer;
  /** Recipients read from To, Cc and Bcc. */
  recipients: string[];
}

export interface GraphFailure {
  status: number;
  times?: number;
  retryAfter?: number;
}

export class FakeGraphApi {
  readonly messages: GraphMessage[] = [];
  readonly requests: { method: string; path: string; status: number }[] = [];
  /** Mailboxes of the tenant. */
  mailboxes: string[] = [];
  /** Mailboxes an application access policy lets the app send as; undefined: all. */
  accessPolicy: string[] | undefined;
  /** Recipients Exchange cannot resolve. */
  invalidRecipients: string[] = [];
  url = '';
  #failure: GraphFailure | undefined;
  readonly #app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  readonly #idp: FakeIdentityProvider;

  constructor(idp: FakeIdentityProvider) {
    this.#idp = idp;
    this.#app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    this.#app.post('/v1.0/users/:user/sendMail', async (req, reply) => this.#sendMail(req, reply));
    this.#app.get('/v1.0/users/:user', async (req, reply) => this.#user(req, reply));
  }

  failWith(failure: GraphFailure): void {
    this.#failure = { ...failure };
  }

  clearFailure(): void {
    this.#failure = undefined;
  }

  async start(): Promise<string> {
    await this.#app.listen({ host: '127.0.0.1', port: 0 });
    this.url = `http://127.0.0.1:${(this.#app.server.address() as { port: number }).port}`;
    return this.url;
  }

  close(): Promise<void> {
    return this.#app.close();
  }

  #error(req: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string) {
    const requestId = randomUUID();
    this.requests.push({ method: req.method, path: req.url, status });
    return reply
      .code(status)
      .header('request-id', requestId)
      .send({ error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': requestId, 'client-request-id': requestId } } });
  }

  /** The roles of a valid Graph token, or undefined when the token is not good. */
  #roles(req: FastifyRequest): string[] | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m || !this.#idp.isValid(m[1]!, GRAPH_RESOURCE)) return undefined;
    const claims = JSON.parse(Buffer.from(m[1]!.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: string[] };
    return claims.roles ?? [];
  }

  #injected(req: FastifyRequest, reply: FastifyReply) {
    const f = this.#failure;
    if (!f) return undefined;
    if (f.times !== undefined && --f.times <= 0) this.#failure = undefined;
    if (f.retryAfter !== undefined) reply.header('Retry-After', String(f.retryAfter));
    if (f.status === 429) return this.#error(req, reply, 429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.');
    return this.#error(req, reply, f.status, 'ServiceUnavailable', 'The service is temporarily unavailable. Please retry later.');
  }

  #sendMail(req: FastifyRequest, reply: FastifyReply) {
    const roles = this.#roles(req);
    if (!roles) return this.#error(req, reply, 401, 'InvalidAuthenticationToken', 'Lifetime validation failed, the token is expired.');
    const injected = this.#injected(req, reply);
    if (injected) return injected;
    const mailbox = decodeURIComponent((req.params as { user: string }).user).toLowerCase();
    if (!roles.includes('Mail.Send')) return this.#error(req, reply, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (this.accessPolicy && !this.accessPolicy.includes(mailbox)) {
      return this.#error(req, reply, 403, 'ErrorAccessDenied', 'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.');
    }
    if (!this.mailboxes.includes(mailbox)) return this.#error(req, reply, 404, 'ErrorInvalidUser', `The requested user '${mailbox}' is invalid.`);
    if (!/^text\/plain/.test(req.headers['content-type'] ?? '')) {
      return this.#error(req, reply, 415, 'UnsupportedMediaType', 'Content-Type must be application/json or text/plain.');
    }
    const body = String(req.body ?? '').trim();
    if (!/^[A-Za-z0-9+/=\r\n]+$/.test(body)) return this.#error(req, reply, 400, 'ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.');
    const mime = Buffer.from(body, 'base64');
    const recipients = recipientsOf(mime.toString('utf8'));
    const bad = recipients.find((r) => this.invalidRecipients.includes(r));
    if (recipients.length === 0 || bad) {
      return this.#error(
        req,
        reply,
        400,
        'ErrorInvalidRecipients',
        `At least one recipient isn't valid., Recipient '${bad ?? ''}' isn't resolved. All recipients must be resolved before a message can be submitted.`,
      );
    }
    this.messages.push({ mailbox, mime, recipients });
    this.requests.push({ method: req.method, path: req.url, status: 202 });
    return reply.code(202).header('request-id', randomUUID()).send();
  }

  #user(req: FastifyRequest, reply: FastifyReply) {
    const roles = this.#roles(req);
    if (!roles) return this.#error(req, reply, 401, 'InvalidAuthenticationToken', 'Access token validation failure.');
    if (!roles.some((r) => r === 'User.Read.All' || r === 'User.ReadBasic.All')) {
      return this.#error(req, reply, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    }
    const user = decodeURIComponent((req.params as { user: string }).user).toLowerCase();
    if (!this.mailboxes.includes(user)) {
      return this.#error(req, reply, 404, 'Request_ResourceNotFound', `Resource '${user}' does not exist or one of its queried reference-property objects are not present.`);
    }
    this.requests.push({ method: req.method, path: req.url, status: 200 });
    return reply.send({ id: randomUUID(), mail: user, userPrincipalName: user });
  }
}

/** Addresses in the To, Cc and Bcc headers of a MIME message. */
export function recipientsOf(mime: string): string[] {
  const head = mime.split(/\r?\n\r?\n/)[0] ?? '';
  const out: string[] = [];
  for (const field of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const m = /^(to|cc|bcc):(.*)$/i.exec(field);
    if (!m) continue;
    for (const a of m[2]!.matchAll(/[^\s<>,"]+@[^\s<>,"]+/g)) out.push(a[0].toLowerCase());
  }
  return out;
}
