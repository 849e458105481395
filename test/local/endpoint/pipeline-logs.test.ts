// What the pipeline tells an operator: one log line per send (accepted upstream,
// queued, refused at info or warn), the unexpected failure as an error, and the
// options a deployment sets (audience, auth cache and outage grace).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { EndpointError } from '../../../src/endpoint/errors.ts';
import { createPipeline, type PipelineOptions } from '../../../src/endpoint/pipeline.ts';
import { memoryStore } from '../../../src/store/store.ts';
import { SendError } from '../../../src/providers/types.ts';
import { FakeKube, FakeTransports, identity, PlainDirectory, server, serviceAccount, smtpRoute } from '../../support/endpoint-fakes.ts';

const APP = serviceAccount('team', 'app');
let kube: FakeKube;
let directory: PlainDirectory;
let transports: FakeTransports;
let lines: Record<string, unknown>[];

beforeEach(() => {
  kube = new FakeKube();
  kube.tokens.set('app-token', { username: APP });
  kube.allow(APP, 'team', 'alerts');
  directory = new PlainDirectory();
  directory.add({ identity: identity('team', 'alerts', { email: 'alerts@example.com' }), server: server('team', 'relay'), ready: true, primary: smtpRoute() });
  transports = new FakeTransports();
  lines = [];
});

function pipelineWith(extra: Partial<PipelineOptions> = {}) {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return createPipeline({ client: kube, directory, log: pino({ level: 'trace' }, sink), createTransport: transports.create, ...extra });
}

const flush = () => new Promise((r) => setImmediate(r));
const line = (msg: string) => lines.find((l) => l.msg === msg);

async function refusal(promise: Promise<unknown>): Promise<EndpointError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(EndpointError);
  return err as EndpointError;
}

describe('send log lines', () => {
  it('an accepted message: who, as whom, where, how and how many', async () => {
    const p = pipelineWith();
    const caller = await p.authenticateToken('app-token');
    const outcome = await p.send({ caller, sender: 'alerts', door: 'smtp', message: { to: ['a@example.org'], cc: ['b@example.org'], bcc: ['c@example.org', 'd@example.org'], subject: 's', text: 't' } });
    await flush();
    expect(line('message accepted upstream')).toMatchObject({
      level: 30,
      component: 'send-endpoint',
      id: outcome.id,
      door: 'smtp',
      caller: APP,
      namespace: 'team',
      identity: 'alerts',
      server: 'team/relay',
      provider: 'SMTP',
      route: 'primary',
      messageId: 'fake-1',
      recipients: 4,
      ms: expect.any(Number),
    });
  });

  it('a refusal of the caller is info, one of ours or the upstream\'s is warn; both name the code', async () => {
    const p = pipelineWith();
    const caller = await p.authenticateToken('app-token');
    await refusal(p.send({ caller, sender: 'nobody', door: 'http', message: { to: ['a@example.org'], subject: 's', text: 't' } }));
    await flush();
    expect(line('message refused')).toMatchObject({ level: 30, door: 'http', caller: APP, sender: 'nobody', code: 'POSTMASTER_IDENTITY_NOT_FOUND', err: expect.stringContaining('nobody') });
    lines = [];
    transports.set('relay.example.com', async () => {
      throw new Error('boom');
    });
    await refusal(p.send({ caller, sender: 'alerts', door: 'http', message: { to: ['a@example.org'], subject: 's', text: 't' } }));
    await flush();
    expect(line('message refused')).toMatchObject({ level: 40, code: 'POSTMASTER_UPSTREAM_UNAVAILABLE' });
    expect(line('transport failed unexpectedly')).toMatchObject({ level: 50, provider: 'SMTP', route: 'primary', err: 'boom' });
  });

  it('a provider API failing over to the fallback SmtpTarget is a warning naming the provider and the reason', async () => {
    directory.add({
      identity: identity('team', 'alerts', { email: 'alerts@example.com' }),
      server: server('team', 'sg', { provider: 'SendGrid' }),
      ready: true,
      primary: { provider: 'SendGrid', account: { apiKey: 'k', region: 'US' }, describeKey: 'k' } as never,
      fallback: smtpRoute('fallback.example.com'),
    });
    transports.set('SendGrid', new SendError('HTTP 503', { reason: 'UpstreamUnavailable', permanent: false }));
    const p = pipelineWith();
    const caller = await p.authenticateToken('app-token');
    const outcome = await p.send({ caller, sender: 'alerts', door: 'http', message: { to: ['a@example.org'], subject: 's', text: 't' } });
    await flush();
    expect(line('provider API failed; trying the fallback SmtpTarget')).toMatchObject({
      level: 40, id: outcome.id, server: 'team/sg', provider: 'SendGrid', reason: 'UpstreamUnavailable', err: 'HTTP 503',
    });
  });

  it('a failure that is no EndpointError is an internal error: logged as an error, answered 500', async () => {
    const p = pipelineWith({ store: { ...memoryStore(), rateLimits: { take: async () => Promise.reject(new Error('disk on fire')) } } as never });
    const caller = await p.authenticateToken('app-token');
    const err = await refusal(p.send({ caller, sender: 'alerts', door: 'http', message: { to: ['a@example.org'], subject: 's', text: 't' } }));
    expect(err).toMatchObject({ statusCode: 500, code: 'POSTMASTER_INTERNAL' });
    await flush();
    expect(line('send failed unexpectedly')).toMatchObject({ level: 50, err: 'disk on fire' });
    expect(line('message refused')).toMatchObject({ level: 40, code: 'POSTMASTER_INTERNAL' });
  });

  it('an unauthenticated caller is logged at info with the code, never the token', async () => {
    const p = pipelineWith();
    await refusal(p.authenticateToken('not-a-known-token'));
    await flush();
    expect(line('caller not authenticated')).toMatchObject({ level: 30, code: 'POSTMASTER_UNAUTHENTICATED' });
    expect(JSON.stringify(lines)).not.toContain('not-a-known-token');
  });

  it('a sender refused at MAIL FROM is logged with the caller, the name and the code', async () => {
    const p = pipelineWith();
    const caller = await p.authenticateToken('app-token');
    await refusal(p.authorize(caller, 'nobody'));
    await flush();
    expect(line('sender refused')).toMatchObject({ level: 30, caller: APP, sender: 'nobody', code: 'POSTMASTER_IDENTITY_NOT_FOUND' });
  });
});

describe('metrics', () => {
  it('replays are counted per door; the in-flight gauge rises during a send and falls after', async () => {
    const registry = new Registry();
    let release!: () => void;
    const p = pipelineWith({ metrics: { registry } });
    const caller = await p.authenticateToken('app-token');
    const request = { caller, sender: 'alerts', door: 'smtp' as const, idempotencyKey: 'k1', message: { to: ['a@example.org'], subject: 's', text: 't' } };
    transports.set('relay.example.com', () => new Promise((resolve) => (release = () => resolve({ messageId: 'late' }))));
    const first = p.send(request);
    await new Promise((r) => setTimeout(r, 10));
    expect(await registry.getSingleMetricAsString('postmaster_endpoint_in_flight')).toContain('postmaster_endpoint_in_flight 1');
    release();
    await first;
    expect(await registry.getSingleMetricAsString('postmaster_endpoint_in_flight')).toContain('postmaster_endpoint_in_flight 0');
    await p.send(request);
    expect(await registry.getSingleMetricAsString('postmaster_endpoint_idempotent_replays_total')).toContain('postmaster_endpoint_idempotent_replays_total{door="smtp"} 1');
  });
});

describe('deployment options', () => {
  it('the TokenReview audience is configurable', async () => {
    kube.tokens.set('custom-aud', { username: APP, audiences: ['mail'] });
    expect(await refusal(pipelineWith().authenticateToken('custom-aud'))).toMatchObject({ statusCode: 401 });
    expect(await pipelineWith({ audience: 'mail' }).authenticateToken('custom-aud')).toMatchObject({ username: APP });
  });

  it('callers accepted before an API server outage are served within the grace time, not after', async () => {
    let now = 0;
    const p = pipelineWith({ now: () => now, authCacheTtlMs: 1000, authOutageGraceMs: 5000 });
    await p.authenticateToken('app-token');
    kube.down = true;
    now = 3000;
    expect(await p.authenticateToken('app-token')).toMatchObject({ username: APP });
    now = 7000;
    expect(await refusal(p.authenticateToken('app-token'))).toMatchObject({ statusCode: 503 });
  });
});
