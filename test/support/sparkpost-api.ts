// A local SparkPost API (/api/v1) for tests: the documented paths, status codes and error
// bodies of the parts postmaster uses, with state each test configures. Sources: the API
// Blueprint sources of developers.sparkpost.com (github.com/SparkPost/developers.sparkpost.com,
// content/api/introduction.apib, account.apib, ip-pools.apib, sending-domains.apib, transmissions.apib):
//  - auth: `Authorization: <key>` (or Basic with the key as user name and an empty password)
//  - errors: {"errors":[{"message", "description", "code"}]}; 401/403/404/420/422/429/500/503
//  - sending limits: 420 {"errors":[{"message":"Exceed Sending Limit (hourly)","code":"2101"}]}
//  - transmissions: 200 {"results":{"total_rejected_recipients","total_accepted_recipients","id"}},
//    partial rejection: 200 with {"errors":[{"code":"2000",...}]} and results.rcpt_to_errors;
//    unverified From domain: 400 code 7001 "Invalid domain".
// Not documented verbatim (kept plausible, flagged here): the bodies of 401/403, the answer to
// an unknown options.ip_pool, and Retry-After on 429 (SparkPost documents no header).
// Keys are held in memory to authenticate requests; recorded requests carry only a label.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

export interface FakeSparkPostKey {
  /** A name for the key in recorded requests and messages (never the key itself). */
  label: string;
  /** Path prefixes (below /api/v1) that answer 403 for this key, e.g. ['/account']. */
  forbidden?: string[];
}

export interface FakeSendingDomain {
  domain: string;
  ownershipVerified: boolean;
  dkimStatus?: 'unverified' | 'pending' | 'invalid' | 'valid';
  cnameStatus?: 'unverified' | 'pending' | 'invalid' | 'valid';
  complianceStatus?: 'valid' | 'blocked';
}

export interface FakeSparkPostOptions {
  /** A label (SparkPost and SparkPost EU are separate services); recorded on each request. */
  region?: 'US' | 'EU';
  keys?: Record<string, FakeSparkPostKey>;
  account?: { customer_id: number; company_name: string };
  ipPools?: string[];
  sendingDomains?: FakeSendingDomain[];
  /** Recipient addresses the fake refuses inside an otherwise accepted transmission. */
  rejectRecipients?: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: 'none' | 'key' | 'basic';
  keyLabel?: string;
  region: 'US' | 'EU';
  status?: number;
}

export interface AcceptedTransmission {
  id: string;
  keyLabel: string;
  region: 'US' | 'EU';
  /** The JSON body exactly as received. */
  body: Record<string, unknown>;
  accepted: number;
  rejected: number;
}

export interface FakeFailure {
  /** 429 and 420 answer with SparkPost's rate/sending limit bodies; others with a generic error. */
  status: number;
  times?: number;
  /** Only requests whose path (full, with /api/v1) matches. */
  path?: string | RegExp;
  /** Send Retry-After with this many seconds. */
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
  description?: string;
  code?: string;
}

const PREFIX = '/api/v1';

export class FakeSparkPostApi {
  readonly region: 'US' | 'EU';
  readonly keys = new Map<string, FakeSparkPostKey>();
  account: { customer_id: number; company_name: string };
  readonly ipPools = new Set<string>();
  sendingDomains: FakeSendingDomain[];
  rejectRecipients: Set<string>;
  readonly requests: RecordedRequest[] = [];
  readonly transmissions: AcceptedTransmission[] = [];
  #failure: (FakeFailure & { remaining: number }) | undefined;
  #delayMs = 0;
  /** Pending delays, ended early by close() so no timer outlives the server. */
  readonly #sleeping = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  #nextId = 11668787484950529n;

  constructor(opts: FakeSparkPostOptions = {}) {
    this.region = opts.region ?? 'US';
    for (const [k, v] of Object.entries(opts.keys ?? {})) this.keys.set(k, v);
    this.account = opts.account ?? { customer_id: 102938, company_name: 'Example Inc' };
    for (const p of opts.ipPools ?? []) this.ipPools.add(p);
    this.sendingDomains = [...(opts.sendingDomains ?? [])];
    this.rejectRecipients = new Set((opts.rejectRecipients ?? []).map((r) => r.toLowerCase()));
  }

  failWith(failure: FakeFailure): void {
    this.#failure = { ...failure, remaining: failure.times ?? Number.POSITIVE_INFINITY };
  }

  clearFailure(): void {
    this.#failure = undefined;
  }

  /** Forgets recorded requests and transmissions, failures and delays (configuration stays). */
  reset(): void {
    this.requests.length = 0;
    this.transmissions.length = 0;
    this.#failure = undefined;
    this.#delayMs = 0;
  }

  delay(ms: number): void {
    this.#delayMs = ms;
  }

  requestsTo(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  async start(opts: StartOptions = {}): Promise<RunningFake> {
    const app = Fastify({ logger: false, bodyLimit: 32 * 1024 * 1024, routerOptions: { ignoreTrailingSlash: true } });
    let open = true;

    app.addHook('onRequest', async (req, reply) => {
      const url = new URL(req.url, 'http://fake');
      const auth = req.headers.authorization;
      let presented: string | undefined;
      let kind: RecordedRequest['authorization'] = 'none';
      if (typeof auth === 'string' && /^Basic /i.test(auth)) {
        kind = 'basic';
        presented = Buffer.from(auth.slice(6).trim(), 'base64').toString().replace(/:$/, '');
      } else if (typeof auth === 'string' && auth) {
        kind = 'key';
        presented = auth.trim();
      }
      const key = presented === undefined ? undefined : this.keys.get(presented);
      const record: RecordedRequest = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: kind,
        region: this.region,
        ...(key ? { keyLabel: key.label } : {}),
      };
      this.requests.push(record);
      (req as FastifyRequest & { record?: RecordedRequest }).record = record;
      if (key) (req as FastifyRequest & { key?: FakeSparkPostKey }).key = key;
      if (this.#delayMs) await this.#sleep(this.#delayMs);

      const f = this.#failure;
      if (f && f.remaining > 0 && matches(f.path, url.pathname)) {
        f.remaining--;
        if (f.retryAfter !== undefined) reply.header('Retry-After', String(f.retryAfter));
        if (f.status === 420) return errors(reply, 420, [{ message: 'Exceed Sending Limit (hourly)', code: '2101' }]);
        if (f.status === 429) return errors(reply, 429, [{ message: 'Too many requests' }]);
        if (f.status === 503) return errors(reply, 503, [{ message: 'Service Unavailable' }]);
        return errors(reply, f.status, [{ message: f.status >= 500 ? 'Internal Server Error' : 'error' }]);
      }
      if (!key) return errors(reply, 401, [{ message: 'Unauthorized.' }]);
      const below = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : url.pathname;
      if (key.forbidden?.some((p) => below.startsWith(p))) return errors(reply, 403, [{ message: 'Forbidden.' }]);
      return undefined;
    });
    app.addHook('onSend', async (req, reply, payload) => {
      const record = (req as FastifyRequest & { record?: RecordedRequest }).record;
      if (record) record.status = reply.statusCode;
      return payload;
    });

    const keyOf = (req: FastifyRequest) => (req as FastifyRequest & { key: FakeSparkPostKey }).key;

    app.get(`${PREFIX}/account`, async () => ({
      results: {
        customer_id: this.account.customer_id,
        company_name: this.account.company_name,
        country_code: 'US',
        anniversary_date: '2019-01-11T08:00:00.000Z',
        created: '2018-01-11T08:00:00.000Z',
        updated: '2018-02-11T08:00:00.000Z',
        status: 'active',
        tfa_required: false,
        status_updated: '2018-12-21T13:21:41.442Z',
        status_reason_category: '',
        subscription: { code: '150K-0817', name: '150K', plan_volume: 150000, self_serve: true, type: 'manual' },
        support: { online: true, phone: false },
        options: { smtp_tracking_default: false },
      },
    }));

    app.get<{ Params: { id: string } }>(`${PREFIX}/ip-pools/:id`, async (req, reply) => {
      if (!this.ipPools.has(req.params.id)) return errors(reply, 404, [{ message: 'IP pool not found.' }]);
      return {
        results: {
          id: req.params.id,
          name: req.params.id,
          ips: [{ external_ip: '192.0.2.20', hostname: 'mta1.example.sparkpostmail.com' }],
        },
      };
    });

    app.get<{ Params: { domain: string } }>(`${PREFIX}/sending-domains/:domain`, async (req, reply) => {
      const d = this.#domain(req.params.domain);
      if (!d) {
        return errors(reply, 404, [
          { code: '1600', message: 'resource not found', description: `Domain '${req.params.domain}' does not exist` },
        ]);
      }
      return { results: sendingDomain(d) };
    });

    app.post(`${PREFIX}/transmissions`, async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const content = (body.content ?? {}) as Record<string, unknown>;
      const recipients = body.recipients;
      if (!Array.isArray(recipients) || recipients.length === 0) {
        return errors(reply, 422, [{ message: 'required field is missing', description: 'recipients is required', code: '1400' }]);
      }
      // content is either the whole message (email_rfc822, which must hold a From header) or its fields.
      const rfc822 = typeof content.email_rfc822 === 'string' ? content.email_rfc822 : undefined;
      const headerFrom = rfc822 ? /^From:[^\r\n]*?([^\s<>"]+@[^\s<>"]+)/im.exec(rfc822.split(/\r?\n\r?\n/)[0] ?? '')?.[1] : undefined;
      if (rfc822 !== undefined ? !headerFrom : !content.from || typeof content.subject !== 'string' || (!content.text && !content.html)) {
        return errors(reply, 422, [
          { message: 'required field is missing', description: rfc822 !== undefined ? 'email_rfc822 must contain a From header' : 'content object or template_id required', code: '1400' },
        ]);
      }
      const fromEmail =
        headerFrom ?? (typeof content.from === 'string' ? content.from : String((content.from as { email?: unknown }).email ?? ''));
      const d = this.#domain(fromEmail.split('@')[1] ?? '');
      if (!d || !d.ownershipVerified || d.complianceStatus === 'blocked') {
        return errors(reply, 400, [{ description: 'Unconfigured or unverified sending domain.', code: '7001', message: 'Invalid domain' }]);
      }
      const pool = (body.options as { ip_pool?: unknown } | undefined)?.ip_pool;
      if (pool !== undefined && !(typeof pool === 'string' && this.ipPools.has(pool))) {
        return errors(reply, 422, [{ message: 'invalid params', description: `IP pool '${String(pool)}' does not exist`, code: '1200' }]);
      }
      const rcptErrors: ErrorItem[] = [];
      let accepted = 0;
      for (const r of recipients as { address?: unknown }[]) {
        const a = r?.address;
        const email = typeof a === 'string' ? a : typeof (a as { email?: unknown })?.email === 'string' ? (a as { email: string }).email : '';
        if (!email) {
          rcptErrors.push({ message: 'required field is missing', description: 'address.email is required for each recipient', code: '1400' });
        } else if (this.rejectRecipients.has(email.toLowerCase())) {
          rcptErrors.push({ message: 'invalid data format/type', description: `Invalid email address: ${email}`, code: '1202' });
        } else {
          accepted++;
        }
      }
      const id = String(this.#nextId++);
      this.transmissions.push({ id, keyLabel: keyOf(req).label, region: this.region, body, accepted, rejected: rcptErrors.length });
      const results: Record<string, unknown> = {
        total_rejected_recipients: rcptErrors.length,
        total_accepted_recipients: accepted,
        id,
      };
      if (rcptErrors.length) {
        results.rcpt_to_errors = rcptErrors;
        return { errors: [{ message: 'transmission created, but with validation errors', code: '2000' }], results };
      }
      return { results };
    });

    app.setNotFoundHandler((_req, reply) => errors(reply, 404, [{ message: 'resource not found', code: '1600' }]));

    const host = opts.host ?? '127.0.0.1';
    await app.listen({ host, port: opts.port ?? 0 });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('fake SparkPost did not bind a TCP port');
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

  #domain(name: string): FakeSendingDomain | undefined {
    const n = name.toLowerCase();
    return this.sendingDomains.find((d) => d.domain.toLowerCase() === n);
  }
}

function matches(path: string | RegExp | undefined, pathname: string): boolean {
  if (path === undefined) return true;
  return typeof path === 'string' ? pathname.startsWith(path) : path.test(pathname);
}

function errors(reply: FastifyReply, status: number, items: ErrorItem[]): FastifyReply {
  return reply.code(status).header('Content-Type', 'application/json').send({ errors: items });
}

/** GET /sending-domains/{domain} results: the full object except `domain`. */
function sendingDomain(d: FakeSendingDomain) {
  return {
    tracking_domain: `click.${d.domain}`,
    status: {
      ownership_verified: d.ownershipVerified,
      spf_status: 'unverified',
      abuse_at_status: 'unverified',
      dkim_status: d.dkimStatus ?? (d.ownershipVerified ? 'valid' : 'unverified'),
      cname_status: d.cnameStatus ?? 'unverified',
      mx_status: 'unverified',
      compliance_status: d.complianceStatus ?? 'valid',
      postmaster_at_status: 'unverified',
      verification_mailbox_status: 'unverified',
    },
    dkim: { headers: 'from:to:subject:date', public: 'MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC', selector: 'scph0316' },
    shared_with_subaccounts: false,
    is_default_bounce_domain: false,
  };
}
