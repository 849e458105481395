// The pipeline with a Queued EmailServer against a real redis-server: the answer a
// caller gets, the status it reads back (and who may read it), the queue's workers
// delivering it, and the store and queue gauges on /metrics. Without a durable
// store the gauges read 0 and a Queued server is refused.
import { Registry } from 'prom-client';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EndpointError } from '../../../src/endpoint/errors.ts';
import { createPipeline, type DeliveryPipeline, type PipelineOptions } from '../../../src/endpoint/pipeline.ts';
import type { Caller } from '../../../src/endpoint/types.ts';
import { redisStore } from '../../../src/store/store.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { eventually } from '../../support/wait.ts';
import { FakeKube, FakeTransports, identity, PlainDirectory, server, serviceAccount, smtpRoute } from '../../support/endpoint-fakes.ts';

const APP = serviceAccount('team', 'app');
const OTHER = serviceAccount('team', 'other');
const log = pino({ level: 'silent' });
let redis: RedisServer;
let kube: FakeKube;
let directory: PlainDirectory;
let transports: FakeTransports;
const pipelines: DeliveryPipeline[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const p of pipelines) await p.close();
  await redis?.destroy();
});

beforeEach(() => {
  kube = new FakeKube();
  kube.tokens.set('app-token', { username: APP });
  kube.tokens.set('other-token', { username: OTHER });
  kube.allow(APP, 'team', 'alerts');
  directory = new PlainDirectory();
  directory.add({
    identity: identity('team', 'alerts', { email: 'alerts@example.com' }),
    server: server('team', 'relay', { delivery: { mode: 'Queued', expireAfter: '2h' } }),
    ready: true,
    primary: smtpRoute(),
  });
  transports = new FakeTransports();
});

async function queuedPipeline(extra: Partial<PipelineOptions> = {}) {
  const registry = new Registry();
  const store = redisStore({ url: redis.url, password: redis.password, log });
  await eventually(async () => expect(store.status().up).toBe(true), 5000, 20);
  const p = createPipeline({ client: kube, directory, log, createTransport: transports.create, store, metrics: { registry }, queue: { sampleMs: 50, minRetryMs: 50, maxRetryMs: 100 }, ...extra });
  pipelines.push(p);
  return { p, registry };
}

async function refusal(promise: Promise<unknown>): Promise<EndpointError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(EndpointError);
  return err as EndpointError;
}

const send = async (p: DeliveryPipeline, caller: Caller, subject = 'Disk full') =>
  p.send({ caller, sender: 'alerts', door: 'http', message: { to: ['ops@example.org'], subject, text: 'on node-3' } });

describe('Queued delivery through the pipeline', () => {
  it('answers queued, the workers deliver it, and the status reads sent', async () => {
    const { p, registry } = await queuedPipeline();
    const caller = await p.authenticateToken('app-token');
    const outcome = await send(p, caller);
    expect(outcome).toMatchObject({ queued: true, server: { namespace: 'team', name: 'relay' }, messageIdHeader: expect.stringMatching(/^<[0-9a-f]{32}\.postmaster@example\.com>$/) });
    if (!outcome.queued) throw new Error('expected queued');
    expect(Date.parse(outcome.expiresAt) - Date.now()).toBeGreaterThan(2 * 3600_000 - 60_000);
    expect(await p.messageStatus(caller, outcome.id)).toMatchObject({ id: outcome.id, state: 'queued', attempts: 0 });
    expect(transports.sent).toHaveLength(0);
    expect(await registry.metrics()).toContain(
      'postmaster_endpoint_messages_total{door="http",namespace="team",identity="alerts",server="team/relay",provider="SMTP",route="",result="queued"} 1',
    );

    p.startWorkers();
    await eventually(async () => expect(await p.messageStatus(caller, outcome.id)).toMatchObject({ state: 'sent', attempts: 1, provider: 'SMTP', route: 'primary' }), 5000, 20);
    expect(transports.sent.map((s) => s.message.subject)).toEqual(['Disk full']);
    await eventually(async () => {
      const text = await registry.metrics();
      expect(text).toMatch(/^postmaster_store_up 1$/m);
      expect(text).toMatch(/postmaster_store_info\{store="redis",appendonly="[a-z]+"\} 1/);
      expect(text).toContain('postmaster_queue_messages{state="queued"} 0');
      expect(text).toContain('postmaster_queue_messages{state="deferred"} 0');
      expect(text).toContain('postmaster_queue_messages{state="sending"} 0');
      expect(text).toContain('postmaster_queue_oldest_age_seconds 0');
    }, 5000, 20);
  });

  it('the status is 404 to callers who may not send as the identity, or for unknown and malformed ids', async () => {
    const { p } = await queuedPipeline();
    const caller = await p.authenticateToken('app-token');
    const outcome = await send(p, caller);
    if (!outcome.queued) throw new Error('expected queued');
    const other = await p.authenticateToken('other-token');
    expect(await refusal(p.messageStatus(other, outcome.id))).toMatchObject({ statusCode: 404, code: 'POSTMASTER_MESSAGE_NOT_FOUND' });
    expect(await refusal(p.messageStatus({ ...caller, namespace: 'elsewhere' }, outcome.id))).toMatchObject({ statusCode: 404 });
    expect(await refusal(p.messageStatus(caller, '00000000-0000-0000-0000-000000000000'))).toMatchObject({ statusCode: 404 });
    const bad = await refusal(p.messageStatus(caller, 'no spaces/allowed'));
    expect(bad).toMatchObject({ statusCode: 400, field: 'id' });
    expect(bad.message).toContain('must be a queued message id: 1 to 128 letters, digits, ".", "_" or "-"');
    expect(await refusal(p.messageStatus(caller, 'x'.repeat(129)))).toMatchObject({ statusCode: 400 });
    expect(await refusal(p.messageStatus(caller, 'a'.repeat(128)))).toMatchObject({ statusCode: 404 });
    // The API server away: not a 404 that would hide the message.
    kube.tokens.set('third-token', { username: serviceAccount('team', 'third') });
    const third = await p.authenticateToken('third-token');
    kube.down = true;
    expect(await refusal(p.messageStatus(third, outcome.id))).toMatchObject({ statusCode: 503 });
  });

  it('the same Idempotency-Key stores one job and answers the same id', async () => {
    const { p } = await queuedPipeline();
    const caller = await p.authenticateToken('app-token');
    const request = { caller, sender: 'alerts', door: 'http' as const, idempotencyKey: 'k-1', message: { to: ['ops@example.org'], subject: 'once', text: 'x' } };
    const a = await p.send(request);
    const b = await p.send(request);
    if (!a.queued || !b.queued) throw new Error('expected queued');
    expect(b.id).toBe(a.id);
    expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // Another key, or none, is another job: nothing is folded into a message it is not.
    const c = await p.send({ ...request, idempotencyKey: 'k-2' });
    const { idempotencyKey: _, ...keyless } = request;
    const d = await p.send(keyless);
    const e = await p.send(keyless);
    if (!c.queued || !d.queued || !e.queued) throw new Error('expected queued');
    expect(new Set([a.id, c.id, d.id, e.id]).size).toBe(4);
    // Each is a job of its own (another test's workers may already be sending it).
    for (const o of [c, d, e]) expect(await p.messageStatus(caller, o.id)).toMatchObject({ id: o.id, messageIdHeader: o.messageIdHeader });
  });
});

describe('without a durable store', () => {
  it('the queue gauges read 0, the store reads memory; a Queued server is refused with 503', async () => {
    const registry = new Registry();
    const p = createPipeline({ client: kube, directory, log, createTransport: transports.create, metrics: { registry }, queue: { sampleMs: 50 } });
    pipelines.push(p);
    p.startWorkers();
    await eventually(async () => {
      const text = await registry.metrics();
      expect(text).toMatch(/^postmaster_store_up 1$/m);
      expect(text).toContain('postmaster_store_info{store="memory",appendonly="no"} 1');
      for (const state of ['queued', 'deferred', 'sending']) expect(text).toContain(`postmaster_queue_messages{state="${state}"} 0`);
      expect(text).toContain('postmaster_queue_oldest_age_seconds 0');
    }, 5000, 20);
    const caller = await p.authenticateToken('app-token');
    const err = await refusal(send(p, caller));
    expect(err).toMatchObject({ statusCode: 503, code: 'POSTMASTER_QUEUE_UNAVAILABLE' });
    expect(await registry.metrics()).toContain('result="queue_unavailable"} 1');
    // No queue: no status to read.
    expect(await refusal(p.messageStatus(caller, 'q-1'))).toMatchObject({ statusCode: 404 });
  });
});

describe('authorize (MAIL FROM on the SMTP door)', () => {
  it('an unknown or malformed identity is 404; no permission 403; both counted for the smtp door', async () => {
    const registry = new Registry();
    const p = createPipeline({ client: kube, directory, log, createTransport: transports.create, metrics: { registry } });
    pipelines.push(p);
    const caller = await p.authenticateToken('app-token');
    await p.authorize(caller, 'alerts');
    expect(await refusal(p.authorize(caller, 'nobody'))).toMatchObject({ statusCode: 404 });
    expect(await refusal(p.authorize(caller, 'Not_A_Name'))).toMatchObject({ statusCode: 404 });
    expect(await refusal(p.authorize(await p.authenticateToken('other-token'), 'alerts'))).toMatchObject({ statusCode: 403 });
    const text = await registry.metrics();
    expect(text).toContain('postmaster_endpoint_errors_total{door="smtp",code="POSTMASTER_IDENTITY_NOT_FOUND"} 2');
    expect(text).toContain('postmaster_endpoint_errors_total{door="smtp",code="POSTMASTER_FORBIDDEN"} 1');
    expect(await refusal(p.authenticateToken('bogus'))).toMatchObject({ statusCode: 401 });
    expect(await registry.metrics()).toContain('postmaster_endpoint_errors_total{door="any",code="POSTMASTER_UNAUTHENTICATED"} 1');
  });
});
