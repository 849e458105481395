// More of Queued delivery's rules (queued.ts), with a queue that holds jobs in a Map
// and a deliver function the test scripts: the record a user reads after each kind
// of attempt, the deferral counter, the DSN's addressing, and every field of the
// public state.
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deliver } from '../../../src/endpoint/delivery.ts';
import { upstreamRejected, upstreamUnavailable } from '../../../src/endpoint/errors.ts';
import { queueMetrics } from '../../../src/endpoint/queue-metrics.ts';
import { createQueuedDelivery, isQueued, messageStatus, type QueuedJob } from '../../../src/endpoint/queued.ts';
import { decodeMessage } from '../../../src/endpoint/stored-message.ts';
import type { SubmittedMessage } from '../../../src/endpoint/types.ts';
import type { DeliveryQueue, WorkOutcome } from '../../../src/store/queue.ts';
import type { TakeResult } from '../../../src/store/types.ts';
import { pino } from 'pino';
import { identity, PlainDirectory, server, smtpRoute } from '../../support/endpoint-fakes.ts';

const MINUTE = 60_000;
let now: number;
let jobs: Map<string, QueuedJob>;
let directory: PlainDirectory;
let deliver: Deliver;
let take: TakeResult;
let registry: Registry;
let addFails: boolean;
let workOptions: unknown;

const queue = {
  add: async (id: string, data: QueuedJob) => {
    if (addFails && id.endsWith('.dsn')) throw new Error('READONLY You can\'t write against a read only replica.');
    jobs.set(id, data);
  },
  get: async (id: string) => (jobs.has(id) ? { id, phase: 'delayed' as const, data: jobs.get(id)! } : undefined),
  work: (fn: (id: string, job: QueuedJob) => Promise<WorkOutcome<QueuedJob>>, opts: unknown) => {
    work = fn;
    workOptions = opts;
  },
} as unknown as DeliveryQueue<QueuedJob>;
let work!: (id: string, job: QueuedJob) => Promise<WorkOutcome<QueuedJob>>;

let logged: Record<string, unknown>[];
const captureLog = pino({ level: 'debug' }, { write: (l: string) => void logged.push(JSON.parse(l) as Record<string, unknown>) });

const delivery = (random = () => 1) =>
  createQueuedDelivery({
    queue,
    storeStatus: () => ({ store: 'redis', up: true, appendonly: 'yes', description: 'Redis' }),
    directory,
    deliver: (...args) => deliver(...args),
    rateLimits: { take: async () => take },
    metrics: queueMetrics(registry),
    log: captureLog,
    now: () => now,
    minRetryMs: 1000,
    maxRetryMs: 8000,
    reportingMta: 'mta.example',
    random,
  });

const message: SubmittedMessage = {
  to: ['ops@example.org'],
  cc: ['cc@example.org'],
  bcc: ['bcc@example.org'],
  subject: 'Disk full',
  text: 'on node-3',
  messageId: '<m1@example.com>',
};

const delivery24h = { delivery: { mode: 'Queued' as const, bounceTo: 'bounces@example.com' } };

beforeEach(() => {
  now = Date.parse('2026-12-01T10:00:00Z');
  jobs = new Map();
  registry = new Registry();
  take = { ok: true };
  addFails = false;
  logged = [];
  directory = new PlainDirectory();
  directory.add({ identity: identity('team', 'alerts', { email: 'alerts@example.com' }), server: server('team', 'relay', delivery24h), ready: true, primary: smtpRoute() });
  deliver = async (id) => ({ id, messageId: 'UP-1', server: { namespace: 'team', name: 'relay' }, provider: 'SMTP', route: 'primary' });
});

async function accepted(d = delivery()) {
  d.start(2, 5000);
  await d.accept('q-1', message, directory.resolve('team', 'alerts')!, 'system:serviceaccount:team:app');
  return { d, run: async () => {
    const out = await work('q-1', jobs.get('q-1')!);
    jobs.set('q-1', out.data);
    return out;
  } };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('accepting', () => {
  it('expires after 24 hours by default, without a bounce address when none is set', async () => {
    directory.add({ ...directory.resolve('team', 'alerts')!, server: server('team', 'relay', { delivery: { mode: 'Queued' } }) });
    const out = await delivery().accept('q-9', message, directory.resolve('team', 'alerts')!, 'c');
    expect(out.expiresAt).toBe('2026-12-02T10:00:00.000Z');
    expect(jobs.get('q-9')).toEqual({
      v: 1,
      namespace: 'team',
      identity: 'alerts',
      caller: 'c',
      message: expect.any(Object),
      messageIdHeader: '<m1@example.com>',
      server: { namespace: 'team', name: 'relay' },
      acceptedAt: now,
      expiresAt: now + 24 * 60 * MINUTE,
      attempts: 0,
      state: 'queued',
    });
    expect(await registry.getSingleMetricAsString('postmaster_queue_accepted_total')).toContain('postmaster_queue_accepted_total 1');
  });

  it('a server without delivery settings stores with the defaults', async () => {
    directory.add({ ...directory.resolve('team', 'alerts')!, server: server('team', 'relay') });
    const out = await delivery().accept('q-8', { to: ['ops@example.org'], subject: 's', text: 't', messageId: '<m8@example.com>' }, directory.resolve('team', 'alerts')!, 'c');
    expect(out.expiresAt).toBe('2026-12-02T10:00:00.000Z');
    expect('bounceTo' in jobs.get('q-8')!).toBe(false);
  });

  it('the workers start with the concurrency and lock duration given', async () => {
    await accepted();
    expect(workOptions).toEqual({ concurrency: 2, lockDurationMs: 5000 });
    delivery().start(3);
    expect(workOptions).toEqual({ concurrency: 3 });
  });

  it('only a Queued EmailServer is queued', () => {
    expect(isQueued(server('t', 's', { delivery: { mode: 'Queued' } }))).toBe(true);
    expect(isQueued(server('t', 's', { delivery: { mode: 'Direct' } as never }))).toBe(false);
    expect(isQueued(server('t', 's'))).toBe(false);
    expect(isQueued(undefined)).toBe(false);
  });
});

describe('attempts', () => {
  it('a finished record (no body) is left as it is', async () => {
    await accepted();
    const { message: _m, ...record } = jobs.get('q-1')!;
    expect(await work('q-1', record as QueuedJob)).toEqual({ kind: 'sent', data: record });
  });

  it('a sent message without an upstream reply keeps no lastResponse', async () => {
    const { run } = await accepted();
    const out = await run();
    expect(out.kind).toBe('sent');
    expect('lastResponse' in out.data).toBe(false);
    expect(messageStatus('q-1', out.data, 'completed')).toEqual({
      id: 'q-1',
      state: 'sent',
      identity: { namespace: 'team', name: 'alerts' },
      messageIdHeader: '<m1@example.com>',
      attempts: 1,
      acceptedAt: '2026-12-01T10:00:00.000Z',
      lastAttemptAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:00:00.000Z',
      expiresAt: '2026-12-02T10:00:00.000Z',
      provider: 'SMTP',
      route: 'primary',
      upstreamMessageId: 'UP-1',
    });
  });

  it('an identity without a route waits the first backoff step, attempts not counted', async () => {
    const { run } = await accepted(delivery(() => 0));
    directory.add({ ...directory.resolve('team', 'alerts')!, ready: false, reason: 'ServerNotReady', message: 'EmailServer "team/relay" is not Ready' });
    const out = await run();
    expect(out).toMatchObject({ kind: 'deferred', delayMs: 500, data: { state: 'queued', attempts: 0 } });
    expect(out.data.lastResponse).toContain('ServerNotReady');
    expect('lastAttemptAt' in out.data).toBe(false);
  });

  it('after a counted attempt, a wait that is not an attempt keeps the state deferred and the attempt time', async () => {
    deliver = async () => Promise.reject(upstreamUnavailable('421 busy'));
    const { run } = await accepted();
    expect(await run()).toMatchObject({ kind: 'deferred', data: { state: 'deferred', attempts: 1, lastAttemptAt: now } });
    const first = now;
    now += MINUTE;
    take = { ok: false, what: 'SenderIdentity "team/alerts"', retryAfterSeconds: 2 };
    expect(await run()).toMatchObject({ kind: 'deferred', delayMs: 2000, data: { state: 'deferred', attempts: 1, lastAttemptAt: first, lastResponse: 'rate limited by SenderIdentity "team/alerts"' } });
    directory.entries.clear();
    expect(await run()).toMatchObject({ kind: 'deferred', data: { state: 'deferred', attempts: 1, lastAttemptAt: first } });
  });

  it('an identity without a route after two attempts waits the third backoff step', async () => {
    deliver = async () => Promise.reject(upstreamUnavailable('421 busy'));
    const { run } = await accepted();
    await run();
    await run();
    directory.add({ ...directory.resolve('team', 'alerts')!, ready: false, reason: 'ServerNotReady' });
    expect(await run()).toMatchObject({ kind: 'deferred', delayMs: 4000, data: { attempts: 2 } });
  });

  it('an identity that is gone is not an attempt: still queued, no attempt time', async () => {
    const { run } = await accepted();
    directory.entries.clear();
    const out = await run();
    expect(out.data.state).toBe('queued');
    expect('lastAttemptAt' in out.data).toBe(false);
  });

  it('deferrals are counted by error code; a surprise counts as internal, with its text as the reply', async () => {
    deliver = async () => Promise.reject(upstreamUnavailable('421 busy'));
    const { run } = await accepted();
    await run();
    deliver = async () => Promise.reject(new Error('socket hang up'));
    const out = await run();
    expect(out).toMatchObject({ kind: 'deferred', delayMs: 2000, data: { attempts: 2, lastResponse: 'socket hang up' } });
    const text = await registry.getSingleMetricAsString('postmaster_queue_deferrals_total');
    expect(text).toContain('postmaster_queue_deferrals_total{reason="POSTMASTER_UPSTREAM_UNAVAILABLE"} 1');
    expect(text).toContain('postmaster_queue_deferrals_total{reason="POSTMASTER_INTERNAL"} 1');
  });

  it('an expiry before any attempt says so', async () => {
    const { run } = await accepted();
    now += 24 * 60 * MINUTE;
    const out = await run();
    expect(out).toMatchObject({ kind: 'failed', reason: 'expired before an attempt could be made', data: { state: 'expired', attempts: 0, finishedAt: now } });
    expect(await registry.getSingleMetricAsString('postmaster_queue_outcomes_total')).toContain('{namespace="team",identity="alerts",result="expired"} 1');
  });
});

describe('the DSN', () => {
  it('names every recipient, the attempt and its reply, and comes from the identity\'s domain', async () => {
    deliver = async () => Promise.reject(upstreamRejected('SMTP refused the message: 554 5.7.1 spam'));
    const { run } = await accepted();
    now += 5000;
    await run();
    await settle();
    const dsn = jobs.get('q-1.dsn')!;
    expect(dsn).toMatchObject({ acceptedAt: now, state: 'queued', attempts: 0, notification: true, messageIdHeader: '<q-1.dsn.postmaster@example.com>' });
    for (const gone of ['lastResponse', 'lastAttemptAt', 'finishedAt', 'provider', 'route', 'upstreamMessageId', 'bounceTo']) expect(gone in dsn).toBe(false);
    const m = decodeMessage(dsn.message!);
    expect(m.messageId).toBe('<q-1.dsn.postmaster@example.com>');
    expect(m.to).toEqual(['bounces@example.com']);
    const raw = m.raw!.toString();
    expect(raw).toContain('Recipients: ops@example.org, cc@example.org, bcc@example.org\r\n');
    expect(raw.match(/Final-Recipient/g)).toHaveLength(3);
    expect(raw).toContain('Reporting-MTA: dns; mta.example');
    expect(raw).toContain('Last-Attempt-Date: Tue, 01 Dec 2026 10:00:05 +0000');
    expect(raw).toContain('Arrival-Date: Tue, 01 Dec 2026 10:00:00 +0000');
    expect(raw).toContain('Diagnostic-Code: smtp; SMTP refused the message: 554 5.7.1 spam');
    expect(raw).toContain('From: alerts@example.com\r\nTo: ops@example.org\r\nCc: cc@example.org\r\nSubject: Disk full\r\nMessage-ID: <m1@example.com>');
  });

  it('an expiry before any attempt: no reply, no attempt date; the identity gone: its name stands for the address', async () => {
    const { run } = await accepted();
    directory.entries.clear();
    now += 24 * 60 * MINUTE;
    await run();
    await settle();
    const raw = decodeMessage(jobs.get('q-1.dsn')!.message!).raw!.toString();
    expect(raw).toContain('Status: 4.4.7');
    expect(raw).not.toContain('Diagnostic-Code');
    expect(raw).not.toContain('Last-Attempt-Date');
    expect(raw).toContain('postmaster could not deliver a message sent as alerts: it could not be delivered before it expired, after 0 attempts.');
    expect(jobs.get('q-1.dsn')!.messageIdHeader).toBe('<q-1.dsn.postmaster@alerts>');
  });

  it('a message with To only: one recipient in the report', async () => {
    deliver = async () => Promise.reject(upstreamRejected('550 no'));
    const d = delivery();
    d.start(1);
    await d.accept('q-5', { to: ['ops@example.org'], subject: 's', text: 't', messageId: '<m5@example.com>' }, directory.resolve('team', 'alerts')!, 'c');
    await work('q-5', jobs.get('q-5')!);
    await settle();
    const raw = decodeMessage(jobs.get('q-5.dsn')!.message!).raw!.toString();
    expect(raw).toContain('Recipients: ops@example.org\r\n');
    expect(raw.match(/Final-Recipient/g)).toHaveLength(1);
  });

  it('none without bounceTo, none about a DSN, and a DSN the store cannot take is given up', async () => {
    deliver = async () => Promise.reject(upstreamRejected('550 no'));
    const { run } = await accepted();
    jobs.set('q-1', { ...jobs.get('q-1')!, notification: true });
    expect((await run()).kind).toBe('failed');
    await settle();
    expect(jobs.has('q-1.dsn')).toBe(false);

    directory.add({ ...directory.resolve('team', 'alerts')!, server: server('team', 'relay', { delivery: { mode: 'Queued' } }) });
    await delivery().accept('q-1', message, directory.resolve('team', 'alerts')!, 'c');
    expect((await run()).kind).toBe('failed');
    await settle();
    expect(jobs.has('q-1.dsn')).toBe(false);

    addFails = true;
    directory.add({ ...directory.resolve('team', 'alerts')!, server: server('team', 'relay', delivery24h) });
    await delivery().accept('q-1', message, directory.resolve('team', 'alerts')!, 'c');
    expect((await run()).kind).toBe('failed');
    await settle();
    expect(jobs.has('q-1.dsn')).toBe(false);
  });
});

describe('log lines', () => {
  it('a bounce is a warning naming the message, the identity, the attempts and why; a DSN the store refused is an error', async () => {
    deliver = async () => Promise.reject(upstreamRejected('SMTP refused the message: 550 5.1.1 unknown'));
    addFails = true;
    const { run } = await accepted();
    await run();
    await settle();
    expect(logged.find((l) => l.msg === 'queued message bounced')).toMatchObject({
      level: 40, id: 'q-1', namespace: 'team', identity: 'alerts', state: 'bounced', attempts: 1, reason: 'SMTP refused the message: 550 5.1.1 unknown',
    });
    expect(logged.find((l) => l.msg === 'could not queue the delivery status notification')).toMatchObject({ level: 50, id: 'q-1', err: expect.stringContaining('READONLY') });
  });

  it('a sent message logs no warning', async () => {
    const { run } = await accepted();
    await run();
    expect(logged.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });
});

describe('the public state', () => {
  it('without attempts: only the required fields; a failed record without its state is bounced', () => {
    const job: QueuedJob = {
      v: 1, namespace: 'team', identity: 'alerts', caller: 'c', messageIdHeader: '<m>', server: { namespace: 'team', name: 'relay' },
      acceptedAt: Date.parse('2026-12-01T10:00:00Z'), expiresAt: Date.parse('2026-12-02T10:00:00Z'), attempts: 0, state: 'queued',
    };
    expect(messageStatus('q-1', job, 'waiting')).toStrictEqual({
      id: 'q-1', state: 'queued', identity: { namespace: 'team', name: 'alerts' }, messageIdHeader: '<m>', attempts: 0,
      acceptedAt: '2026-12-01T10:00:00.000Z', expiresAt: '2026-12-02T10:00:00.000Z',
    });
    expect(messageStatus('q-1', { ...job, state: 'deferred' }, 'failed').state).toBe('bounced');
    expect(messageStatus('q-1', { ...job, attempts: 1, lastResponse: '421 busy' }, 'waiting')).toMatchObject({ state: 'deferred', lastResponse: '421 busy' });
  });

  it('the status read finds a stored message with its phase, and nothing for an unknown id', async () => {
    const d = delivery();
    await d.accept('q-1', message, directory.resolve('team', 'alerts')!, 'c');
    expect(await d.status('q-1')).toEqual({ job: jobs.get('q-1'), phase: 'delayed' });
    expect(await d.status('q-2')).toBeUndefined();
  });
});
