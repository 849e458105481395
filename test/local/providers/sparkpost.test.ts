// SparkPost key check, sender verification and transport against local fakes of the API
// (test/support/sparkpost-api.ts), through the real `sparkpost` SDK.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProviderReason, SendReason } from '../../../src/providers/http-api/reasons.ts';
import { checkSparkPost } from '../../../src/providers/sparkpost/check.ts';
import { SparkPostTransport, sparkPostTransmission } from '../../../src/providers/sparkpost/transport.ts';
import { SPARKPOST_REGION_URLS, sparkPostBaseUrl } from '../../../src/providers/sparkpost/urls.ts';
import { verifySparkPostSender } from '../../../src/providers/sparkpost/verify-sender.ts';
import { SendError, type ApiAccount, type OutboundMessage } from '../../../src/providers/types.ts';
import { FakeSparkPostApi, type RunningFake } from '../../support/sparkpost-api.ts';

const spKey = () => randomBytes(20).toString('hex');
const FULL = spKey();
const NO_ACCOUNT = spKey(); // may not read the account
const NO_POOLS = spKey(); // may not read IP pools
const NO_DOMAINS = spKey(); // may not read sending domains
const EU_KEY = spKey(); // made in SparkPost EU: unknown to the US service
const UNKNOWN = spKey();
const SECRETS = [FULL, NO_ACCOUNT, NO_POOLS, NO_DOMAINS, EU_KEY, UNKNOWN];
const DESCRIBE = 'Secret "mail/sparkpost" key "apiKey"';

const us = new FakeSparkPostApi({
  region: 'US',
  keys: {
    [FULL]: { label: 'full' },
    [NO_ACCOUNT]: { label: 'no-account', forbidden: ['/account'] },
    [NO_POOLS]: { label: 'no-pools', forbidden: ['/ip-pools'] },
    [NO_DOMAINS]: { label: 'no-domains', forbidden: ['/sending-domains'] },
  },
  account: { customer_id: 102938, company_name: 'Example Inc' },
  ipPools: ['transactional', 'bulk pool'],
  sendingDomains: [
    { domain: 'example.com', ownershipVerified: true },
    { domain: 'pending.test', ownershipVerified: false, dkimStatus: 'pending', cnameStatus: 'unverified' },
    { domain: 'blocked.test', ownershipVerified: true, complianceStatus: 'blocked' },
  ],
  rejectRecipients: ['bounce@customer.test', 'bounce2@customer.test'],
});
const eu = new FakeSparkPostApi({
  region: 'EU',
  keys: { [EU_KEY]: { label: 'eu' } },
  account: { customer_id: 7, company_name: 'Example GmbH' },
  ipPools: ['eu-pool'],
  sendingDomains: [{ domain: 'example.eu', ownershipVerified: true }],
});

let usApi: RunningFake;
let euApi: RunningFake;
let closedUrl: string;
const transports: SparkPostTransport[] = [];
let baseline: string[] = [];

const account = (apiKey: string, extra: Partial<ApiAccount> = {}): ApiAccount => ({
  apiKey,
  region: 'US',
  baseUrl: usApi.url,
  ...extra,
});

function expectNoSecret(value: unknown): void {
  const texts = [JSON.stringify(value) ?? '', inspect(value, { depth: 20, showHidden: true })];
  if (value instanceof Error) texts.push(value.message, String(value), value.stack ?? '');
  // Report which key leaked by its index, never by its value (the test output must not show it either).
  const leaked = SECRETS.flatMap((secret, i) => (texts.some((t) => t.includes(secret)) ? [`SECRETS[${i}]`] : []));
  expect(leaked).toEqual([]);
}

function transport(acc: ApiAccount, opts: ConstructorParameters<typeof SparkPostTransport>[1] = {}): SparkPostTransport {
  const t = new SparkPostTransport(acc, opts);
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

const handles = (list: string[]) => list.filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout').sort();

async function cleanup(): Promise<void> {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all([usApi?.close(), euApi?.close()]);
}

beforeAll(async () => {
  baseline = process.getActiveResourcesInfo();
  [usApi, euApi] = await Promise.all([us.start(), eu.start()]);
  const doomed = await new FakeSparkPostApi().start();
  closedUrl = doomed.url;
  await doomed.close();
});

afterAll(cleanup);

beforeEach(() => {
  us.reset();
  eu.reset();
});

describe('SparkPost origins', () => {
  it('maps regions to the public origins', () => {
    expect(sparkPostBaseUrl({ region: 'US' })).toBe('https://api.sparkpost.com');
    expect(sparkPostBaseUrl({ region: 'EU' })).toBe('https://api.eu.sparkpost.com');
    expect(SPARKPOST_REGION_URLS).toEqual({ US: 'https://api.sparkpost.com', EU: 'https://api.eu.sparkpost.com' });
  });

  it('lets baseUrl override the region, with or without /api/v1', () => {
    expect(sparkPostBaseUrl({ region: 'EU', baseUrl: 'https://sp.enterprise.example/api/v1/' })).toBe('https://sp.enterprise.example');
    expect(sparkPostBaseUrl({ region: 'US', baseUrl: 'http://proxy.local:8080/' })).toBe('http://proxy.local:8080');
    expect(sparkPostBaseUrl({ region: 'EU' }, { EU: 'http://eu.local' })).toBe('http://eu.local');
  });
});

describe('checkSparkPost', () => {
  it('accepts a good key and reports account, endpoint and IP pool', async () => {
    const r = await checkSparkPost(account(FULL, { ipPool: 'transactional' }), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: true, reason: ProviderReason.Connected, transient: false });
    expect(r.facts).toMatchObject({ endpoint: usApi.url, account: 'Example Inc (customer 102938)', ipPool: 'transactional' });
    expect(r.facts!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(r.message).toContain(DESCRIBE);
    expect(us.requests.map((q) => `${q.method} ${q.path} ${q.authorization} ${q.keyLabel} ${q.status}`)).toEqual([
      'GET /api/v1/account key full 200',
      'GET /api/v1/ip-pools/transactional key full 200',
    ]);
    expectNoSecret(r);
    expectNoSecret(us.requests);
  });

  it('url-encodes the pool id', async () => {
    expect((await checkSparkPost(account(FULL, { ipPool: 'bulk pool' }))).ok).toBe(true);
    expect(us.requestsTo('/api/v1/ip-pools/').map((q) => q.path)).toEqual(['/api/v1/ip-pools/bulk%20pool']);
  });

  it('refuses an unknown key: InvalidAPIKey, not transient, naming the Secret and the region setting', async () => {
    const r = await checkSparkPost(account(UNKNOWN), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidAPIKey, transient: false });
    expect(r.message).toContain(`SparkPost refused the API key in ${DESCRIBE}`);
    expect(r.message).toContain('HTTP 401');
    expect(r.message).toContain('region: EU');
    expectNoSecret(r);
  });

  it('refuses an empty key without calling SparkPost (the SDK would fall back to $SPARKPOST_API_KEY)', async () => {
    const r = await checkSparkPost(account(''), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidAPIKey, transient: false });
    expect(us.requests).toEqual([]);
  });

  it('reports a 403 on the account as MissingPermission, not transient', async () => {
    const r = await checkSparkPost(account(NO_ACCOUNT), { describeKey: DESCRIBE });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.MissingPermission, transient: false });
    expect(r.message).toContain('GET /api/v1/account');
    expect(r.message).toContain('read access to Account');
  });

  it('reports a 403 on IP pools as MissingPermission', async () => {
    const r = await checkSparkPost(account(NO_POOLS, { ipPool: 'transactional' }));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.MissingPermission, transient: false });
    expect(r.message).toContain('IP Pools');
    expect(r.facts?.account).toBe('Example Inc (customer 102938)');
  });

  it('reports a missing IP pool: IPPoolNotFound, not transient', async () => {
    const r = await checkSparkPost(account(FULL, { ipPool: 'marketing' }));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.IPPoolNotFound, transient: false });
    expect(r.message).toContain('"marketing"');
    expect(us.requests.at(-1)).toMatchObject({ path: '/api/v1/ip-pools/marketing', status: 404 });
  });

  it.each([429, 420])('reports %i as RateLimited, transient', async (status) => {
    us.failWith({ status, retryAfter: 3 });
    const r = await checkSparkPost(account(FULL));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.RateLimited, transient: true });
    expect(r.message).toContain(`HTTP ${status}`);
    expect(r.message).toContain('wait 3s');
  });

  it.each([500, 503])('reports %i as ProviderUnavailable, transient', async (status) => {
    us.failWith({ status });
    const r = await checkSparkPost(account(FULL));
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.ProviderUnavailable, transient: true });
    expect(r.message).toContain(`HTTP ${status}`);
  });

  it('reports a closed port as APIUnreachable, transient, naming the URL', async () => {
    const r = await checkSparkPost({ apiKey: FULL, region: 'US', baseUrl: closedUrl });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.APIUnreachable, transient: true });
    expect(r.message).toContain(closedUrl);
    expect(r.message).toContain('ECONNREFUSED');
    expectNoSecret(r);
  });

  it('reports a server that does not answer in time as APIUnreachable, transient', async () => {
    us.delay(2_000);
    const started = Date.now();
    const r = await checkSparkPost(account(FULL), { stepTimeoutMs: 100 });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.APIUnreachable, transient: true });
    expect(r.message).toContain('no answer within 100 ms');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('stops when the caller aborts: Canceled, transient', async () => {
    us.delay(2_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const r = await checkSparkPost(account(FULL), { signal: ac.signal });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.Canceled, transient: true });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('SparkPost regions', () => {
  it('sends an EU account to the EU origin, not the US one', async () => {
    const regionBaseUrls = { US: usApi.url, EU: euApi.url };
    const r = await checkSparkPost({ apiKey: EU_KEY, region: 'EU', ipPool: 'eu-pool' }, { regionBaseUrls });
    expect(r).toMatchObject({ ok: true, facts: { endpoint: euApi.url, account: 'Example GmbH (customer 7)', ipPool: 'eu-pool' } });
    expect(eu.requests.map((q) => q.keyLabel)).toEqual(['eu', 'eu']);
    expect(us.requests).toEqual([]);
  });

  it('tells to check the region when the US service refuses an EU key', async () => {
    const r = await checkSparkPost({ apiKey: EU_KEY, region: 'US' }, { regionBaseUrls: { US: usApi.url, EU: euApi.url } });
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.InvalidAPIKey });
    expect(r.message).toContain('only work with region: EU');
    expect(eu.requests).toEqual([]);
    expectNoSecret(r);
  });
});

describe('verifySparkPostSender', () => {
  it('accepts an address in a sending domain with verified ownership', async () => {
    const r = await verifySparkPostSender(account(FULL), 'NoReply@Example.com');
    expect(r).toMatchObject({ ok: true, reason: ProviderReason.SenderVerified, transient: false });
    expect(r.facts).toMatchObject({ via: 'SendingDomain', domain: 'example.com', address: 'noreply@example.com' });
    expect(us.requests.map((q) => q.path)).toEqual(['/api/v1/sending-domains/example.com']);
  });

  it('refuses an unverified domain: SendingDomainNotVerified, saying what is pending', async () => {
    const r = await verifySparkPostSender(account(FULL), 'x@pending.test');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SendingDomainNotVerified, transient: false });
    expect(r.message).toContain('DKIM pending');
    expect(r.message).toContain('x@pending.test');
  });

  it('refuses an unknown domain: SendingDomainNotFound', async () => {
    const r = await verifySparkPostSender(account(FULL), 'x@unknown.test');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SendingDomainNotFound, transient: false });
    expect(r.message).toContain('Add unknown.test under Configuration > Sending Domains');
  });

  it('refuses a blocked domain', async () => {
    const r = await verifySparkPostSender(account(FULL), 'x@blocked.test');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SendingDomainBlocked, transient: false });
  });

  it('does not treat a parent sending domain as covering a subdomain', async () => {
    const r = await verifySparkPostSender(account(FULL), 'x@mail.example.com');
    expect(r).toMatchObject({ ok: false, reason: ProviderReason.SendingDomainNotFound });
  });

  it('maps errors as the key check does', async () => {
    expect(await verifySparkPostSender(account(UNKNOWN), 'a@example.com')).toMatchObject({ reason: ProviderReason.InvalidAPIKey });
    expect(await verifySparkPostSender(account(NO_DOMAINS), 'a@example.com')).toMatchObject({
      reason: ProviderReason.MissingPermission,
      transient: false,
    });
    us.failWith({ status: 503 });
    expect(await verifySparkPostSender(account(FULL), 'a@example.com')).toMatchObject({
      reason: ProviderReason.ProviderUnavailable,
      transient: true,
    });
    expect(await verifySparkPostSender({ apiKey: FULL, region: 'US', baseUrl: closedUrl }, 'a@example.com')).toMatchObject({
      reason: ProviderReason.APIUnreachable,
      transient: true,
    });
    expect(await verifySparkPostSender(account(FULL), 'no-domain')).toMatchObject({ reason: ProviderReason.InvalidSenderAddress });
  });
});

const message = (extra: Partial<OutboundMessage> = {}): OutboundMessage => ({
  from: { name: 'Acme Billing', address: 'billing@example.com' },
  replyTo: 'support@example.com',
  to: ['alice@customer.test', 'bob@customer.test'],
  cc: ['carol@customer.test'],
  bcc: ['audit@example.com', 'ALICE@customer.test'],
  subject: 'Your invoice',
  text: 'Invoice attached.',
  html: '<p>Invoice attached.</p>',
  headers: { 'X-Campaign': 'invoices', 'Content-Type': 'text/evil' },
  attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.4 fake') }],
  ...extra,
});

describe('SparkPostTransport', () => {
  it('sends the mapped transmission and returns results.id', async () => {
    const t = transport(account(FULL, { ipPool: 'transactional' }));
    const result = await t.send(message());
    expect(us.transmissions).toHaveLength(1);
    const got = us.transmissions[0]!;
    expect(result.messageId).toBe(got.id);
    expect(result.response).toBe(`200 OK: transmission ${got.id}, 4 accepted, 0 rejected`);
    expect(got.keyLabel).toBe('full');
    // As sent on the wire, after the SDK turned cc/bcc into recipients with header_to and a CC header.
    expect(got.body).toEqual({
      options: { ip_pool: 'transactional' },
      recipients: [
        { address: { email: 'alice@customer.test' } },
        { address: { email: 'bob@customer.test' } },
        { address: { email: 'carol@customer.test', header_to: 'alice@customer.test, bob@customer.test' } },
        { address: { email: 'audit@example.com', header_to: 'alice@customer.test, bob@customer.test' } },
      ],
      content: {
        from: { email: 'billing@example.com', name: 'Acme Billing' },
        subject: 'Your invoice',
        text: 'Invoice attached.',
        html: '<p>Invoice attached.</p>',
        reply_to: 'support@example.com',
        headers: { 'X-Campaign': 'invoices', CC: 'carol@customer.test' },
        attachments: [{ name: 'invoice.pdf', type: 'application/pdf', data: Buffer.from('%PDF-1.4 fake').toString('base64') }],
      },
    });
    expect(us.requests.at(-1)).toMatchObject({ method: 'POST', path: '/api/v1/transmissions', authorization: 'key', status: 200 });
    expectNoSecret(result);
  });

  it('sends a minimal message with only what was given', async () => {
    await transport(account(FULL)).send({ from: { address: 'noreply@example.com' }, to: ['x@customer.test'], subject: 'Hi', html: '<p>Hello</p>' });
    expect(us.transmissions[0]!.body).toEqual({
      recipients: [{ address: { email: 'x@customer.test' } }],
      content: { from: { email: 'noreply@example.com' }, subject: 'Hi', html: '<p>Hello</p>' },
    });
  });

  it('sends a message received whole as it is (email_rfc822), every envelope recipient in the list', async () => {
    const raw = Buffer.from(
      'From: Acme Billing <billing@example.com>\r\nTo: alice@customer.test\r\nCc: carol@customer.test\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n' +
        'Message-ID: <kept@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, 8-bit\r\n',
    );
    await transport(account(FULL, { ipPool: 'transactional' })).send(message({ raw, to: ['alice@customer.test'], cc: ['carol@customer.test'], bcc: ['audit@example.com'] }));
    expect(us.transmissions[0]!.body).toEqual({
      options: { ip_pool: 'transactional' },
      recipients: [
        { address: { email: 'alice@customer.test' } },
        { address: { email: 'carol@customer.test' } },
        { address: { email: 'audit@example.com' } },
      ],
      content: { email_rfc822: raw.toString('utf8') },
    });
  });

  it('composes from the fields a message whose bytes are not UTF-8 (a JSON string cannot carry them)', async () => {
    const raw = Buffer.concat([Buffer.from('From: billing@example.com\r\nSubject: x\r\n\r\n'), Buffer.from([0xe9, 0x0d, 0x0a])]);
    await transport(account(FULL)).send(message({ raw, cc: [], bcc: [] }));
    const content = (us.transmissions[0]!.body as { content: Record<string, unknown> }).content;
    expect(content.email_rfc822).toBeUndefined();
    expect(content).toMatchObject({ subject: 'Your invoice', text: 'Invoice attached.' });
  });

  it('keeps accounts apart: two transports, two services, two keys', async () => {
    const a = transport(account(FULL));
    const b = transport({ apiKey: EU_KEY, region: 'EU' }, { regionBaseUrls: { EU: euApi.url } });
    await Promise.all([
      a.send(message()),
      b.send(message({ from: { address: 'b@example.eu' } })),
      a.send(message({ from: { address: 'c@example.com' } })),
    ]);
    expect(us.transmissions.map((m) => m.keyLabel)).toEqual(['full', 'full']);
    expect(eu.transmissions.map((m) => m.keyLabel)).toEqual(['eu']);
  });

  it('succeeds when only some recipients are rejected', async () => {
    const r = await transport(account(FULL)).send(message({ to: ['ok@customer.test', 'bounce@customer.test'], cc: [], bcc: [] }));
    expect(r.response).toContain('1 accepted, 1 rejected');
  });

  it('rejects as permanent when every recipient is rejected (200 with none accepted)', async () => {
    const err = await sendError(transport(account(FULL)).send(message({ to: ['bounce@customer.test', 'bounce2@customer.test'], cc: [], bcc: [] })));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: 200 });
    expect(err.message).toContain('rejected all 2 recipient(s)');
    expect(err.message).toContain('Invalid email address: bounce@customer.test');
  });

  it('rejects a 4xx as permanent with the provider error (unverified sending domain, 400)', async () => {
    const err = await sendError(transport(account(FULL)).send(message({ from: { address: 'x@pending.test' } })));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: 400 });
    expect(err.message).toContain('"Invalid domain; Unconfigured or unverified sending domain.; code 7001"');
  });

  it('rejects a refused key as permanent without the key in the error', async () => {
    const err = await sendError(transport(account(UNKNOWN)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRejected, permanent: true, upstreamStatus: 401 });
  });

  it('reports 429 as temporary with Retry-After', async () => {
    us.failWith({ status: 429, retryAfter: 9, times: 1 });
    const err = await sendError(transport(account(FULL)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRateLimited, permanent: false, upstreamStatus: 429, retryAfterSeconds: 9 });
    expect(us.transmissions).toEqual([]);
  });

  it('reports the 420 sending limit as temporary, not as a rejection', async () => {
    us.failWith({ status: 420, times: 1 });
    const err = await sendError(transport(account(FULL)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamRateLimited, permanent: false, upstreamStatus: 420 });
    expect(err.retryAfterSeconds).toBeUndefined();
    expect(err.message).toContain('Exceed Sending Limit (hourly)');
  });

  it.each([500, 503])('reports %i as temporary (UpstreamUnavailable), with Retry-After when sent', async (status) => {
    us.failWith({ status, times: 1, retryAfter: 5 });
    const err = await sendError(transport(account(FULL)).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamUnavailable, permanent: false, upstreamStatus: status, retryAfterSeconds: 5 });
  });

  it('reports an unreachable API as temporary', async () => {
    const err = await sendError(transport({ apiKey: FULL, region: 'US', baseUrl: closedUrl }).send(message()));
    expect(err).toMatchObject({ reason: SendReason.UpstreamUnavailable, permanent: false });
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

  it('refuses a message it cannot map, and an empty key, without calling SparkPost', async () => {
    const noTo = await sendError(transport(account(FULL)).send(message({ to: [] })));
    expect(noTo).toMatchObject({ reason: SendReason.InvalidMessage, permanent: true });
    const noKey = await sendError(transport(account('')).send(message()));
    expect(noKey.permanent).toBe(true);
    expect(us.requests).toEqual([]);
  });

  it('refuses to send after close()', async () => {
    const t = transport(account(FULL));
    await t.close();
    expect((await sendError(t.send(message()))).permanent).toBe(false);
    expect(us.requests).toEqual([]);
  });

  it('maps inline images (contentId, inline) to content.inline_images named by their id, and the rest to attachments', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    const m = {
      ...message(),
      html: '<img src="cid:logo@example.com">',
      attachments: [
        { filename: 'logo.png', contentType: 'image/png', content: png, contentId: 'logo@example.com', disposition: 'inline' as const },
        { filename: 'report.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF') },
      ],
    };
    await transport(account(FULL)).send(m);
    const sent = us.transmissions.at(-1)!.body as { content: { inline_images?: unknown; attachments?: unknown } };
    expect(sent.content.inline_images).toEqual([{ name: 'logo@example.com', type: 'image/png', data: png.toString('base64') }]);
    expect(sent.content.attachments).toEqual([{ name: 'report.pdf', type: 'application/pdf', data: Buffer.from('%PDF').toString('base64') }]);
  });

  it('maps the ip pool to options.ip_pool only when set', () => {
    const base = { from: { address: 'a@example.com' }, to: ['b@example.com'], subject: 's', text: 't' };
    expect(sparkPostTransmission(base).options).toBeUndefined();
    expect(sparkPostTransmission(base, ' p1 ').options).toEqual({ ip_pool: 'p1' });
  });
});

describe('resources', () => {
  it('has a secret detector that would catch a leak', () => {
    expect(() => expectNoSecret({ nested: [FULL] })).toThrow();
  });

  it('leaves no sockets, servers or timers once transports and fakes are closed', async () => {
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
