// The delivery pipeline with a Directory of plain objects, a table-driven API
// server and recording transports: the order of checks, the error for each
// case, fallback rules, idempotency, rate limits, drain, transport rotation,
// metrics, and that no secret reaches a log line or an error.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import type { SendRequest, SubmittedMessage } from '../../../src/endpoint/types.ts';
import type { ResolvedIdentity } from '../../../src/routing/identity.ts';
import { EndpointError } from '../../../src/endpoint/errors.ts';
import { createPipeline, type PipelineOptions } from '../../../src/endpoint/pipeline.ts';
import { memoryStore } from '../../../src/store/store.ts';
import { rawBytes, SendError } from '../../../src/providers/types.ts';
import {
  FakeKube,
  FakeTransports,
  identity,
  permanent,
  PlainDirectory,
  sendGridRoute,
  server,
  serviceAccount,
  silentLog,
  smtpRoute,
  temporary,
} from '../../support/endpoint-fakes.ts';

const APP = serviceAccount('team', 'app');
const TOKEN = 'token-of-app';
const message = (subject = 'Hello'): SubmittedMessage => ({ to: ['Ops <ops@example.org>'], bcc: ['audit@example.org'], subject, text: 'hi' });

let kube: FakeKube;
let directory: PlainDirectory;
let transports: FakeTransports;

beforeEach(() => {
  kube = new FakeKube();
  kube.tokens.set(TOKEN, { username: APP });
  kube.allow(APP, 'team', 'alerts');
  kube.allow(APP, 'team', 'billing');
  kube.allow(APP, 'team', 'api');
  directory = new PlainDirectory();
  directory.add({
    identity: identity('team', 'alerts', { displayName: 'Alerts' }),
    server: server('team', 'relay', { replyTo: 'server-replies@example.com' }),
    ready: true,
    primary: smtpRoute(),
  });
  directory.add({
    identity: identity('team', 'api', { displayName: 'API', replyTo: 'api-replies@example.com' }),
    server: server('team', 'sendgrid', { provider: 'SendGrid' }),
    ready: true,
    primary: sendGridRoute(),
    fallback: smtpRoute('fallback.example.com', 587),
  });
  transports = new FakeTransports();
});

function pipelineWith(extra: Partial<PipelineOptions> = {}) {
  return createPipeline({ client: kube, directory, log: silentLog, createTransport: transports.create, ...extra });
}

async function request(p: ReturnType<typeof pipelineWith>, sender: string, extra: Partial<SendRequest> = {}): Promise<SendRequest> {
  const caller = await p.authenticateToken(TOKEN);
  return { caller, sender, message: message(), door: 'http', ...extra };
}

async function refusal(promise: Promise<unknown>): Promise<EndpointError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EndpointError);
  return err as EndpointError;
}

describe('who may send', () => {
  it('sends as an identity the caller may use, with From and Reply-To from identity and server', async () => {
    const p = pipelineWith();
    const outcome = await p.send(await request(p, 'alerts'));
    expect(outcome).toMatchObject({ provider: 'SMTP', route: 'primary', server: { namespace: 'team', name: 'relay' } });
    expect(outcome.id).toMatch(/^[0-9a-f-]{36}$/);
    const sent = transports.sent[0]!.message;
    expect(sent.from).toEqual({ name: 'Alerts', address: 'alerts@example.com' });
    expect(sent.replyTo).toBe('server-replies@example.com');
    expect(sent.to).toEqual(['"Ops" <ops@example.org>']);
    await p.close();
  });

  it("prefers the identity's replyTo to the server's, and the request's to both", async () => {
    const p = pipelineWith();
    await p.send(await request(p, 'api'));
    expect(transports.sent[0]!.message.replyTo).toBe('api-replies@example.com');
    await p.send(await request(p, 'api', { message: { ...message(), replyTo: 'ticket@example.com' } }));
    expect(transports.sent[1]!.message.replyTo).toBe('ticket@example.com');
    await p.close();
  });

  it('404 for an identity not in the caller\'s namespace, before any authorization call', async () => {
    directory.add({ identity: identity('elsewhere', 'shared'), server: server('elsewhere', 'relay'), ready: true, primary: smtpRoute() });
    const p = pipelineWith();
    const err = await refusal(p.send(await request(p, 'shared')));
    expect(err).toMatchObject({ statusCode: 404, code: 'POSTMASTER_IDENTITY_NOT_FOUND', smtpCode: 550, field: 'sender' });
    expect(kube.calls.accessReviews).toBe(0);
    expect(transports.sent).toHaveLength(0);
  });

  it('403 when the SubjectAccessReview says no; the answer is cached for both yes and no', async () => {
    directory.add({ identity: identity('team', 'secret'), server: server('team', 'relay'), ready: true, primary: smtpRoute() });
    const p = pipelineWith();
    for (let i = 0; i < 3; i++) {
      const err = await refusal(p.send(await request(p, 'secret')));
      expect(err).toMatchObject({ statusCode: 403, code: 'POSTMASTER_FORBIDDEN', smtpCode: 550 });
      expect(err.message).toContain('"send" on "senderidentities"');
    }
    for (let i = 0; i < 3; i++) await p.send(await request(p, 'alerts'));
    expect(kube.calls.accessReviews).toBe(2);
    expect(kube.calls.tokenReviews).toBe(1);
    expect(transports.sent).toHaveLength(3);
  });

  it('asks again once the cache time is over', async () => {
    let now = 1_000_000;
    const p = pipelineWith({ now: () => now, authCacheTtlMs: 10_000 });
    await p.send(await request(p, 'alerts'));
    now += 9_000;
    await p.send(await request(p, 'alerts'));
    expect(kube.calls).toEqual({ tokenReviews: 1, accessReviews: 1 });
    now += 2_000;
    await p.send(await request(p, 'alerts'));
    expect(kube.calls).toEqual({ tokenReviews: 2, accessReviews: 2 });
  });

  it('generated SMTP credentials send only as their own identity, without asking the API server', async () => {
    const p = pipelineWith();
    const caller = { username: 'smtp-credentials:team/alerts', namespace: 'team', groups: [], boundIdentity: 'alerts' };
    await p.send({ caller, sender: 'alerts', message: message(), door: 'smtp' });
    const err = await refusal(p.send({ caller, sender: 'api', message: message(), door: 'smtp' }));
    expect(err).toMatchObject({ statusCode: 403, smtpCode: 550 });
    expect(err.message).toBe('These SMTP credentials belong to SenderIdentity "team/alerts"; they cannot send as "api".');
    expect(kube.calls.accessReviews).toBe(0);
  });

  it('503 with Retry-After when the API server cannot answer; not cached, so it works once it is back', async () => {
    const p = pipelineWith();
    kube.down = true;
    const err = await refusal(p.authenticateToken(TOKEN));
    expect(err).toMatchObject({ statusCode: 503, code: 'POSTMASTER_AUTH_UNAVAILABLE', smtpCode: 454, retryAfterSeconds: 5 });
    kube.down = false;
    await p.send(await request(p, 'alerts'));
    expect(transports.sent).toHaveLength(1);
  });

  it('409 with the Ready reason for an identity that is not Ready, only to callers who may send as it', async () => {
    const entry: ResolvedIdentity = {
      identity: identity('team', 'billing'),
      server: server('team', 'relay'),
      ready: false,
      reason: 'EmailServerNotReady',
      message: 'EmailServer "team/relay" is not Ready (SecretNotFound).',
    };
    directory.add(entry);
    const p = pipelineWith();
    const err = await refusal(p.send(await request(p, 'billing')));
    expect(err).toMatchObject({ statusCode: 409, code: 'POSTMASTER_IDENTITY_NOT_READY', reason: 'EmailServerNotReady', smtpCode: 451 });
    expect(err.message).toContain('SecretNotFound');
    expect(err.toJSON().error.reason).toBe('EmailServerNotReady');
    // Ready, but its route's Secret vanished since: still 409, never a send without a route.
    directory.add({ ...entry, ready: true, reason: undefined, message: undefined });
    expect(await refusal(p.send(await request(p, 'billing')))).toMatchObject({ statusCode: 409, reason: 'RouteUnavailable' });
    expect(transports.sent).toHaveLength(0);
  });

  it('400 for a sender that is not an object name (it would be echoed in errors and SMTP replies)', async () => {
    const p = pipelineWith();
    const err = await refusal(p.send(await request(p, 'alerts\r\n250 OK')));
    expect(err).toMatchObject({ statusCode: 400, field: 'sender' });
    expect(err.message).not.toContain('250 OK');
  });

  it('400 for a bad message from either door, before anything else', async () => {
    const p = pipelineWith();
    const bad = { ...message(), subject: 'Hi\r\nBcc: victim@example.net' };
    for (const door of ['http', 'smtp'] as const) {
      const err = await refusal(p.send({ ...(await request(p, 'alerts')), message: bad, door }));
      expect(err).toMatchObject({ statusCode: 400, field: 'subject', smtpCode: 554 });
    }
    expect(kube.calls.accessReviews).toBe(0);
  });
});

describe('delivery', () => {
  it('gives API providers bare addresses', async () => {
    const p = pipelineWith();
    await p.send(await request(p, 'api'));
    const sent = transports.sent[0]!;
    expect(sent.route.provider).toBe('SendGrid');
    expect(sent.message.to).toEqual(['ops@example.org']);
    expect(sent.message.bcc).toEqual(['audit@example.org']);
  });

  it('a temporary provider failure goes to the fallback SmtpTarget, and says so', async () => {
    transports.set('SendGrid', temporary());
    const p = pipelineWith();
    const outcome = await p.send(await request(p, 'api'));
    expect(outcome).toMatchObject({ route: 'fallback', provider: 'SMTP', server: { namespace: 'team', name: 'sendgrid' } });
    expect(transports.sent).toHaveLength(1);
    expect(transports.sent[0]!.route).toMatchObject({ provider: 'SMTP', endpoint: { host: 'fallback.example.com' } });
    expect(transports.sent[0]!.message.to).toEqual(['"Ops" <ops@example.org>']);
  });

  it('a permanent provider refusal is 422 with its words, never tried elsewhere', async () => {
    transports.set('SendGrid', permanent());
    const p = pipelineWith();
    const err = await refusal(p.send(await request(p, 'api')));
    expect(err).toMatchObject({ statusCode: 422, code: 'POSTMASTER_UPSTREAM_REJECTED', smtpCode: 550 });
    expect(err.message).toContain('does not match a verified Sender Identity');
    expect(transports.sent).toHaveLength(0);
    expect(transports.created.map((r) => r.provider)).toEqual(['SendGrid']);
  });

  it("a provider refusing the server's key or sender (401/403) is 502 (SMTP 451), never the caller's fault nor tried elsewhere", async () => {
    const p = pipelineWith();
    for (const status of [401, 403]) {
      transports.set('SendGrid', new SendError(`SendGrid rejected the message (HTTP ${status}).`, { reason: 'UpstreamRejected', permanent: true, upstreamStatus: status }));
      const err = await refusal(p.send(await request(p, 'api')));
      expect(err).toMatchObject({ statusCode: 502, code: 'POSTMASTER_UPSTREAM_MISCONFIGURED', smtpCode: 451, retryAfterSeconds: 60 });
    }
    expect(transports.sent).toHaveLength(0);
    expect(transports.created.map((r) => r.provider)).toEqual(['SendGrid']);
  });

  it('error messages are one line, even when the upstream answered in several', async () => {
    const p = pipelineWith();
    transports.set('relay.example.com', new SendError('relay rejected the message: "550-5.1.1 first line\r\n550 5.1.1 second line".', { reason: 'UpstreamRejected', permanent: true, upstreamStatus: 550 }));
    const err = await refusal(p.send(await request(p, 'alerts')));
    expect(err).toMatchObject({ statusCode: 422, smtpCode: 550 });
    expect(err.message).toContain('first line 550 5.1.1 second line');
    expect(err.message).not.toMatch(/[\r\n]/);
  });

  it('an SMTP primary has no fallback: 503 with the upstream\'s Retry-After, or 30 s', async () => {
    const p = pipelineWith();
    transports.set('relay.example.com', temporary('UpstreamTemporaryFailure'));
    const err = await refusal(p.send(await request(p, 'alerts')));
    expect(err).toMatchObject({ statusCode: 503, code: 'POSTMASTER_UPSTREAM_UNAVAILABLE', smtpCode: 451, retryAfterSeconds: 30 });
    transports.set('relay.example.com', temporary('UpstreamTemporaryFailure', 7));
    expect(await refusal(p.send(await request(p, 'alerts')))).toMatchObject({ retryAfterSeconds: 7 });
  });

  it('both routes failing: 503 naming both; nothing was accepted', async () => {
    transports.set('SendGrid', temporary());
    transports.set('fallback.example.com', temporary('UpstreamUnavailable'));
    const p = pipelineWith();
    const err = await refusal(p.send(await request(p, 'api')));
    expect(err).toMatchObject({ statusCode: 503 });
    expect(err.message).toMatch(/SendGrid could not take the message .* nor could the fallback SmtpTarget/);
  });

  it('a transport that breaks its contract (throws a non-SendError) is a 503, not a success', async () => {
    transports.set('relay.example.com', async () => {
      throw new TypeError('boom');
    });
    const p = pipelineWith();
    expect(await refusal(p.send(await request(p, 'alerts')))).toMatchObject({ statusCode: 503 });
  });
});

describe('rate limits', () => {
  it('429 with Retry-After from the identity\'s bucket', async () => {
    directory.add({
      identity: identity('team', 'billing', { rateLimit: { messagesPerMinute: 1, burst: 1 } }),
      server: server('team', 'relay'),
      ready: true,
      primary: smtpRoute(),
    });
    let now = 0;
    const p = pipelineWith({ now: () => now });
    await p.send(await request(p, 'billing'));
    const err = await refusal(p.send(await request(p, 'billing')));
    expect(err).toMatchObject({ statusCode: 429, code: 'POSTMASTER_RATE_LIMITED', retryAfterSeconds: 60, smtpCode: 450 });
    expect(err.message).toContain('SenderIdentity "team/billing"');
    now += 30_000;
    expect(await refusal(p.send(await request(p, 'billing')))).toMatchObject({ retryAfterSeconds: 30 });
    now += 30_000;
    await p.send(await request(p, 'billing'));
    expect(transports.sent).toHaveLength(2);
  });

  it("the server's limit covers all its identities", async () => {
    const relay = server('team', 'relay', { rateLimit: { messagesPerMinute: 2 } });
    for (const name of ['alerts', 'billing']) {
      directory.add({ identity: identity('team', name), server: relay, ready: true, primary: smtpRoute() });
    }
    const p = pipelineWith({ now: () => 0 });
    await p.send(await request(p, 'alerts'));
    await p.send(await request(p, 'billing'));
    const err = await refusal(p.send(await request(p, 'alerts')));
    expect(err).toMatchObject({ statusCode: 429 });
    expect(err.message).toContain('EmailServer "team/relay"');
  });
});

describe('Idempotency-Key', () => {
  it('the same key and body send once and answer the same; another body is 422', async () => {
    const p = pipelineWith();
    const first = await p.send(await request(p, 'alerts', { idempotencyKey: 'k1' }));
    const again = await p.send(await request(p, 'alerts', { idempotencyKey: 'k1' }));
    expect(again).toEqual(first);
    expect(transports.sent).toHaveLength(1);
    const err = await refusal(p.send(await request(p, 'alerts', { idempotencyKey: 'k1', message: message('Other') })));
    expect(err).toMatchObject({ statusCode: 422, code: 'POSTMASTER_IDEMPOTENCY_KEY_REUSED', field: 'Idempotency-Key' });
  });

  it('without a key, the same body twice is two messages, each with its own Message-ID', async () => {
    const p = pipelineWith();
    const a = await p.send(await request(p, 'alerts'));
    const b = await p.send(await request(p, 'alerts'));
    expect(b.id).not.toBe(a.id);
    expect(transports.sent).toHaveLength(2);
    const [ma, mb] = transports.sent.map((s) => s.message.messageId);
    expect(ma).toMatch(/^<[0-9a-f]{32}\.postmaster@example\.com>$/);
    expect(mb).not.toBe(ma);
  });

  it('concurrent duplicates wait for the first and share its outcome', async () => {
    let release!: () => void;
    transports.set('relay.example.com', () => new Promise((resolve) => (release = () => resolve({ messageId: 'slow-1' }))));
    const p = pipelineWith();
    const [a, b] = [p.send(await request(p, 'alerts', { idempotencyKey: 'k2' })), p.send(await request(p, 'alerts', { idempotencyKey: 'k2' }))];
    await new Promise((r) => setTimeout(r, 20));
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra).toEqual(rb);
    expect(ra).toMatchObject({ messageId: 'slow-1' });
  });

  it('a failed first attempt frees the key: the retry sends', async () => {
    const p = pipelineWith();
    transports.set('relay.example.com', temporary());
    await refusal(p.send(await request(p, 'alerts', { idempotencyKey: 'k3' })));
    transports.set('relay.example.com', 'accept');
    await p.send(await request(p, 'alerts', { idempotencyKey: 'k3' }));
    expect(transports.sent).toHaveLength(1);
  });

  it('Queued: a retry after the store took the message but lost its reply finds that job, never adds a second', async () => {
    // The fault suite's store restart (test/faults/store.test.ts): the add reached Redis, its reply did not.
    const jobs = new Map<string, unknown>();
    let lostReplies = 1;
    const queue = {
      add: async (id: string, data: unknown) => {
        if (!jobs.has(id)) jobs.set(id, data);
        if (lostReplies-- > 0) throw new Error('Connection is closed.');
      },
      work: () => {},
    };
    const store = { ...memoryStore(), queue: () => queue as never, status: () => ({ store: 'redis' as const, up: true, appendonly: 'yes' as const, description: 'Redis' }) };
    directory.add({ identity: identity('team', 'queued'), server: server('team', 'queued', { delivery: { mode: 'Queued' } }), ready: true, primary: smtpRoute() });
    kube.allow(APP, 'team', 'queued');
    const p = pipelineWith({ store });
    const err = await refusal(p.send(await request(p, 'queued', { idempotencyKey: 'k-lost' })));
    expect(err.code).toBe('POSTMASTER_QUEUE_UNAVAILABLE');
    const retry = await p.send(await request(p, 'queued', { idempotencyKey: 'k-lost' }));
    expect(retry).toMatchObject({ queued: true });
    expect(jobs.size).toBe(1);
    expect([...jobs.keys()]).toEqual([retry.id]);
    // Without a key each request is its own message.
    await p.send(await request(p, 'queued'));
    expect(jobs.size).toBe(2);
  });

  it('keys are per caller: another ServiceAccount with the same key sends its own message', async () => {
    kube.tokens.set('other-token', { username: serviceAccount('team', 'other') });
    kube.allow(serviceAccount('team', 'other'), 'team', 'alerts');
    const p = pipelineWith();
    const mine = await p.send(await request(p, 'alerts', { idempotencyKey: 'shared' }));
    const theirs = await p.send({ caller: await p.authenticateToken('other-token'), sender: 'alerts', message: message(), door: 'http', idempotencyKey: 'shared' });
    expect(theirs.id).not.toBe(mine.id);
    expect(transports.sent).toHaveLength(2);
  });

  it('a replay does not spend a rate-limit token', async () => {
    directory.add({
      identity: identity('team', 'billing', { rateLimit: { messagesPerMinute: 1 } }),
      server: server('team', 'relay'),
      ready: true,
      primary: smtpRoute(),
    });
    const p = pipelineWith({ now: () => 0 });
    const first = await p.send(await request(p, 'billing', { idempotencyKey: 'k4' }));
    expect(await p.send(await request(p, 'billing', { idempotencyKey: 'k4' }))).toEqual(first);
  });
});

describe('drain and transports', () => {
  it('drain waits for sends in flight and refuses new ones with 503 (SMTP 421)', async () => {
    let release!: () => void;
    transports.set('relay.example.com', () => new Promise((resolve) => (release = () => resolve({ messageId: 'late' }))));
    const p = pipelineWith();
    const inFlight = p.send(await request(p, 'alerts'));
    await new Promise((r) => setTimeout(r, 10));
    expect(p.inFlight).toBe(1);
    let drained = false;
    const draining = p.drain().then(() => (drained = true));
    const err = await refusal(p.send(await request(p, 'alerts')));
    expect(err).toMatchObject({ statusCode: 503, code: 'POSTMASTER_DRAINING', smtpCode: 421 });
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    release();
    expect(await inFlight).toMatchObject({ messageId: 'late' });
    await draining;
    expect(p.inFlight).toBe(0);
    await p.close();
    expect(transports.closed).toHaveLength(1);
  });

  it('a changed route (rotated password) gets a new transport; the old one is closed', async () => {
    const entry = directory.resolve('team', 'alerts')!;
    entry.primary = { provider: 'SMTP', endpoint: { host: 'relay.example.com', port: 25, security: 'None', auth: { username: 'u', password: 'old-password' } } };
    const p = pipelineWith();
    await p.send(await request(p, 'alerts'));
    await p.send(await request(p, 'alerts'));
    expect(transports.created).toHaveLength(1);
    entry.primary = { provider: 'SMTP', endpoint: { host: 'relay.example.com', port: 25, security: 'None', auth: { username: 'u', password: 'new-password' } } };
    await p.send(await request(p, 'alerts'));
    expect(transports.created).toHaveLength(2);
    await new Promise((r) => setImmediate(r));
    expect(transports.closed).toHaveLength(1);
    await p.close();
    expect(transports.closed).toHaveLength(2);
  });
});

describe('observability', () => {
  it('counts messages by identity, server, provider, route and result', async () => {
    const registry = new Registry();
    transports.set('SendGrid', temporary());
    const p = pipelineWith({ metrics: { registry } });
    await p.send(await request(p, 'api'));
    await refusal(p.send(await request(p, 'nobody')));
    const text = await registry.metrics();
    expect(text).toContain(
      'postmaster_endpoint_messages_total{door="http",namespace="team",identity="api",server="team/sendgrid",provider="SMTP",route="fallback",result="sent"} 1',
    );
    expect(text).toContain('postmaster_endpoint_upstream_errors_total{provider="SendGrid",route="primary",reason="UpstreamUnavailable"} 1');
    expect(text).toContain('postmaster_endpoint_errors_total{door="http",code="POSTMASTER_IDENTITY_NOT_FOUND"} 1');
    expect(text).toMatch(/postmaster_endpoint_send_duration_seconds_count\{provider="SMTP",route="fallback",result="accepted"\} 1/);
    // A refusal after the identity resolved is counted under the code, without its prefix.
    transports.set('relay.example.com', permanent());
    await refusal(p.send(await request(p, 'alerts')));
    expect(await registry.metrics()).toContain(
      'postmaster_endpoint_messages_total{door="http",namespace="team",identity="alerts",server="team/relay",provider="SMTP",route="",result="upstream_rejected"} 1',
    );
    // A second pipeline on the same registry reuses the metrics.
    expect(() => pipelineWith({ metrics: { registry } })).not.toThrow();
  });

  it('never logs the token, a password or an API key', async () => {
    let logged = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logged += String(chunk);
        cb();
      },
    });
    const log = pino({ level: 'trace' }, sink);
    const entry = directory.resolve('team', 'api')!;
    entry.primary = sendGridRoute('SG.very-secret-api-key');
    entry.fallback = { provider: 'SMTP', endpoint: { host: 'fallback.example.com', port: 587, security: 'STARTTLS', auth: { username: 'u', password: 'smtp-secret-pw' } } };
    transports.set('SendGrid', temporary());
    const p = pipelineWith({ log });
    await p.send(await request(p, 'api'));
    await refusal(p.authenticateToken('wrong-token-value'));
    kube.down = true;
    await refusal(p.authenticateToken('another-token-value'));
    await p.close();
    expect(logged).toContain('message accepted upstream');
    for (const secret of [TOKEN, 'wrong-token-value', 'another-token-value', 'SG.very-secret-api-key', 'smtp-secret-pw']) {
      expect(logged).not.toContain(secret);
    }
  });
});

describe('a message received whole', () => {
  const raw = () => Buffer.from('From: someone@else.example\r\nBcc: hidden@example.org\r\nTo: Ops <ops@example.org>\r\nSubject: Whole\r\n\r\nbody\r\n');

  it.each([
    ['SparkPost', { provider: 'SparkPost', account: { apiKey: 'sp-key', region: 'US' }, describeKey: 'Secret "team/sp" key "apiKey"' }, true],
    ['MicrosoftGraph', { provider: 'MicrosoftGraph', account: { tenantId: 't', clientId: 'c', clientSecret: 's' }, describeApp: 'app' }, true],
    ['SendGrid', sendGridRoute(), false],
  ] as const)('goes to %s as the edited bytes: %s', async (provider, route, carriesBytes) => {
    directory.add({ identity: identity('team', 'billing', { email: 'billing@example.com' }), server: server('team', 'api', { provider }), ready: true, primary: route as never });
    const p = pipelineWith();
    await p.send(await request(p, 'billing', { message: { ...message('Whole'), raw: raw() } }));
    const sent = transports.sent.at(-1)!.message;
    expect(sent.dkim).toBeUndefined();
    if (!carriesBytes) return expect(sent.raw).toBeUndefined();
    const text = rawBytes(sent.raw!).toString();
    // The relay's edits only: the identity's From where the client's stood, no Bcc field, one Received on top.
    expect(text).toMatch(/^Received: by postmaster id [0-9a-f-]+; .*\r\nFrom: billing@example\.com\r\nTo: Ops <ops@example\.org>\r\nSubject: Whole\r\n/);
    expect(text).not.toContain('hidden@example.org');
    expect(sent.bcc).toEqual(['audit@example.org']);
  });
});
