// Queued delivery's rules with a queue that holds jobs in a Map and a deliver
// function the test scripts: what is stored, when an attempt is deferred and
// for how long, what a rate limit or a missing identity does, how a bounce and
// an expiry end, the DSN that follows, and the public states.
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { routedServer, type Deliver } from '../../../src/endpoint/delivery.ts';
import { EndpointError, upstreamOutcomeUnknown, upstreamRejected, upstreamUnavailable } from '../../../src/endpoint/errors.ts';
import { queueMetrics } from '../../../src/endpoint/queue-metrics.ts';
import { createQueuedDelivery, messageStatus, type QueuedJob } from '../../../src/endpoint/queued.ts';
import { decodeMessage } from '../../../src/endpoint/stored-message.ts';
import type { SubmittedMessage } from '../../../src/endpoint/types.ts';
import type { DeliveryQueue, WorkOutcome } from '../../../src/store/queue.ts';
import type { TakeResult } from '../../../src/store/types.ts';
import { identity, PlainDirectory, server, silentLog, smtpRoute } from '../../support/endpoint-fakes.ts';

const MINUTE = 60_000;
let now: number;
let jobs: Map<string, QueuedJob>;
let directory: PlainDirectory;
let deliver: Deliver;
let take: TakeResult;
let finals: { state: string; identity: string }[];
let registry: Registry;

const queue = {
  add: async (id: string, data: QueuedJob) => void (jobs.has(id) || jobs.set(id, data)),
  get: async (id: string) => (jobs.has(id) ? { id, phase: 'waiting' as const, data: jobs.get(id)! } : undefined),
} as unknown as DeliveryQueue<QueuedJob>;

function delivery(overrides: { queue?: DeliveryQueue<QueuedJob> | undefined; random?: () => number } = {}) {
  return createQueuedDelivery({
    queue: 'queue' in overrides ? overrides.queue : queue,
    storeStatus: () => ({ store: 'redis', up: true, appendonly: 'yes', description: 'Redis at 10.0.0.5:6379 (appendonly yes)' }),
    directory,
    deliver: (...args) => deliver(...args),
    rateLimits: { take: async () => take },
    metrics: queueMetrics(registry),
    log: silentLog,
    now: () => now,
    minRetryMs: 1000,
    maxRetryMs: 8000,
    reportingMta: 'postmaster.postmaster-system.svc',
    onFinal: (f) => finals.push(f),
    random: overrides.random ?? (() => 1),
  });
}

const message: SubmittedMessage = { to: ['Ops <ops@example.org>'], subject: 'Disk full', text: 'on node-3', messageId: '<m1@example.com>', raw: Buffer.from('Subject: Disk full\r\n\r\non node-3\r\n') };

beforeEach(() => {
  now = Date.parse('2026-12-01T10:00:00Z');
  jobs = new Map();
  finals = [];
  registry = new Registry();
  take = { ok: true };
  directory = new PlainDirectory();
  directory.add({
    identity: identity('team', 'alerts', { email: 'alerts@example.com' }),
    server: server('team', 'relay', { delivery: { mode: 'Queued', expireAfter: '1h', bounceTo: 'bounces@example.com' } }),
    ready: true,
    primary: smtpRoute(),
  });
  deliver = async (id) => ({ id, messageId: 'UP-1', response: '250 2.0.0 Ok: queued as UP-1', server: { namespace: 'team', name: 'relay' }, provider: 'SMTP', route: 'primary' });
});

const resolved = () => directory.resolve('team', 'alerts')!;

/** Stores one message and returns a function that runs the worker on it as the queue would. */
async function stored(d = delivery()): Promise<(collect?: boolean) => Promise<WorkOutcome<QueuedJob>>> {
  let work!: (id: string, job: QueuedJob) => Promise<WorkOutcome<QueuedJob>>;
  (queue as unknown as { work: unknown }).work = (fn: typeof work) => (work = fn);
  d.start(1);
  await d.accept('q-1', message, resolved(), 'system:serviceaccount:team:app');
  return async () => {
    const out = await work('q-1', jobs.get('q-1')!);
    jobs.set('q-1', out.data);
    return out;
  };
}

describe('accepting', () => {
  it('stores the message with its expiry and bounce address, and answers queued', async () => {
    const outcome = await delivery().accept('q-1', message, resolved(), 'system:serviceaccount:team:app');
    expect(outcome).toEqual({ queued: true, id: 'q-1', messageIdHeader: '<m1@example.com>', server: { namespace: 'team', name: 'relay' }, expiresAt: '2026-12-01T11:00:00.000Z' });
    const job = jobs.get('q-1')!;
    expect(job).toMatchObject({ namespace: 'team', identity: 'alerts', attempts: 0, state: 'queued', bounceTo: 'bounces@example.com', expiresAt: now + 60 * MINUTE });
    expect(decodeMessage(job.message!)).toEqual(message);
  });

  it('refuses when there is no durable store, or the store cannot take it: 503, nothing accepted', async () => {
    const none = await delivery({ queue: undefined }).accept('q-1', message, resolved(), 'c').catch((e: unknown) => e);
    expect(none).toMatchObject({ statusCode: 503, smtpCode: 451, code: 'POSTMASTER_QUEUE_UNAVAILABLE', retryAfterSeconds: 60 });
    expect((none as Error).message).toBe('EmailServer "team/relay" delivers Queued, but this operator runs without a durable store (--redis-url). Nothing was accepted.');
    const broken = { add: async () => Promise.reject(new Error('Connection is closed.')) } as unknown as DeliveryQueue<QueuedJob>;
    const down = await delivery({ queue: broken }).accept('q-1', message, resolved(), 'c').catch((e: unknown) => e);
    expect(down).toMatchObject({ statusCode: 503, retryAfterSeconds: 5 });
    expect((down as Error).message).toContain('The shared store (Redis at 10.0.0.5:6379 (appendonly yes)) could not take the message: Connection is closed.');
  });

  it('refuses an identity that has no route now, before storing anything', async () => {
    directory.add({ ...resolved(), ready: false, reason: 'EmailServerNotReady', message: 'EmailServer "team/relay" is not Ready' });
    expect(() => routedServer(resolved())).toThrow(EndpointError);
    await expect(delivery().accept('q-1', message, resolved(), 'c')).rejects.toMatchObject({ code: 'POSTMASTER_IDENTITY_NOT_READY' });
    expect(jobs.size).toBe(0);
  });
});

describe('working the queue', () => {
  it('sends, keeps the record without the body, and counts it', async () => {
    const work = await stored();
    const out = await work();
    expect(out.kind).toBe('sent');
    expect(out.data).toMatchObject({ state: 'sent', attempts: 1, provider: 'SMTP', route: 'primary', upstreamMessageId: 'UP-1', lastResponse: '250 2.0.0 Ok: queued as UP-1', finishedAt: now });
    expect(out.data.message).toBeUndefined();
    expect(await registry.getSingleMetricAsString('postmaster_queue_outcomes_total')).toContain('{namespace="team",identity="alerts",result="sent"} 1');
  });

  it('defers temporary failures with doubling, jittered, capped backoff, and keeps the last reply', async () => {
    deliver = async () => Promise.reject(upstreamUnavailable('SMTP could not take the message now, nothing was sent: 421 try later'));
    let roll = 1;
    const work = await stored(delivery({ random: () => roll }));
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await work();
      expect(out.kind).toBe('deferred');
      delays.push((out as { delayMs: number }).delayMs);
    }
    // Upstream hint (30 s) capped by maxRetryMs (8 s); without a hint, 1 s doubling to 8 s.
    expect(delays).toEqual([8000, 8000, 8000, 8000, 8000]);
    expect(jobs.get('q-1')).toMatchObject({ state: 'deferred', attempts: 5, lastAttemptAt: now, lastResponse: expect.stringContaining('421 try later') });

    deliver = async () => Promise.reject(new EndpointError('x', { code: 'POSTMASTER_UPSTREAM_UNAVAILABLE', statusCode: 503, smtpCode: 451 }));
    jobs.set('q-1', { ...jobs.get('q-1')!, attempts: 0 });
    const unhinted: number[] = [];
    for (let i = 0; i < 5; i++) unhinted.push(((await work()) as { delayMs: number }).delayMs);
    expect(unhinted).toEqual([1000, 2000, 4000, 8000, 8000]);
    roll = 0;
    jobs.set('q-1', { ...jobs.get('q-1')!, attempts: 2 });
    // The jitter takes up to half of the step away.
    expect(((await work()) as { delayMs: number }).delayMs).toBe(2000);
  });

  it('retries an unknown outcome (at-least-once) with the same Message-ID', async () => {
    const ids: string[] = [];
    deliver = async (_id, m) => {
      ids.push(m.messageId!);
      if (ids.length === 1) throw upstreamOutcomeUnknown('SMTP: connection closed after DATA');
      return { id: 'q-1', messageId: 'UP-2', server: { namespace: 'team', name: 'relay' }, provider: 'SMTP', route: 'primary' };
    };
    const work = await stored();
    expect((await work()).kind).toBe('deferred');
    expect((await work()).kind).toBe('sent');
    expect(ids).toEqual(['<m1@example.com>', '<m1@example.com>']);
  });

  it('waits out a rate limit without counting an attempt', async () => {
    take = { ok: false, what: 'EmailServer "team/relay"', retryAfterSeconds: 7 };
    let calls = 0;
    deliver = async () => Promise.reject(new Error(`called ${++calls}`));
    const work = await stored();
    const out = await work();
    expect(out).toMatchObject({ kind: 'deferred', delayMs: 7000, data: { attempts: 0, state: 'queued', lastResponse: 'rate limited by EmailServer "team/relay"' } });
    expect(calls).toBe(0);
  });

  it('waits for an identity that is gone or has no route, without counting attempts', async () => {
    const work = await stored();
    directory.entries.clear();
    expect(await work()).toMatchObject({ kind: 'deferred', delayMs: 8000, data: { attempts: 0, lastResponse: 'SenderIdentity "team/alerts" not found' } });
  });

  it('never waits past the expiry, and expires without another attempt once it is reached', async () => {
    deliver = async () => Promise.reject(upstreamUnavailable('down', 1));
    const work = await stored();
    now += 60 * MINUTE - 500;
    // The backoff would be 1 s; the expiry is 0.5 s away.
    expect(await work()).toMatchObject({ kind: 'deferred', delayMs: 500 });
    now += 500;
    let called = false;
    deliver = async () => ((called = true), Promise.reject(new Error('no')));
    const out = await work();
    expect(out).toMatchObject({ kind: 'failed', data: { state: 'expired', attempts: 1 } });
    expect(called).toBe(false);
    expect(finals).toEqual([{ namespace: 'team', identity: 'alerts', state: 'expired', id: 'q-1', reason: expect.stringContaining('down') }]);
  });

  it('bounces a permanent refusal at once and queues one DSN to bounceTo, which never bounces in turn', async () => {
    deliver = async () => Promise.reject(upstreamRejected('SMTP refused the message: 550 5.1.1 <ops@example.org>: user unknown'));
    const work = await stored();
    const out = await work();
    expect(out).toMatchObject({ kind: 'failed', data: { state: 'bounced', attempts: 1 } });
    expect(out.data.message).toBeUndefined();
    await new Promise((r) => setTimeout(r, 0));
    const dsn = jobs.get('q-1.dsn')!;
    expect(dsn).toMatchObject({ notification: true, state: 'queued', attempts: 0, identity: 'alerts', messageIdHeader: '<q-1.dsn.postmaster@example.com>' });
    expect(dsn.bounceTo).toBeUndefined();
    const raw = decodeMessage(dsn.message!).raw!.toString();
    expect(raw).toMatch(/^To: bounces@example\.com\r\n/);
    expect(raw).toContain('Reporting-MTA: dns; postmaster.postmaster-system.svc');
    expect(raw).toContain('Final-Recipient: rfc822; Ops <ops@example.org>\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; SMTP refused the message: 550 5.1.1 <ops@example.org>: user unknown');
    expect(raw).toContain('Content-Type: text/rfc822-headers\r\n\r\nSubject: Disk full\r\n');
    expect(finals).toEqual([{ namespace: 'team', identity: 'alerts', state: 'bounced', id: 'q-1', reason: expect.stringContaining('550 5.1.1') }]);
  });
});

describe('public states', () => {
  const job: QueuedJob = {
    v: 1, namespace: 'team', identity: 'alerts', caller: 'c', messageIdHeader: '<m1@example.com>', server: { namespace: 'team', name: 'relay' },
    acceptedAt: Date.parse('2026-12-01T10:00:00Z'), expiresAt: Date.parse('2026-12-02T10:00:00Z'), attempts: 0, state: 'queued',
  };
  it.each([
    ['waiting', {}, 'queued'],
    ['delayed', {}, 'queued'],
    ['delayed', { attempts: 2 }, 'deferred'],
    ['active', {}, 'sending'],
    ['completed', { state: 'sent' }, 'sent'],
    ['failed', { state: 'bounced' }, 'bounced'],
    ['failed', { state: 'expired' }, 'expired'],
  ] as const)('%s %o is %s', (phase, extra, state) => {
    expect(messageStatus('q-1', { ...job, ...extra } as QueuedJob, phase)).toMatchObject({ id: 'q-1', state, acceptedAt: '2026-12-01T10:00:00.000Z', expiresAt: '2026-12-02T10:00:00.000Z' });
  });
});
