// SendGrid key check, sender verification and transport against local fakes of the v3 API
// (test/support/sendgrid-api.ts), through the real @sendgrid/client.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProviderReason, SendReason } from '../../../src/providers/http-api/reasons.ts';
import { retryAfterSeconds } from '../../../src/providers/http-api/retry-after.ts';
import { checkSendGrid } from '../../../src/providers/sendgrid/check.ts';
import { SendGridTransport, sendGridMailBody } from '../../../src/providers/sendgrid/transport.ts';
import { SENDGRID_REGION_URLS, sendGridBaseUrl } from '../../../src/providers/sendgrid/urls.ts';
import { verifySendGridSender } from '../../../src/providers/sendgrid/verify-sender.ts';
import { SendError, type ApiAccount, type OutboundMessage } from '../../../src/providers/types.ts';
import { FakeSendGridApi, type RunningFake } from '../../support/sendgrid-api.ts';

const sgKey = () => `SG.${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
const FULL = sgKey(); // mail.send + reads
const NO_SEND = sgKey(); // may read, may not send
const SEND_ONLY = sgKey(); // mail.send only
const SINGLE_ONLY = sgKey(); // mail.send, no whitelabel.read
const NOTHING_READABLE = sgKey(); // no whitelabel.read, verified_senders forbidden
const EU_KEY = sgKey(); // an EU regional subuser's key: known only to the EU host
const UNKNOWN = sgKey();
const SECRETS = [FULL, NO_SEND, SEND_ONLY, SINGLE_ONLY, NOTHING_READABLE, EU_KEY, UNKNOWN];
const DESCRIBE = 'Secret "mail/sendgrid" key "apiKey"';

const us = new FakeSendGridApi({
  region: 'US',
  keys: {
    [FULL]: {
      label: 'full',
      scopes: ['alerts.read', 'mail.send', 'ips.pools.read', 'whitelabel.read', 'user.username.read', 'stats.read'],
      username: 'acme-mail',
    },
    [NO_SEND]: { label: 'no-send', scopes: ['alerts.read', 'whitelabel.read'] },
    [SEND_ONLY]: { label: 'send-only', scopes: ['mail.send'] },
    [SINGLE_ONLY]: { label: 'single-only', scopes: ['mail.send', 'user.profile.read'], company: 'Acme Corp' },
    [NOTHING_READABLE]: { label: 'nothing-readable', scopes: ['mail.send'], forbidden: ['/v3/verified_senders'] },
  },
  ipPools: ['transactional', 'bulk mail'],
  verifiedSenders: [
    { email: 'single@verified.test', verified: true, name: 'Single' },
    { email: 'pending@other.test', verified: false },
  ],
  authenticatedDomains: [
    { domain: 'example.com', valid: true },
    { domain: 'pending.test', valid: false },
  ],
});
const eu = new FakeSendGridApi({
  region: 'EU',
  keys: { [EU_KEY]: { label: 'eu-subuser', scopes: ['mail.send', 'ips.pools.read'] } },
  ipPools: ['eu-pool'],
  authenticatedDomains: [{ domain: 'example.eu', valid: true }],
});

let usApi: RunningFake;
let euApi: RunningFake;
let closedUrl: string;
const transports: SendGridTransport[] = [];
let baseline: string[] = [];

const account = (apiKey: string, extra: Partial<ApiAccount> = {}): ApiAccount => ({
  apiKey,
  region: 'US',
  baseUrl: usApi.url,
  ...extra,
});

/** Nothing that leaves the module may contain a key: results, errors, their causes, fakes' records. */
function expectNoSecret(value: unknown): void {
  const texts = [JSON.stringify(value) ?? '', inspect(value, { depth: 20, showHidden: true })];
  if (value instanceof Error) texts.push(value.message, String(value), value.stack ?? '');
  // Report which key leaked by its index, never by its value (the test output must not show it either).
  const leaked = SECRETS.flatMap((secret, i) => (texts.some((t) => t.includes(secret)) ? [`SECRETS[${i}]`] : []));
  expect(leaked).toEqual([]);
}

function transport(acc: ApiAccount, opts: ConstructorParameters<typeof SendGridTransport>[1] = {}): SendGridTransport {
  const t = new SendGridTransport(acc, opts);
  transports.push(t);
  return t;
}

async function sendError(p: Promise<unknown>): Promise<SendError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SendError);
  expectNoSecret(err);
  return err as SendError;
}

/** Sockets, servers and timers: what a leak of this module would leave behind. */
const handles = (list: string[]) => list.filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout').sort();

async function cleanup(): Promise<void> {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all([usApi?.close(), euApi?.close()]);
}

beforeAll(async () => {
  baseline = process.getActiveResourcesInfo();
  [usApi, euApi] = await Promise.all([us.start(), eu.start()]);
  const doomed = await new FakeSendGridApi().start();
  closedUrl = doomed.url;
  await doomed.close();
});

afterAll(cleanup);

beforeEach(() => {
  us.reset();
  eu.reset();
});

describe('SendGrid base URLs', () => {
  it('maps regions to the public hosts', () => {
    expect(sendGridBaseUrl({ region: 'US' })).toBe('https://api.sendgrid.com');
    expect(sendGridBaseUrl({ region: 'EU' })).toBe('https://api.eu.sendgrid.com');
    expect(SENDGRID_REGION_URLS).toEqual({ US: 'https://api.sendgrid.com', EU: 'https://api.eu.sendgrid.com' });
  });

  it('lets baseUrl override the region, tolerating a trailing slash or /v3', () => {
    expect(sendGridBaseUrl({ region: 'EU', baseUrl: 'http://proxy.local:8080/' })).toBe('http://proxy.local:8080');
    expect(sendGridBaseUrl({ region: 'US', baseUrl: 'https://sg.example/v3/' })).toBe('https://sg.example');
    expect(sendGridBaseUrl({ region: 'EU' }, { EU: 'http://eu.local' })).toBe('http://eu.local');
    expect(sendGridBaseUrl({ region: 'US' }, { EU: 'http://eu.local' })).toBe('https://api.sendgrid.com');
  });
});

describe('checkSendGrid', () => {
  it('accepts a good key and reports account, scopes, endpoint and IP pool', async () => {
    const r = await checkSendGrid(account(FULL, { ipPool: 'transactional' }), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: true, reason: ProviderReason.Connected, transient: false });
    expect(r.facts).toMatchObject({
      endpoint: usApi.url,
      account: 'acme-mail',
      scopes: ['mail.send', 'ips.pools.read', 'whitelabel.read', 'user.username.read'],
      ipPool: 'transactional',
    });
    expect(Date.parse(r.facts!.checkedAt)).not.toBeNaN();
    expect(r.facts!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.message).toContain(DESCRIBE);
    expect(r.message).toContain('"transactional"');
    expect(us.requests.map((q) => `${q.method} ${q.path} ${q.authorization} ${q.keyLabel} ${q.status}`)).toEqual([
      'GET /v3/scopes bearer full 200',
      'GET /v3/user/username bearer full 200',
      'GET /v3/ips/pools/transactional bearer full 200',
    ]);
    expectNoSecret(r);
    expectNoSecret(us.requests);
  });

  it('url-encodes the pool name and uses the profile company when the username is not readable', async () => {
    const r = await checkSendGrid(account(SINGLE_ONLY));
    expect(r).toMatchObject({ ok: true, facts: { account: 'Acme Corp', scopes: ['mail.send', 'user.profile.read'] } });
    const pool = await checkSendGrid(account(FULL, { ipPool: 'bulk mail' }));
    expect(pool.ok).toBe(true);
    expect(us.requestsTo('/v3/ips/pools/').map((q) => q.path)).toEqual(['/v3/ips/pools/bulk%20mail']);
  });

  it('refuses an unknown key: InvalidAPIKey, not transient, naming the Secret and the region setting', async () => {
    const r = await checkSendGrid(account(UNKNOWN), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidAPIKey, transient: false });
    expect(r.message).toContain(`SendGrid refused the API key in ${DESCRIBE}`);
    expect(r.message).toContain('HTTP 401');
    expect(r.message).toContain('"authorization required"');
    expect(r.message).toMatch(/region is US .* set region: EU/);
    expect(us.requests[0]).toMatchObject({ authorization: 'bearer', status: 401 });
    expect(us.requests[0]!.keyLabel).toBeUndefined();
    expectNoSecret(r);
  });

  it('refuses an empty key without calling SendGrid', async () => {
    const r = await checkSendGrid(account('  '), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidAPIKey, transient: false });
    expect(r.message).toBe(`The API key in ${DESCRIBE} is empty; put the SendGrid API key there.`);
    expect(us.requests).toEqual([]);
  });

  it('refuses a key without mail.send: MissingSendScope, not transient', async () => {
    const r = await checkSendGrid(account(NO_SEND), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.MissingSendScope, transient: false });
    expect(r.message).toContain('"mail.send"');
    expect(r.facts?.scopes).toEqual(['whitelabel.read']);
    expectNoSecret(r);
  });

  it('reports a missing IP pool: IPPoolNotFound, not transient', async () => {
    const r = await checkSendGrid(account(FULL, { ipPool: 'marketing' }));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.IPPoolNotFound, transient: false });
    expect(r.message).toContain('"marketing"');
    expect(r.message).toContain('404');
    expect(us.requests.at(-1)).toMatchObject({ path: '/v3/ips/pools/marketing', status: 404 });
  });

  it('cannot check an IP pool without ips.pools.read: MissingPermission, not transient', async () => {
    const r = await checkSendGrid(account(SEND_ONLY, { ipPool: 'transactional' }));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.MissingPermission, transient: false });
    expect(r.message).toContain('ips.pools.read');
    expect(us.requestsTo('/v3/ips')).toEqual([]);
  });

  it('reports 429 as RateLimited, transient, with the wait from X-RateLimit-Reset', async () => {
    us.failWith({ status: 429, resetInSeconds: 30 });
    const r = await checkSendGrid(account(FULL));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.RateLimited, transient: true });
    expect(r.message).toMatch(/wait (29|30)s/);
    expect(r.message).toContain('"too many requests"');
    expectNoSecret(r);
  });

  it.each([500, 503])('reports %i as ProviderUnavailable, transient', async (status) => {
    us.failWith({ status });
    const r = await checkSendGrid(account(FULL));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.ProviderUnavailable, transient: true });
    expect(r.message).toContain(`HTTP ${status}`);
  });

  it('reports a 5xx on the IP pool step the same way', async () => {
    us.failWith({ status: 503, path: '/v3/ips/' });
    const r = await checkSendGrid(account(FULL, { ipPool: 'transactional' }));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.ProviderUnavailable, transient: true });
    expect(r.message).toContain('GET /v3/ips/pools/transactional');
  });

  it('reports a closed port as APIUnreachable, transient, naming the URL', async () => {
    const r = await checkSendGrid({ apiKey: FULL, region: 'US', baseUrl: closedUrl });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.APIUnreachable, transient: true });
    expect(r.message).toContain(closedUrl);
    expect(r.message).toContain('ECONNREFUSED');
    expect(r.facts?.endpoint).toBe(closedUrl);
    expectNoSecret(r);
  });

  it('reports a server that does not answer in time as APIUnreachable, transient', async () => {
    us.delay(2_000);
    const r = await checkSendGrid(account(FULL), { stepTimeoutMs: 100 });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.APIUnreachable, transient: true });
    expect(r.message).toContain('no answer within 100 ms');
  });

  it('stops when the caller aborts: Canceled, transient', async () => {
    us.delay(2_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const r = await checkSendGrid(account(FULL), { signal: ac.signal });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.Canceled, transient: true });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('SendGrid regions', () => {
  it('sends an EU account to the EU host, not the US one', async () => {
    const regionBaseUrls = { US: usApi.url, EU: euApi.url };
    const r = await checkSendGrid({ apiKey: EU_KEY, region: 'EU', ipPool: 'eu-pool' }, { regionBaseUrls });
    expect(r).toMatchObject({ ok: true, reason: ProviderReason.Connected, facts: { endpoint: euApi.url, ipPool: 'eu-pool' } });
    expect(eu.requests.map((q) => q.keyLabel)).toEqual(['eu-subuser', 'eu-subuser']);
    expect(us.requests).toEqual([]);
  });

  it('tells to check the region when the US host refuses an EU subuser key', async () => {
    const regionBaseUrls = { US: usApi.url, EU: euApi.url };
    const r = await checkSendGrid({ apiKey: EU_KEY, region: 'US' }, { regionBaseUrls, describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidAPIKey, transient: false });
    expect(r.message).toContain('set region: EU');
    expect(us.requests).toHaveLength(1);
    expect(eu.requests).toEqual([]);
    const back = await checkSendGrid({ apiKey: FULL, region: 'EU' }, { regionBaseUrls });
    expect(back.message).toContain('set region: US');
    expectNoSecret([r, back]);
  });

  it('lets baseUrl win over the region', async () => {
    const r = await checkSendGrid({ apiKey: FULL, region: 'EU', baseUrl: `${usApi.url}/v3/` }, { regionBaseUrls: { EU: euApi.url } });
    expect(r).toMatchObject({ ok: true, facts: { endpoint: usApi.url } });
    expect(eu.requests).toEqual([]);
  });
});

describe('verifySendGridSender', () => {
  it('accepts a verified single sender', async () => {
    const r = await verifySendGridSender(account(FULL), 'Single@Verified.test');
    expect(r).toMatchObject({ ok: true, reason: ProviderReason.SenderVerified, transient: false });
    expect(r.facts).toMatchObject({ via: 'SingleSender', address: 'single@verified.test', endpoint: usApi.url });
  });

  it('accepts an address in a valid authenticated domain, or in a subdomain of one', async () => {
    const r = await verifySendGridSender(account(FULL), 'noreply@example.com');
    expect(r).toMatchObject({ ok: true, reason: ProviderReason.SenderVerified, facts: { via: 'AuthenticatedDomain', domain: 'example.com' } });
    const sub = await verifySendGridSender(account(FULL), 'alerts@mail.Example.com');
    expect(sub).toMatchObject({ ok: true, facts: { via: 'AuthenticatedDomain', domain: 'example.com' } });
    // Found among the domains: the single senders were not needed.
    expect(us.requestsTo('/v3/verified_senders')).toEqual([]);
  });

  it('refuses an unknown address: SenderNotVerified, not transient, saying what to do', async () => {
    const r = await verifySendGridSender(account(FULL), 'who@unknown.test', { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SenderNotVerified, transient: false });
    expect(r.message).toContain('who@unknown.test');
    expect(r.message).toContain('Sender Authentication');
    expect(r.message).toContain('authenticate the domain unknown.test');
    expectNoSecret(r);
  });

  it('explains a single sender whose verification is pending', async () => {
    const r = await verifySendGridSender(account(FULL), 'pending@other.test');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SenderNotVerified });
    expect(r.message).toContain('has not been confirmed');
  });

  it('explains an authenticated domain whose DNS is not valid', async () => {
    const r = await verifySendGridSender(account(FULL), 'x@pending.test');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SenderNotVerified });
    expect(r.message).toContain('pending.test is added but its DNS records are not valid');
  });

  it('still finds a single sender when the key may not read domains', async () => {
    const r = await verifySendGridSender(account(SINGLE_ONLY), 'single@verified.test');
    expect(r).toMatchObject({ ok: true, facts: { via: 'SingleSender' } });
    const miss = await verifySendGridSender(account(SINGLE_ONLY), 'noreply@example.com');
    expect(miss).toMatchObject({ ok: false, reason: ProviderReason.SenderNotVerified });
    expect(miss.message).toContain('Not checked: authenticated domains');
  });

  it('reports MissingPermission when the key may read neither list', async () => {
    const r = await verifySendGridSender(account(NOTHING_READABLE), 'noreply@example.com');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.MissingPermission, transient: false });
    expect(r.message).toContain('whitelabel.read');
  });

  it('pages through the verified senders', async () => {
    const before = us.verifiedSenders;
    us.verifiedSenders = [
      ...Array.from({ length: 230 }, (_, i) => ({ email: `s${i}@other.test`, verified: true })),
      { email: 'last@late.test', verified: true },
    ];
    try {
      const r = await verifySendGridSender(account(FULL), 'last@late.test');
      expect(r).toMatchObject({ ok: true, facts: { via: 'SingleSender' } });
      expect(us.requestsTo('/v3/verified_senders').map((q) => q.query)).toEqual([
        { limit: '100' },
        { limit: '100', lastSeenID: '1099' },
        { limit: '100', lastSeenID: '1199' },
      ]);
    } finally {
      us.verifiedSenders = before;
    }
  });

  it('refuses an address without a domain', async () => {
    const r = await verifySendGridSender(account(FULL), 'nobody');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidSenderAddress, transient: false });
    expect(us.requests).toEqual([]);
  });

  it('maps errors as the key check does', async () => {
    expect(await verifySendGridSender(account(UNKNOWN), 'a@example.com')).toMatchObject({
      reason: ProviderReason.InvalidAPIKey,
      transient: false,
    });
    us.failWith({ status: 502 });
    expect(await verifySendGridSender(account(FULL), 'a@example.com')).toMatchObject({
      reason: ProviderReason.ProviderUnavailable,
      transient: true,
    });
    us.failWith({ status: 429, path: '/v3/verified_senders' });
    expect(await verifySendGridSender(account(FULL), 'a@nowhere.test')).toMatchObject({
      reason: ProviderReason.RateLimited,
      transient: true,
    });
    expect(await verifySendGridSender({ apiKey: FULL, region: 'US', baseUrl: closedUrl }, 'a@example.com')).toMatchObject({
      reason: ProviderReason.APIUnreachable,
      transient: true,
    });
  });
});

const message = (extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  from: { name: 'Acme Billing', address: 'billing@example.com' },
  replyTo: 'support@example.com',
  to: ['alice@customer.test', 'bob@customer.test'],
  cc: ['carol@customer.test', 'Alice@customer.test'],
  bcc: ['audit@example.com'],
  subject: 'Your invoice',
  text: 'Invoice attached.',
  html: '<p>Invoice attached.</p>',
  headers: { 'X-Campaign': 'invoices', Subject: 'not allowed here' },
  attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4 fake') }],
  ...extra,
});

describe('SendGridTransport', () => {
  it('sends the mapped message and returns X-Message-Id', async () => {
    const t = transport(account(FULL, { ipPool: 'transactional' }));
    const result = await t.send(message());
    expect(us.messages).toHaveLength(1);
    const got = us.messages[0]!;
    expect(result.messageId).toBe(got.messageId);
    expect(result.response).toBe(`202 Accepted X-Message-Id: ${got.messageId}`);
    expect(got.keyLabel).toBe('full');
    expect(got.body).toEqual({
      personalizations: [
        {
          to: [{ email: 'alice@customer.test' }, { email: 'bob@customer.test' }],
          cc: [{ email: 'carol@customer.test' }],
          bcc: [{ email: 'audit@example.com' }],
        },
      ],
      from: { email: 'billing@example.com', name: 'Acme Billing' },
      reply_to: { email: 'support@example.com' },
      subject: 'Your invoice',
      content: [
        { type: 'text/plain', value: 'Invoice attached.' },
        { type: 'text/html', value: '<p>Invoice attached.</p>' },
      ],
      attachments: [
        { content: Buffer.from('%PDF-1.4 fake').toString('base64'), filename: 'invoice.pdf', type: 'application/pdf', disposition: 'attachment' },
      ],
      headers: { 'X-Campaign': 'invoices' },
      ip_pool_name: 'transactional',
    });
    expect(us.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v3/mail/send', authorization: 'bearer', status: 202 });
    expectNoSecret(result);
  });

  it('sends a minimal message with only what was given', async () => {
    const t = transport(account(FULL));
    await t.send({ from: { address: 'noreply@example.com' }, to: ['x@customer.test'], subject: 'Hi', text: 'Hello' });
    expect(us.messages[0]!.body).toEqual({
      personalizations: [{ to: [{ email: 'x@customer.test' }] }],
      from: { email: 'noreply@example.com' },
      subject: 'Hi',
      content: [{ type: 'text/plain', value: 'Hello' }],
    });
  });

  it('keeps accounts apart: two transports, two hosts, two keys', async () => {
    const a = transport(account(FULL));
    const b = transport({ apiKey: EU_KEY, region: 'EU' }, { regionBaseUrls: { EU: euApi.url } });
    await Promise.all([
      a.send(message({ from: { address: 'a@example.com' } })),
      b.send(message({ from: { address: 'b@example.eu' }, attachments: [] })),
      a.send(message({ from: { address: 'c@example.com' } })),
    ]);
    expect(us.messages.map((m) => m.keyLabel)).toEqual(['full', 'full']);
    expect(eu.messages.map((m) => [m.keyLabel, (m.body.from as { email: string }).email])).toEqual([['eu-subuser', 'b@example.eu']]);
    expect([...us.requests, ...eu.requests].every((q) => q.keyLabel)).toBe(true);
  });

  it('rejects a 4xx as permanent with the provider error (unverified sender, 403)', async () => {
    const err = await sendError(transport(account(FULL)).send(message({ from: { address: 'someone@unverified.test' } })));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: 403 });
    expect(err.message).toContain('does not match a verified Sender Identity');
    expect(err.retryAfterSeconds).toBeUndefined();
  });

  it('rejects a 400 validation error as permanent (unknown IP pool)', async () => {
    const err = await sendError(transport(account(FULL, { ipPool: 'nope' })).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: 400 });
    expect(err.message).toContain('field ip_pool_name');
  });

  it('rejects a refused key as permanent without the key in the error', async () => {
    const err = await sendError(transport(account(UNKNOWN)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: 401 });
    expect(err.message).toContain('region');
  });

  it('rejects a key without mail.send (403) as permanent', async () => {
    const err = await sendError(transport(account(NO_SEND)).send(message()));
    expect(err).toMatchObject({ permanent: true, upstreamStatus: 403 });
    expect(err.message).toContain('access forbidden');
  });

  it('reports 429 as temporary with retryAfterSeconds from X-RateLimit-Reset, or Retry-After when sent', async () => {
    us.failWith({ status: 429, resetInSeconds: 20, times: 1 });
    const err = await sendError(transport(account(FULL)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRateLimited, permanent: false, upstreamStatus: 429 });
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(19);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(20);
    us.failWith({ status: 429, resetInSeconds: 20, retryAfter: 7, times: 1 });
    const again = await sendError(transport(account(FULL)).send(message()));
    expect(again.retryAfterSeconds).toBe(7);
    expect(us.messages).toEqual([]);
  });

  it.each([500, 502, 503])('reports %i as temporary (UpstreamUnavailable)', async (status) => {
    us.failWith({ status, times: 1 });
    const err = await sendError(transport(account(FULL)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamUnavailable, permanent: false, upstreamStatus: status });
    // X-RateLimit-Reset comes with every answer: it is no reason to wait after a 5xx.
    expect(err.retryAfterSeconds).toBeUndefined();
  });

  it('reports an unreachable API as temporary', async () => {
    const err = await sendError(transport({ apiKey: FULL, region: 'US', baseUrl: closedUrl }).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamUnavailable, permanent: false });
    expect(err.upstreamStatus).toBeUndefined();
    expect(err.message).toContain(closedUrl);
  });

  it('times out as temporary and honours the caller abort', async () => {
    us.delay(2_000);
    const slow = await sendError(transport(account(FULL), { timeoutMs: 100 }).send(message()));
    expect(slow).toMatchObject({ reason: SendReason.UpstreamUnavailable, permanent: false });
    expect(slow.message).toContain('no answer within 100 ms');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const canceled = await sendError(transport(account(FULL)).send(message(), ac.signal));
    expect(canceled).toMatchObject({ reason: SendReason.Canceled, permanent: false });
  });

  it('refuses a message it cannot map without calling SendGrid', async () => {
    const t = transport(account(FULL));
    const noTo = await sendError(t.send(message({ to: [] })));
    expect(noTo).toMatchObject({ reason: SendReason.InvalidMessage, permanent: true });
    const noBody = await sendError(t.send(message({ text: undefined, html: undefined })));
    expect(noBody).toMatchObject({ reason: SendReason.InvalidMessage, permanent: true });
    expect(us.requests).toEqual([]);
  });

  it('refuses to send after close()', async () => {
    const t = transport(account(FULL));
    await t.close();
    const err = await sendError(t.send(message()));
    expect(err.permanent).toBe(false);
    expect(us.requests).toEqual([]);
  });

  it('maps an inline image to disposition inline with its content_id', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    await transport(account(FULL)).send({
      ...message(),
      html: '<img src="cid:logo@example.com">',
      attachments: [{ filename: 'logo.png', contentType: 'image/png', content: png, contentId: 'logo@example.com', disposition: 'inline' }],
    });
    const sent = us.messages.at(-1)!.body as { attachments?: unknown };
    expect(sent.attachments).toEqual([{ content: png.toString('base64'), filename: 'logo.png', type: 'image/png', disposition: 'inline', content_id: 'logo@example.com' }]);
  });

  it('carries the Message-ID as a custom header', () => {
    const body = sendGridMailBody({ from: { address: 'a@example.com' }, to: ['b@example.com'], subject: 's', text: 't', messageId: '<m-1@example.com>' });
    expect(body.headers).toEqual({ 'Message-ID': '<m-1@example.com>' });
  });

  it('maps text before html, as SendGrid requires', () => {
    const body = sendGridMailBody({ from: { address: 'a@example.com' }, to: ['b@example.com'], subject: 's', html: '<b>h</b>', text: 't' });
    expect(body.content.map((c) => c.type)).toEqual(['text/plain', 'text/html']);
  });
});

describe('retry-after parsing', () => {
  it('reads Retry-After seconds or date, else X-RateLimit-Reset', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterSeconds({ 'retry-after': '12' }, now)).toBe(12);
    expect(retryAfterSeconds({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now)).toBe(30);
    expect(retryAfterSeconds({ 'x-ratelimit-reset': String(now / 1000 + 45) }, now)).toBe(45);
    expect(retryAfterSeconds({ 'x-ratelimit-reset': String(now / 1000 - 5) }, now)).toBe(0);
    expect(retryAfterSeconds({}, now)).toBeUndefined();
  });
});

describe('resources', () => {
  it('has a secret detector that would catch a leak', () => {
    expect(() => expectNoSecret({ nested: [`Bearer ${FULL}`] })).toThrow();
    expect(() => expectNoSecret(new Error('x', { cause: { key: EU_KEY } }))).toThrow();
  });

  it('leaves no sockets or servers open once transports and fakes are closed', async () => {
    await cleanup();
    // Handles being closed stay listed until libuv's close callbacks ran (some ms): poll briefly.
    const deadline = Date.now() + 3_000;
    let open = handles(process.getActiveResourcesInfo());
    while (open.length > handles(baseline).length && Date.now() < deadline) {
      await new Promise<void>((r) => setTimeout(r, 10));
      open = handles(process.getActiveResourcesInfo());
    }
    expect(open).toEqual(handles(baseline));
  });
});
