// A local SendGrid v3 API for tests: the documented paths, status codes, headers and error
// bodies of the parts postmaster uses, with state each test configures. Sources:
//  - paths, bodies, 401/403/404 examples: the SendGrid OpenAPI specs (github.com/twilio/sendgrid-oai,
//    spec/yaml/tsg_scopes_v3, tsg_user_v3, tsg_ips_v3, tsg_verified_senders_v3,
//    tsg_domain_authentication_v3, tsg_mail_v3)
//  - rate limits: https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits
//    (X-RateLimit-Limit / -Remaining / -Reset on every response, 429 {"errors":[{"field":null,"message":"too many requests"}]})
//  - mail send: 202 Accepted, empty body, X-Message-Id header.
// Not documented verbatim (kept plausible, flagged here): the 400 texts of mail send validation
// and the answer to an unknown ip_pool_name.
// Keys are held in memory to authenticate requests; recorded requests carry only a label.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

export interface FakeSendGridKey {
  /** A name for the key in recorded requests and messages (never the key itself). */
  label: string;
  scopes: string[];
  username?: string;
  company?: string;
  email?: string;
  /** Path prefixes that answer 403 for this key whatever its scopes. */
  forbidden?: string[];
}

export interface FakeVerifiedSender {
  email: string;
  verified: boolean;
  name?: string;
}

export interface FakeAuthenticatedDomain {
  domain: string;
  valid: boolean;
  subdomain?: string;
}

export interface FakeSendGridOptions {
  /** A label only (SendGrid's US/global and EU hosts behave the same); recorded on each request. */
  region?: 'US' | 'EU';
  /** Keys this server knows, by key value. */
  keys?: Record<string, FakeSendGridKey>;
  ipPools?: string[];
  verifiedSenders?: FakeVerifiedSender[];
  authenticatedDomains?: FakeAuthenticatedDomain[];
  /** Refuse mail whose From is not a verified sender identity, as SendGrid does (403). Default true. */
  enforceSenderIdentity?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** What the Authorization header held: nothing, `Bearer <something>`, or something else. */
  authorization: 'none' | 'bearer' | 'other';
  /** Label of the key when it was one this server knows. */
  keyLabel?: string;
  region: 'US' | 'EU';
  status?: number;
}

export interface AcceptedMessage {
  messageId: string;
  keyLabel: string;
  region: 'US' | 'EU';
  /** The JSON body exactly as received. */
  body: Record<string, unknown>;
}

export interface FakeFailure {
  /** 429 answers with the documented rate-limit headers; anything else with a generic error body. */
  status: number;
  /** How many requests fail before normal service resumes. Default: all, until clearFailure(). */
  times?: number;
  /** Only requests whose path matches. */
  path?: string | RegExp;
  /** 429: seconds until X-RateLimit-Reset. Default 60. */
  resetInSeconds?: number;
  /** Also send Retry-After (SendGrid documents only X-RateLimit-*); seconds. */
  retryAfter?: number;
}

export interface RunningFake {
  /** e.g. http://127.0.0.1:41234 — what goes into ApiAccount.baseUrl. */
  url: string;
  /** Stops listening, ends idle connections and pending delays. Safe to call twice. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
}

interface ErrorItem {
  message: string;
  field?: string | null;
  help?: string | null;
}

const RATE_LIMIT = 600;

export class FakeSendGridApi {
  readonly region: 'US' | 'EU';
  readonly keys = new Map<string, FakeSendGridKey>();
  readonly ipPools = new Set<string>();
  verifiedSenders: FakeVerifiedSender[];
  authenticatedDomains: FakeAuthenticatedDomain[];
  enforceSenderIdentity: boolean;
  readonly requests: RecordedRequest[] = [];
  readonly messages: AcceptedMessage[] = [];
  #failure: (FakeFailure & { remaining: number }) | undefined;
  #delayMs = 0;
  /** Pending delays, ended early by close() so no timer outlives the server. */
  readonly #sleeping = new Set<{ timer: NodeJS.Timeout; done: () => void }>();

  constructor(opts: FakeSendGridOptions = {}) {
    this.region = opts.region ?? 'US';
    for (const [k, v] of Object.entries(opts.keys ?? {})) this.keys.set(k, v);
    for (const p of opts.ipPools ?? []) this.ipPools.add(p);
    this.verifiedSenders = [...(opts.verifiedSenders ?? [])];
    this.authenticatedDomains = [...(opts.authenticatedDomains ?? [])];
    this.enforceSenderIdentity = opts.enforceSenderIdentity ?? true;
  }

  /** Fail the next requests (or all, until clearFailure) with this status. */
  failWith(failure: FakeFailure): void {
    this.#failure = { ...failure, remaining: failure.times ?? Number.POSITIVE_INFINITY };
  }

  clearFailure(): void {
    this.#failure = undefined;
  }

  /** Forgets recorded requests and messages, failures and delays (configuration stays). */
  reset(): void {
    this.requests.length = 0;
    this.messages.length = 0;
    this.#failure = undefined;
    this.#delayMs = 0;
  }

  /** Delay every answer (to test timeouts and aborts). */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Recorded requests to paths starting with the prefix. */
  requestsTo(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  async start(opts: StartOptions = {}): Promise<RunningFake> {
    const app = Fastify({ logger: false, bodyLimit: 32 * 1024 * 1024 });
    let open = true;

    app.addHook('onRequest', async (req, reply) => {
      const url = new URL(req.url, 'http://fake');
      const auth = req.headers.authorization;
      const bearer = typeof auth === 'string' && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
      const key = bearer === undefined ? undefined : this.keys.get(bearer);
      const record: RecordedRequest = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: auth === undefined ? 'none' : bearer === undefined ? 'other' : 'bearer',
        region: this.region,
        ...(key ? { keyLabel: key.label } : {}),
      };
      this.requests.push(record);
      (req as FastifyRequest & { record?: RecordedRequest; key?: FakeSendGridKey }).record = record;
      if (key) (req as FastifyRequest & { key?: FakeSendGridKey }).key = key;
      if (this.#delayMs) await this.#sleep(this.#delayMs);

      reply.header('X-RateLimit-Limit', String(RATE_LIMIT));
      reply.header('X-RateLimit-Remaining', String(RATE_LIMIT - 1));
      reply.header('X-RateLimit-Reset', String(Math.floor(Date.now() / 1000) + 60));

      const f = this.#failure;
      if (f && f.remaining > 0 && matches(f.path, url.pathname)) {
        f.remaining--;
        if (f.status === 429) {
          reply.header('X-RateLimit-Remaining', '0');
          reply.header('X-RateLimit-Reset', String(Math.floor(Date.now() / 1000) + (f.resetInSeconds ?? 60)));
          if (f.retryAfter !== undefined) reply.header('Retry-After', String(f.retryAfter));
          return errors(reply, 429, [{ field: null, message: 'too many requests' }]);
        }
        return errors(reply, f.status, [{ field: null, message: f.status >= 500 ? 'internal server error' : 'error' }]);
      }
      if (!key) return errors(reply, 401, [{ field: null, message: 'authorization required' }]);
      if (key.forbidden?.some((p) => url.pathname.startsWith(p))) {
        return errors(reply, 403, [{ field: null, message: 'access forbidden' }]);
      }
      return undefined;
    });
    app.addHook('onSend', async (req, reply, payload) => {
      const record = (req as FastifyRequest & { record?: RecordedRequest }).record;
      if (record) record.status = reply.statusCode;
      return payload;
    });

    const keyOf = (req: FastifyRequest) => (req as FastifyRequest & { key: FakeSendGridKey }).key;
    const needs = (req: FastifyRequest, reply: FastifyReply, scope: string) => {
      if (keyOf(req).scopes.includes(scope)) return false;
      void errors(reply, 403, [{ field: null, message: 'access forbidden' }]);
      return true;
    };

    app.get('/v3/scopes', async (req) => ({ scopes: keyOf(req).scopes }));

    app.get('/v3/user/username', async (req, reply) => {
      if (needs(req, reply, 'user.username.read')) return reply;
      return { username: keyOf(req).username ?? 'postmaster-test', user_id: 1 };
    });
    app.get('/v3/user/profile', async (req, reply) => {
      if (needs(req, reply, 'user.profile.read')) return reply;
      const k = keyOf(req);
      return {
        address: '1 Test Street',
        address2: '',
        city: 'Testville',
        company: k.company ?? '',
        country: 'US',
        first_name: 'Test',
        last_name: 'User',
        phone: '555-555-5555',
        state: 'CA',
        website: 'http://example.com',
        zip: '00000',
      };
    });
    app.get('/v3/user/email', async (req, reply) => {
      if (needs(req, reply, 'user.email.read')) return reply;
      return { email: keyOf(req).email ?? 'owner@example.com' };
    });
    app.get('/v3/user/account', async (req, reply) => {
      if (needs(req, reply, 'user.account.read')) return reply;
      return { type: 'paid', reputation: 100 };
    });

    app.get('/v3/ips/pools', async (req, reply) => {
      if (needs(req, reply, 'ips.pools.read')) return reply;
      return [...this.ipPools].map((name) => ({ name }));
    });
    app.get<{ Params: { name: string } }>('/v3/ips/pools/:name', async (req, reply) => {
      if (needs(req, reply, 'ips.pools.read')) return reply;
      if (!this.ipPools.has(req.params.name)) {
        return errors(reply, 404, [{ field: 'error', message: 'Unable to locate specified IPs Pool' }]);
      }
      return { pool_name: req.params.name, ips: ['192.0.2.10'] };
    });

    app.get<{ Querystring: { limit?: string; lastSeenID?: string; id?: string } }>('/v3/verified_senders', async (req) => {
      const limit = Math.max(1, Number(req.query.limit ?? 100) || 100);
      const after = req.query.lastSeenID === undefined ? 0 : Number(req.query.lastSeenID);
      const all = this.verifiedSenders.map((s, i) => ({
        id: 1000 + i,
        nickname: s.name ?? s.email,
        from_email: s.email,
        from_name: s.name ?? '',
        reply_to: s.email,
        reply_to_name: s.name ?? '',
        address: '1 Test Street',
        address2: '',
        state: 'CA',
        city: 'Testville',
        country: 'USA',
        zip: '00000',
        verified: s.verified,
        locked: false,
      }));
      const wanted = req.query.id === undefined ? all : all.filter((s) => s.id === Number(req.query.id));
      return { results: wanted.filter((s) => s.id > after).slice(0, limit) };
    });

    app.get<{ Querystring: { limit?: string; offset?: string; domain?: string } }>('/v3/whitelabel/domains', async (req, reply) => {
      if (needs(req, reply, 'whitelabel.read')) return reply;
      const limit = Math.max(1, Number(req.query.limit ?? 50) || 50);
      const offset = Math.max(0, Number(req.query.offset ?? 0) || 0);
      const all = this.authenticatedDomains
        .map((d, i) => authenticatedDomain(d, i))
        .filter((d) => !req.query.domain || d.domain.includes(req.query.domain));
      return all.slice(offset, offset + limit);
    });

    app.post('/v3/mail/send', async (req, reply) => {
      if (needs(req, reply, 'mail.send')) return reply;
      const body = (req.body ?? {}) as Record<string, unknown>;
      const problems = validateMail(body, this.ipPools);
      if (problems.length) return errors(reply, 400, problems);
      const from = ((body.from as { email?: string }).email ?? '').toLowerCase();
      if (this.enforceSenderIdentity && !this.#senderAllowed(from)) {
        return errors(reply, 403, [
          {
            message:
              'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. ' +
              'Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements',
            field: 'from',
            help: null,
          },
        ]);
      }
      const messageId = randomBytes(16).toString('base64url').slice(0, 22);
      this.messages.push({ messageId, keyLabel: keyOf(req).label, region: this.region, body });
      return reply.code(202).header('X-Message-Id', messageId).send('');
    });

    app.setNotFoundHandler((_req, reply) => errors(reply, 404, [{ field: null, message: 'resource not found' }]));

    const host = opts.host ?? '127.0.0.1';
    await app.listen({ host, port: opts.port ?? 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('fake SendGrid did not bind a TCP port');
    return {
      url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
      close: async () => {
        if (!open) return;
        open = false;
        for (const s of this.#sleeping) {
          clearTimeout(s.timer);
          s.done();
        }
        this.#sleeping.clear();
        await app.close();
      },
    };
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#sleeping.delete(entry);
          resolve();
        }, ms),
        done: resolve,
      };
      this.#sleeping.add(entry);
    });
  }

  #senderAllowed(email: string): boolean {
    if (this.verifiedSenders.some((s) => s.verified && s.email.toLowerCase() === email)) return true;
    const domain = email.split('@')[1] ?? '';
    return this.authenticatedDomains.some(
      (d) => d.valid && (domain === d.domain.toLowerCase() || domain.endsWith(`.${d.domain.toLowerCase()}`)),
    );
  }
}

function matches(path: string | RegExp | undefined, pathname: string): boolean {
  if (path === undefined) return true;
  return typeof path === 'string' ? pathname.startsWith(path) : path.test(pathname);
}

function errors(reply: FastifyReply, status: number, items: ErrorItem[]): FastifyReply {
  return reply.code(status).header('Content-Type', 'application/json').send({ errors: items });
}

function authenticatedDomain(d: FakeAuthenticatedDomain, i: number) {
  const userId = 1446226;
  const sub = d.subdomain ?? 'em123';
  return {
    id: 302183 + i,
    user_id: userId,
    subdomain: sub,
    domain: d.domain,
    username: 'postmaster-test',
    ips: [],
    custom_spf: false,
    default: false,
    legacy: false,
    automatic_security: true,
    valid: d.valid,
    dns: {
      mail_cname: { valid: d.valid, type: 'cname', host: `${sub}.${d.domain}`, data: `u${userId}.wl.sendgrid.net` },
      dkim1: { valid: d.valid, type: 'cname', host: `s1._domainkey.${d.domain}`, data: `s1.domainkey.u${userId}.wl.sendgrid.net` },
      dkim2: { valid: d.valid, type: 'cname', host: `s2._domainkey.${d.domain}`, data: `s2.domainkey.u${userId}.wl.sendgrid.net` },
    },
  };
}

const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

function validateMail(body: Record<string, unknown>, pools: Set<string>): ErrorItem[] {
  const out: ErrorItem[] = [];
  const personalizations = body.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    out.push({
      message: 'The personalizations field is required and must have at least one personalization.',
      field: 'personalizations',
      help: `${HELP}#-Personalizations-Errors`,
    });
  } else {
    personalizations.forEach((p: { to?: unknown }, i) => {
      if (!Array.isArray(p?.to) || p.to.length === 0 || !p.to.every((t: { email?: unknown }) => typeof t?.email === 'string')) {
        out.push({
          message: 'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
          field: `personalizations.${i}.to`,
          help: `${HELP}#message.personalizations.to`,
        });
      }
    });
  }
  const from = body.from as { email?: unknown } | undefined;
  if (!from || typeof from.email !== 'string' || !from.email.includes('@')) {
    out.push({
      message: 'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.',
      field: 'from.email',
      help: `${HELP}#message.from`,
    });
  }
  if (typeof body.subject !== 'string' || !body.subject) {
    out.push({
      message: 'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
      field: 'subject',
      help: `${HELP}#message.subject`,
    });
  }
  const content = body.content;
  if (!Array.isArray(content) || content.length === 0 || !content.every((c: { value?: unknown }) => typeof c?.value === 'string' && c.value)) {
    out.push({
      message: 'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.',
      field: 'content',
      help: `${HELP}#message.content`,
    });
  } else {
    const types = content.map((c: { type?: unknown }) => c.type);
    const html = types.indexOf('text/html');
    const text = types.indexOf('text/plain');
    if (html !== -1 && text !== -1 && text > html) {
      out.push({
        message: 'If present, text/plain and text/html may only be provided in this order: text/plain, text/html.',
        field: 'content',
        help: `${HELP}#message.content`,
      });
    }
  }
  if (body.ip_pool_name !== undefined && !(typeof body.ip_pool_name === 'string' && pools.has(body.ip_pool_name))) {
    out.push({ message: 'The ip_pool_name is not a valid IP pool for this account.', field: 'ip_pool_name', help: `${HELP}#message.ip_pool_name` });
  }
  return out;
}
