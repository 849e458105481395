// What replicas share through the store, Direct mode: one rate limit and one set
// of idempotency keys across two replicas. Then the two cases Queued cannot
// serve: an operator without a durable store (NoDurableStore, 503) and a message
// that outlives its server's expireAfter (expired, with an event).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { freePort } from '../../support/ports.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { inParallel, messageState, sendHttp, startReplicas, type Replicas } from '../../support/replicas.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition } from '../../support/wait.ts';

let redis: RedisServer;
let sink: SmtpSink;
const message = (sender: string, subject: string) => ({ sender, to: ['rcpt@example.com'], subject, text: subject });
const subjects = () => sink.messages.map((m) => m.headers.get('subject')?.[0] ?? '');

async function ready(r: Replicas, ...identities: string[]): Promise<void> {
  for (const id of identities) {
    await eventually(async () => expect(await getCondition('senderidentity', r.ns, id, 'Ready')).toMatchObject({ status: 'True' }), 60_000);
  }
}

beforeAll(async () => {
  redis = await startRedis();
  sink = await startSmtpSink({ mode: 'None' });
});

afterAll(async () => {
  await sink?.close();
  await redis?.destroy();
});

describe('two replicas on one store', () => {
  let r: Replicas;
  beforeAll(async () => {
    r = await startReplicas({ prefix: 'store-shared', count: 2, redis, identities: ['limited', 'app'] });
    await apply(
      r.ns,
      resource('SmtpTarget', 'sink', { host: '127.0.0.1', port: sink.port, security: 'None' }),
      resource('EmailServer', 'sink', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, default: true }),
      resource('SenderIdentity', 'limited', { email: 'limited@example.com', rateLimit: { messagesPerMinute: 6 } }),
      resource('SenderIdentity', 'app', { email: 'app@example.com' }),
    );
    await ready(r, 'limited', 'app');
  }, 120_000);
  afterAll(async () => r?.stop());

  it('admit the configured rate together: the rest get 429 with Retry-After', async () => {
    const answers = await inParallel(12, 4, (i) => sendHttp(r.ops[i % 2]!, r.token, message('limited', `limited-${i}`)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(6);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(6);
    for (const a of refused) {
      expect(a.status).toBe(429);
      expect(a.body.error?.code).toBe('POSTMASTER_RATE_LIMITED');
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // Both replicas admitted some: the limit is shared, not split.
    const admitted = answers.map((a, i) => (a.status === 200 ? i % 2 : -1)).filter((x) => x >= 0);
    expect(new Set(admitted).size).toBe(2);
  });

  it('send once for one Idempotency-Key, whichever replica the retry reaches', async () => {
    const first = await sendHttp(r.ops[0]!, r.token, message('app', 'idempotent-once'), 'order-4711');
    const retry = await sendHttp(r.ops[1]!, r.token, message('app', 'idempotent-once'), 'order-4711');
    expect(first.status).toBe(200);
    expect(retry).toEqual(first);
    const other = await sendHttp(r.ops[1]!, r.token, message('app', 'another body'), 'order-4711');
    expect(other.status).toBe(422);
    expect(other.body.error?.code).toBe('POSTMASTER_IDEMPOTENCY_KEY_REUSED');
    await eventually(async () => expect(subjects().filter((s) => s === 'idempotent-once')).toHaveLength(1));
    // Concurrent duplicates on both replicas: still one.
    const both = await Promise.all([0, 1, 0, 1].map((i) => sendHttp(r.ops[i]!, r.token, message('app', 'racing'), 'race-1')));
    expect(new Set(both.map((b) => b.body.id)).size).toBe(1);
    await new Promise((res) => setTimeout(res, 300));
    expect(subjects().filter((s) => s === 'racing')).toHaveLength(1);
  });

  it('expires a queued message its server could not deliver within expireAfter, with an event', { timeout: 150_000 }, async () => {
    const closed = await freePort();
    await apply(
      r.ns,
      resource('SmtpTarget', 'nowhere', { host: '127.0.0.1', port: closed, security: 'None' }),
      resource('EmailServer', 'nowhere', { provider: 'SMTP', smtp: { targetRef: { name: 'nowhere' } }, delivery: { mode: 'Queued', expireAfter: '1m' } }),
      resource('SenderIdentity', 'doomed', { email: 'doomed@example.com', serverRef: { name: 'nowhere' } }),
    );
    await kubectlOk(['create', 'role', 'send-doomed', '-n', r.ns, '--verb=send', '--resource=senderidentities.email.postmaster.dev', '--resource-name=doomed']);
    await kubectlOk(['create', 'rolebinding', 'send-doomed', '-n', r.ns, '--role=send-doomed', `--serviceaccount=${r.ns}:app`]);
    await ready(r, 'doomed');
    const sent = await sendHttp(r.ops[0]!, r.token, message('doomed', 'never-arrives'));
    expect(sent.status).toBe(202);
    expect(Date.parse(String(sent.body.expiresAt)) - Date.now()).toBeGreaterThan(50_000);
    const final = await eventually(async () => {
      const s = await messageState(r.ops[1]!, r.token, String(sent.body.id));
      expect(s.body.state).toBe('expired');
      return s.body;
    }, 100_000, 1000);
    expect(final.attempts).toBeGreaterThan(3);
    expect(String(final.lastResponse)).toMatch(/ECONNREFUSED|connect/i);
    const events = JSON.parse(await kubectlOk(['get', 'events', '-n', r.ns, '--field-selector', 'involvedObject.name=doomed', '-o', 'json'])).items as {
      reason: string;
      type: string;
    }[];
    expect(events.filter((e) => e.reason === 'MessagesExpired')).toMatchObject([{ type: 'Warning' }]);
  });
});

describe('an operator without a durable store', () => {
  let r: Replicas;
  beforeAll(async () => {
    r = await startReplicas({ prefix: 'store-none', count: 1, identities: ['app'] });
    await apply(
      r.ns,
      resource('SmtpTarget', 'sink', { host: '127.0.0.1', port: sink.port, security: 'None' }),
      resource('EmailServer', 'queued', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, delivery: { mode: 'Queued' }, default: true }),
      resource('SenderIdentity', 'app', { email: 'app@example.com' }),
    );
  }, 120_000);
  afterAll(async () => r?.stop());

  it('reports NoDurableStore on a Queued server, and its identities are not Ready: sends are refused, nothing accepted', async () => {
    const c = await eventually(async () => {
      const cond = await getCondition('emailserver', r.ns, 'queued', 'DeliveryReady');
      expect(cond).toMatchObject({ status: 'False', reason: 'NoDurableStore' });
      return cond!;
    }, 60_000);
    expect(c.message).toContain('--redis-url');
    expect(await getCondition('emailserver', r.ns, 'queued', 'Stalled')).toMatchObject({ status: 'True' });
    await eventually(async () => expect(await getCondition('senderidentity', r.ns, 'app', 'Ready')).toMatchObject({ status: 'False' }));
    const sent = await sendHttp(r.ops[0]!, r.token, message('app', 'no-store'));
    expect(sent.status).toBe(409);
    expect(sent.body.error?.code).toBe('POSTMASTER_IDENTITY_NOT_READY');
    expect(sent.body.error?.message).toContain('NoDurableStore');
    expect(subjects()).not.toContain('no-store');
  });
});
