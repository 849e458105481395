// One delivery attempt (delivery.ts) with recording transports: what each upstream
// receives (From, Reply-To, Message-ID, the edited bytes, bare addresses for APIs),
// the outcome the caller is told, and the error for each way a route can fail.
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { createDeliver, limitsFor, messageIdFor, routedServer } from '../../../src/endpoint/delivery.ts';
import { EndpointError } from '../../../src/endpoint/errors.ts';
import { endpointMetrics } from '../../../src/endpoint/metrics.ts';
import { TransportCache } from '../../../src/endpoint/transports.ts';
import type { SubmittedMessage } from '../../../src/endpoint/types.ts';
import { rawBytes, SendError, type SenderRoute } from '../../../src/providers/types.ts';
import type { ResolvedIdentity } from '../../../src/routing/identity.ts';
import { FakeTransports, identity, permanent, sendGridRoute, server, silentLog, smtpRoute, temporary } from '../../support/endpoint-fakes.ts';

const NOW = Date.parse('2026-12-01T09:45:32Z');
const sparkPost = { provider: 'SparkPost', account: { apiKey: 'sp', region: 'US' }, describeKey: 'k' } as unknown as SenderRoute;
let transports: FakeTransports;
let registry: Registry;

beforeEach(() => {
  transports = new FakeTransports();
  registry = new Registry();
});

const deliverer = () =>
  createDeliver({ transports: new TransportCache({ create: transports.create }), metrics: endpointMetrics(registry), log: silentLog, now: () => NOW });

const resolved = (over: Partial<ResolvedIdentity> = {}, idSpec = {}, serverSpec = {}): ResolvedIdentity => ({
  identity: identity('team', 'alerts', { email: 'alerts@example.com', ...idSpec }),
  server: server('team', 'relay', serverSpec),
  ready: true,
  primary: smtpRoute(),
  ...over,
});

const message = (over: Partial<SubmittedMessage> = {}): SubmittedMessage => ({ to: ['Ops <ops@example.org>'], subject: 's', text: 't', messageId: '<m@example.com>', ...over });

async function refusal(p: Promise<unknown>): Promise<EndpointError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(EndpointError);
  return e as EndpointError;
}

describe('what the upstream receives', () => {
  it("From is the identity's address (with its display name when it has one); no Reply-To unless someone set one", async () => {
    await deliverer()('id-1', message({ replyTo: undefined }), resolved());
    expect(transports.sent[0]!.message).toMatchObject({ from: { address: 'alerts@example.com' }, messageId: '<m@example.com>' });
    expect('replyTo' in transports.sent[0]!.message).toBe(false);
    await deliverer()('id-2', message(), resolved({}, { displayName: 'Alerts' }));
    expect(transports.sent[1]!.message.from).toEqual({ name: 'Alerts', address: 'alerts@example.com' });
  });

  it('the passed-through bytes get the policy\'s edits: the door\'s Received, or one naming the message id', async () => {
    const raw = Buffer.from('From: x@evil.example\r\nTo: ops@example.org\r\nSubject: s\r\n\r\nbody\r\n');
    await deliverer()('id-1', message({ raw, received: 'from c ([127.0.0.1]) by postmaster (postmaster) with ESMTPA id S1; x' }), resolved({}, {}, { replyTo: 'desk@example.com' }));
    expect(rawBytes(transports.sent[0]!.message.raw!).toString()).toBe(
      'Received: from c ([127.0.0.1]) by postmaster (postmaster) with ESMTPA id S1; x\r\nFrom: alerts@example.com\r\nTo: ops@example.org\r\nSubject: s\r\n' +
        'Reply-To: desk@example.com\r\nMessage-ID: <m@example.com>\r\nDate: Tue, 01 Dec 2026 09:45:32 +0000\r\n\r\nbody\r\n',
    );
    expect(transports.sent[0]!.message.replyTo).toBe('desk@example.com');
    expect('received' in transports.sent[0]!.message).toBe(false);
    await deliverer()('id-2', message({ raw }), resolved());
    const text = rawBytes(transports.sent[1]!.message.raw!).toString();
    expect(text.startsWith('Received: by postmaster id id-2; Tue, 01 Dec 2026 09:45:32 +0000\r\nFrom: alerts@example.com\r\n')).toBe(true);
    expect(text).not.toContain('Reply-To');
  });

  it("the message's own Reply-To stays in its bytes; the identity's replyTo wins over the server's", async () => {
    const raw = Buffer.from('To: ops@example.org\r\n\r\nb');
    await deliverer()('id-1', message({ raw, replyTo: 'mine@example.org' }), resolved({}, { replyTo: 'identity@example.com' }, { replyTo: 'server@example.com' }));
    const sent = transports.sent[0]!.message;
    expect(sent.replyTo).toBe('mine@example.org');
    // Added to the bytes only when they have none: the default, not the message's field.
    expect(rawBytes(sent.raw!).toString()).toContain('Reply-To: identity@example.com\r\n');
  });

  it("DKIM keys go to SMTP only; APIs get bare addresses and no keys; SendGrid composes, so no bytes", async () => {
    const dkim = { domain: 'example.com', selector: 's1', privateKey: 'KEY' } as never;
    const raw = Buffer.from('To: ops@example.org\r\n\r\nb');
    const m = message({ cc: ['Cc Person <cc@example.org>'], bcc: ['Hidden <bcc@example.org>'], raw });
    await deliverer()('id-1', m, resolved({ dkim }));
    expect(transports.sent[0]!.message).toMatchObject({ dkim, to: ['Ops <ops@example.org>'], cc: ['Cc Person <cc@example.org>'], bcc: ['Hidden <bcc@example.org>'] });
    await deliverer()('id-2', m, resolved({ dkim, primary: sendGridRoute() }));
    const sg = transports.sent[1]!.message;
    expect(sg).toMatchObject({ to: ['ops@example.org'], cc: ['cc@example.org'], bcc: ['bcc@example.org'] });
    expect('dkim' in sg || 'raw' in sg).toBe(false);
    await deliverer()('id-3', message({ raw }), resolved({ dkim, primary: sparkPost }));
    const sp = transports.sent[2]!.message;
    expect(sp.raw).toBeDefined();
    expect('dkim' in sp || 'cc' in sp || 'bcc' in sp).toBe(false);
  });

  it('a body read for SMTP cannot go to a provider that composes: a temporary refusal asking to send again', async () => {
    const raw = Buffer.from('To: ops@example.org\r\n\r\nb');
    const headersOnly = { to: ['ops@example.org'], subject: 's', messageId: '<m@example.com>', raw };
    const err = await refusal(deliverer()('id-1', headersOnly, resolved({ primary: sendGridRoute() })));
    expect(err).toMatchObject({ code: 'POSTMASTER_UPSTREAM_UNAVAILABLE', smtpCode: 451 });
    expect(err.message).toContain('the route changed while the message was received; send it again');
    // SparkPost takes UTF-8 bytes as they are; bytes that are not UTF-8 it would compose from the fields.
    await deliverer()('id-2', headersOnly, resolved({ primary: sparkPost }));
    expect(transports.sent).toHaveLength(1);
    const latin1 = { ...headersOnly, raw: Buffer.from([0x54, 0x6f, 0x3a, 0x20, 0xe9, 0x0d, 0x0a, 0x0d, 0x0a]) };
    expect((await refusal(deliverer()('id-3', latin1, resolved({ primary: sparkPost })))).message).toContain('send it again');
    // With a body or an attachment there is something to compose from.
    await deliverer()('id-4', { ...headersOnly, html: '<p>x</p>' }, resolved({ primary: sendGridRoute() }));
    await deliverer()('id-5', { ...headersOnly, attachments: [{ filename: 'a', contentType: 'text/plain', content: Buffer.from('a') }] }, resolved({ primary: sendGridRoute() }));
    expect(transports.sent).toHaveLength(3);
  });
});

describe('more routes', () => {
  it('no DKIM keys: none given to the SMTP transport', async () => {
    await deliverer()('id-1', message(), resolved());
    expect('dkim' in transports.sent[0]!.message).toBe(false);
  });

  it('Microsoft Graph takes the bytes as they are, even a header section read alone', async () => {
    const graph = { provider: 'MicrosoftGraph', account: { tenantId: 't', clientId: 'c', clientSecret: 's' }, describeApp: 'app' } as unknown as SenderRoute;
    const raw = Buffer.from('To: ops@example.org\r\n\r\nb');
    await deliverer()('id-1', { to: ['ops@example.org'], subject: 's', messageId: '<m@example.com>', raw }, resolved({ primary: graph }));
    expect(rawBytes(transports.sent[0]!.message.raw!).toString()).toContain('To: ops@example.org\r\n');
  });

  it('a route change during receipt is counted as RouteChanged', async () => {
    const raw = Buffer.from('To: ops@example.org\r\n\r\nb');
    await refusal(deliverer()('id-1', { to: ['ops@example.org'], subject: 's', messageId: '<m@example.com>', raw }, resolved({ primary: sendGridRoute() })));
    expect(await registry.metrics()).toContain('postmaster_endpoint_upstream_errors_total{provider="SendGrid",route="primary",reason="RouteChanged"} 1');
  });

  it('an SMTP primary never falls back, even with a fallback configured', async () => {
    transports.set('relay.example.com', temporary());
    const err = await refusal(deliverer()('id-1', message(), resolved({ fallback: smtpRoute('fallback.example.com') })));
    expect(err.message).toMatch(/^SMTP could not take the message now, nothing was sent/);
    expect(transports.created.map((r) => (r.provider === 'SMTP' ? r.endpoint.host : r.provider))).toEqual(['relay.example.com']);
  });

  it('primary and fallback keep a transport each, reused by the next send; the duration is in seconds', async () => {
    transports.set('SendGrid', temporary());
    const d = deliverer();
    const api = resolved({ primary: sendGridRoute(), fallback: smtpRoute('fallback.example.com', 587) });
    await d('id-1', message(), api);
    await d('id-2', message(), api);
    expect(transports.created).toHaveLength(2);
    expect(transports.closed).toHaveLength(0);
    const sum = /postmaster_endpoint_send_duration_seconds_sum\{provider="SMTP",route="fallback",result="accepted"\} ([0-9.e-]+)/.exec(await registry.metrics())![1]!;
    expect(Number(sum)).toBeGreaterThan(0);
    expect(Number(sum)).toBeLessThan(2);
  });
});

describe('the outcome', () => {
  it('names the route, provider and server, the Message-ID header (not for SparkPost) and the reply', async () => {
    expect(await deliverer()('id-1', message(), resolved())).toEqual({
      id: 'id-1', messageId: 'fake-1', server: { namespace: 'team', name: 'relay' }, provider: 'SMTP', route: 'primary', messageIdHeader: '<m@example.com>', response: '250 2.0.0 Ok',
    });
    const sp = await deliverer()('id-2', message(), resolved({ primary: sparkPost }));
    expect('messageIdHeader' in sp).toBe(false);
    transports.set('relay.example.com', async () => ({ messageId: 'no-reply' }));
    expect('response' in (await deliverer()('id-3', message(), resolved()))).toBe(false);
  });
});

describe('failures', () => {
  const api = () => resolved({ primary: sendGridRoute(), fallback: smtpRoute('fallback.example.com', 587) });

  it('an unknown outcome is never sent again through the fallback: 502 saying it may have been delivered', async () => {
    transports.set('SendGrid', new SendError('connection closed after the data', { reason: 'ConnectionLost', permanent: false, outcomeUnknown: true }));
    const err = await refusal(deliverer()('id-1', message(), api()));
    expect(err.code).toBe('POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN');
    expect(err.message).toContain('SendGrid: connection closed after the data');
    expect(transports.sent).toHaveLength(0);
  });

  it('a fallback that ends in an unknown outcome or a refusal says so', async () => {
    transports.set('SendGrid', temporary());
    transports.set('fallback.example.com', new SendError('closed after DATA', { reason: 'ConnectionLost', permanent: false, outcomeUnknown: true }));
    const unknown = await refusal(deliverer()('id-1', message(), api()));
    expect(unknown.code).toBe('POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN');
    expect(unknown.message).toContain('The fallback SmtpTarget: closed after DATA');
    transports.set('fallback.example.com', permanent('550 5.7.1 relaying denied'));
    const refused = await refusal(deliverer()('id-2', message(), api()));
    expect(refused).toMatchObject({ code: 'POSTMASTER_UPSTREAM_REJECTED', smtpCode: 550 });
    expect(refused.message).toBe(
      'SendGrid could not take the message (the upstream is unavailable (HTTP 503).), nor could the fallback SmtpTarget (550 5.7.1 relaying denied).',
    );
  });

  it("both unavailable: the fallback's wait, else the primary's", async () => {
    transports.set('SendGrid', temporary('UpstreamUnavailable', 40));
    transports.set('fallback.example.com', temporary('UpstreamUnavailable', 9));
    expect(await refusal(deliverer()('id-1', message(), api()))).toMatchObject({ retryAfterSeconds: 9 });
    transports.set('fallback.example.com', temporary('UpstreamUnavailable'));
    const err = await refusal(deliverer()('id-2', message(), api()));
    expect(err.retryAfterSeconds).toBe(40);
    expect(err.message).toMatch(/; nothing was sent\.$/);
  });

  it('an API without a fallback that cannot take it now: 503 naming the provider', async () => {
    transports.set('SendGrid', temporary());
    const err = await refusal(deliverer()('id-1', message(), resolved({ primary: sendGridRoute() })));
    expect(err.message).toBe('SendGrid could not take the message now, nothing was sent: the upstream is unavailable (HTTP 503).');
  });

  it('an SMTP relay refusing with 401 or 403-like codes is still the message\'s fault (422)', async () => {
    transports.set('relay.example.com', new SendError('535 auth', { reason: 'UpstreamRejected', permanent: true, upstreamStatus: 403 }));
    const err = await refusal(deliverer()('id-1', message(), resolved()));
    expect(err).toMatchObject({ code: 'POSTMASTER_UPSTREAM_REJECTED' });
    expect(err.message).toBe('SMTP refused the message: 535 auth');
    transports.set('SendGrid', new SendError('forbidden', { reason: 'UpstreamRejected', permanent: true, upstreamStatus: 403 }));
    expect((await refusal(deliverer()('id-2', message(), resolved({ primary: sendGridRoute() })))).message).toBe(
      "SendGrid refused the EmailServer's credentials or sender, nothing was sent: forbidden",
    );
    transports.set('SendGrid', new SendError('bad request', { reason: 'UpstreamRejected', permanent: true, upstreamStatus: 400 }));
    expect((await refusal(deliverer()('id-3', message(), resolved({ primary: sendGridRoute() })))).code).toBe('POSTMASTER_UPSTREAM_REJECTED');
  });

  it('a transport breaking its contract is a temporary failure naming it; metrics tell accepted, rejected and failed', async () => {
    transports.set('relay.example.com', async () => {
      throw new TypeError('boom');
    });
    const err = await refusal(deliverer()('id-1', message(), resolved()));
    expect(err.message).toBe('SMTP could not take the message now, nothing was sent: the transport failed: boom');
    transports.set('relay.example.com', permanent('no'));
    await refusal(deliverer()('id-2', message(), resolved()));
    transports.set('relay.example.com', 'accept');
    await deliverer()('id-3', message(), resolved());
    const text = await registry.metrics();
    expect(text).toContain('postmaster_endpoint_upstream_errors_total{provider="SMTP",route="primary",reason="TransportError"} 1');
    expect(text).toContain('postmaster_endpoint_upstream_errors_total{provider="SMTP",route="primary",reason="UpstreamRejected"} 1');
    for (const result of ['accepted', 'rejected', 'failed']) {
      expect(text).toContain(`postmaster_endpoint_send_duration_seconds_count{provider="SMTP",route="primary",result="${result}"} 1`);
    }
  });
});

describe('routes, limits and Message-IDs', () => {
  it('an identity that is not Ready, or has no route now: 409-like IdentityNotReady with the reason', () => {
    expect(() => routedServer(resolved({ ready: false, reason: 'ServerNotReady', message: 'down' }))).toThrow(/ServerNotReady/);
    const noRoute = (() => {
      try {
        routedServer(resolved({ primary: undefined }));
      } catch (e) {
        return e as EndpointError;
      }
    })()!;
    expect(noRoute).toMatchObject({ code: 'POSTMASTER_IDENTITY_NOT_READY', reason: 'RouteUnavailable' });
    expect(noRoute.message).toContain('its EmailServer, or a Secret it needs, cannot be resolved right now.');
    expect(() => routedServer(resolved({ server: undefined }))).toThrow(/RouteUnavailable/);
    expect(() => routedServer(resolved({ ready: false }))).toThrow(/NotReady/);
  });

  it("the server's and the identity's rate limits", () => {
    const limits = limitsFor(resolved({}, { rateLimit: { perMinute: 5 } }, { rateLimit: { perMinute: 50 } }));
    expect(limits).toEqual([
      { key: 'server/team/relay', what: 'EmailServer "team/relay"', limit: { perMinute: 50 } },
      { key: 'identity/team/alerts', what: 'SenderIdentity "team/alerts"', limit: { perMinute: 5 } },
    ]);
  });

  it("the caller's Message-ID; else one derived from the key (the same every time), else a random one, at the identity's domain", () => {
    expect(messageIdFor(message(), 'a@example.com', 'k')).toBe('<m@example.com>');
    const derived = messageIdFor(message({ messageId: undefined }), 'a@mail.example.com', 'key-1');
    expect(derived).toMatch(/^<[0-9a-f]{32}\.postmaster@mail\.example\.com>$/);
    expect(messageIdFor(message({ messageId: undefined }), 'b@mail.example.com', 'key-1')).toBe(derived);
    expect(messageIdFor(message({ messageId: undefined }), 'a@mail.example.com', 'key-2')).not.toBe(derived);
    const random = messageIdFor(message({ messageId: undefined }), 'a@example.com', undefined);
    expect(random).toMatch(/^<[0-9a-f]{32}\.postmaster@example\.com>$/);
    expect(messageIdFor(message({ messageId: undefined }), 'a@example.com', undefined)).not.toBe(random);
  });
});
