// Queued delivery on a real redis-server (AOF, appendfsync always) with two
// operator replicas: what the README promises for Queued mode, checked as a user
// would see it. A 2xx means the message is stored; every stored message arrives,
// through an upstream outage, a replica SIGKILLed mid-send and a restart of the
// store; a duplicate happens only where a replica died mid-send, and is counted.
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kubeconfig, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource } from '../../support/manifests.ts';
import { freePort } from '../../support/ports.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { startOperator } from '../../support/operator.ts';
import { FAST_QUEUE, inParallel, messageState, sendHttp, startReplicas, type Replicas } from '../../support/replicas.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition } from '../../support/wait.ts';

let redis: RedisServer;
let r: Replicas;
let port: number;
let sink: SmtpSink | undefined;
/** Every message the upstream ever took, across its restarts. */
const arrived: { subject: string; to: string[]; raw: string }[] = [];

async function upstreamUp(opts: Partial<SinkOptions> = {}): Promise<void> {
  sink = await startSmtpSink({ mode: 'None', port, ...opts });
  const s = sink;
  const seen = s.messages;
  // The sink's own list, copied into `arrived` as messages land.
  const push = seen.push.bind(seen);
  seen.push = (...items) => {
    for (const m of items) arrived.push({ subject: m.headers.get('subject')?.[0] ?? '', to: m.to, raw: m.raw.toString() });
    return push(...items);
  };
}

async function upstreamDown(): Promise<void> {
  await sink?.close();
  sink = undefined;
}

const delivered = (prefix: string) => arrived.filter((m) => m.subject.startsWith(prefix)).map((m) => m.subject);
const message = (subject: string, to = ['rcpt@example.com']) => ({ sender: 'app', to, subject, text: `body of ${subject}` });

beforeAll(async () => {
  redis = await startRedis();
  port = await freePort();
  r = await startReplicas({ prefix: 'store-queued', count: 2, redis, identities: ['app', 'direct-app'] });
  await apply(
    r.ns,
    resource('SmtpTarget', 'relay', { host: '127.0.0.1', port, security: 'None' }),
    resource('EmailServer', 'queued', {
      provider: 'SMTP',
      smtp: { targetRef: { name: 'relay' } },
      delivery: { mode: 'Queued', expireAfter: '1h', bounceTo: 'bounces@example.com' },
    }),
    resource('EmailServer', 'direct', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } } }),
    resource('SenderIdentity', 'app', { email: 'app@example.com', serverRef: { name: 'queued' } }),
    resource('SenderIdentity', 'direct-app', { email: 'direct@example.com', serverRef: { name: 'direct' } }),
  );
  for (const id of ['app', 'direct-app']) {
    await eventually(async () => expect(await getCondition('senderidentity', r.ns, id, 'Ready')).toMatchObject({ status: 'True' }), 60_000);
  }
}, 120_000);

afterAll(async () => {
  await r?.stop();
  await upstreamDown();
  await redis?.destroy();
});

it('reports in DeliveryReady that messages are queued in the store, and what its AOF settings keep', async () => {
  const c = await eventually(async () => {
    const cond = await getCondition('emailserver', r.ns, 'queued', 'DeliveryReady');
    expect(cond).toMatchObject({ status: 'True', reason: 'Queued' });
    return cond!;
  });
  expect(c.message).toBe(`Queued in Redis at 127.0.0.1:${redis.port} (appendonly yes, appendfsync always).`);
  expect(await getCondition('emailserver', r.ns, 'direct', 'DeliveryReady')).toMatchObject({ status: 'True', reason: 'Direct' });
});

it('takes 1,000 messages while the upstream is down and delivers every one once it is back', { timeout: 240_000 }, async () => {
  const answers = await inParallel(1000, 20, (i) => sendHttp(r.ops[i % 2]!, r.token, message(`outage-${i}`)));
  expect(answers.filter((a) => a.status === 202)).toHaveLength(1000);
  expect(answers[0]!.body).toMatchObject({ state: 'queued', statusUrl: `/v1/messages/${answers[0]!.body.id}`, server: { namespace: r.ns, name: 'queued' } });

  // Seen from the other replica: deferred, with the reason of the last attempt.
  const id = String(answers[0]!.body.id);
  const waiting = await eventually(async () => {
    const s = await messageState(r.ops[1]!, r.token, id);
    expect(s.body).toMatchObject({ state: 'deferred' });
    return s.body;
  });
  expect(waiting.attempts).toBeGreaterThanOrEqual(1);
  expect(String(waiting.lastResponse)).toMatch(/ECONNREFUSED|connect/i);

  await upstreamUp();
  await eventually(async () => expect(new Set(delivered('outage-')).size).toBe(1000), 180_000, 500);
  // Nobody died: not one duplicate.
  expect(delivered('outage-')).toHaveLength(1000);
  const done = await messageState(r.ops[0]!, r.token, id);
  expect(done.body).toMatchObject({ state: 'sent', provider: 'SMTP', route: 'primary', messageIdHeader: answers[0]!.body.messageIdHeader });
  expect(done.body.finishedAt).toBeTypeOf('string');
  // The body left the store once it was sent; the record stays.
  const stored = await redis.command('HGET', `postmaster:delivery:${id}`, 'data');
  expect(stored).toContain('"state":"sent"');
  expect(stored).not.toContain('"message"');
});

it('answers the SMTP door "250 queued as <id>" once the message is stored', async () => {
  const client = createTransport({ host: '127.0.0.1', port: r.ops[0]!.smtpPort, secure: false, ignoreTLS: true, auth: { user: 'app', pass: r.token } });
  const info = await client.sendMail({ from: 'app@example.com', to: 'rcpt@example.com', subject: 'smtp-queued', text: 'hi' });
  client.close();
  const id = /queued as (\S+)/.exec(info.response)?.[1];
  expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
  await eventually(async () => expect(delivered('smtp-queued')).toHaveLength(1), 30_000);
  expect((await messageState(r.ops[1]!, r.token, id!)).body).toMatchObject({ state: 'sent' });
});

it('shows a queued message only to callers who may send as its identity', async () => {
  const sent = await sendHttp(r.ops[0]!, r.token, message('private'));
  await kubectlOk(['create', 'serviceaccount', 'other', '-n', r.ns]);
  const other = (await kubectlOk(['create', 'token', 'other', '-n', r.ns, '--audience', 'postmaster'])).trim();
  const seen = await messageState(r.ops[0]!, other, String(sent.body.id));
  expect(seen.status).toBe(404);
  expect(seen.body.error?.code).toBe('POSTMASTER_MESSAGE_NOT_FOUND');
  expect((await messageState(r.ops[0]!, r.token, 'no-such-message')).status).toBe(404);
});

it('bounces a permanent refusal: state, a Warning event, the metric and a DSN at bounceTo', { timeout: 60_000 }, async () => {
  await upstreamDown();
  await upstreamUp({ rejectRecipients: { 'nobody@example.com': 550 } });
  const sent = await sendHttp(r.ops[0]!, r.token, message('refused-for-good', ['nobody@example.com']));
  expect(sent.status).toBe(202);
  const state = await eventually(async () => {
    const s = await messageState(r.ops[0]!, r.token, String(sent.body.id));
    expect(s.body.state).toBe('bounced');
    return s.body;
  }, 30_000);
  expect(state.lastResponse).toMatch(/550/);
  expect(state.attempts).toBe(1);

  const dsn = await eventually(async () => {
    const m = arrived.find((a) => a.to.includes('bounces@example.com'));
    expect(m).toBeDefined();
    return m!;
  }, 30_000);
  expect(dsn.raw).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status;/m);
  expect(dsn.raw).toMatch(/^Auto-Submitted: auto-replied$/m);
  expect(dsn.raw).toContain('Final-Recipient: rfc822; nobody@example.com\r\nAction: failed\r\nStatus: 5.0.0');
  expect(dsn.raw).toContain('Diagnostic-Code: smtp; ');
  expect(dsn.raw).toContain('Subject: refused-for-good');
  expect(dsn.raw).toMatch(/^From: app@example\.com$/m);

  const events = await eventually(async () => {
    const list = JSON.parse(await kubectlOk(['get', 'events', '-n', r.ns, '--field-selector', 'involvedObject.name=app', '-o', 'json'])).items as {
      type: string;
      reason: string;
      message: string;
    }[];
    const bounced = list.filter((e) => e.reason === 'MessagesBounced');
    expect(bounced).toHaveLength(1);
    return bounced;
  });
  expect(events[0]).toMatchObject({ type: 'Warning' });
  const bounces = (await Promise.all(r.ops.map((op) => op.metric('postmaster_queue_outcomes_total', { result: 'bounced' })))).reduce((a, b) => a + b);
  expect(bounces).toBe(1);
});

it('drains a replica on SIGTERM: it finishes what it is sending, leaves the rest, and nothing arrives twice', { timeout: 120_000 }, async () => {
  const third = await startOperator({
    kubeconfig: kubeconfig(),
    namespaces: [r.ns],
    identity: `${r.ns}-replica-2`,
    extraArgs: ['--connection-tests=false', '--drain-delay=100ms', '--log-level=info', ...FAST_QUEUE],
    env: redis.env,
  });
  await upstreamDown();
  await upstreamUp({ dataDelayMs: 300 });
  const answers = await inParallel(200, 20, (i) => sendHttp(r.ops[1]!, r.token, message(`drained-${i}`)));
  expect(answers.every((a) => a.status === 202)).toBe(true);
  await eventually(async () => expect(delivered('drained-').length).toBeGreaterThanOrEqual(30), 30_000, 20);
  expect(await third.stop('SIGTERM')).toBe(0);
  expect(new Set(delivered('drained-')).size).toBeLessThan(200);
  await eventually(async () => expect(new Set(delivered('drained-')).size).toBe(200), 60_000, 200);
  expect(delivered('drained-')).toHaveLength(200);
  expect(third.logs()).toMatch(/"msg":"stopped"/);
});

it('delivers every message of a replica SIGKILLed mid-send; duplicates only from the one that died', { timeout: 120_000 }, async () => {
  await upstreamDown();
  // Slow enough that both replicas' workers hold messages when one dies.
  await upstreamUp({ dataDelayMs: 300 });
  const answers = await inParallel(200, 20, (i) => sendHttp(r.ops[1]!, r.token, message(`killed-${i}`)));
  expect(answers.every((a) => a.status === 202)).toBe(true);
  await eventually(async () => expect(delivered('killed-').length).toBeGreaterThanOrEqual(30), 30_000, 20);
  await r.ops[0]!.stop('SIGKILL');
  const beforeKill = new Set(delivered('killed-')).size;
  expect(beforeKill).toBeLessThan(200);
  await eventually(async () => expect(new Set(delivered('killed-')).size).toBe(200), 60_000, 200);
  const all = delivered('killed-');
  const duplicates = all.length - new Set(all).size;
  // At most what the dead replica's 16 workers held when it died.
  expect(duplicates).toBeLessThanOrEqual(16);
});

it('keeps queued messages through a restart of the store', { timeout: 90_000 }, async () => {
  await upstreamDown();
  const answers = await inParallel(50, 10, (i) => sendHttp(r.ops[1]!, r.token, message(`restart-${i}`)));
  expect(answers.every((a) => a.status === 202)).toBe(true);
  await redis.kill();
  await redis.start();
  await upstreamUp();
  await eventually(async () => expect(new Set(delivered('restart-')).size).toBe(50), 60_000, 200);
});

it('with the store down refuses Queued sends with 503 and keeps sending Direct', { timeout: 90_000 }, async () => {
  const op = r.ops[1]!;
  await redis.stop();
  try {
    await eventually(async () => expect(await op.metric('postmaster_store_up')).toBe(0), 30_000);
    const refused = await sendHttp(op, r.token, message('store-down'));
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('POSTMASTER_QUEUE_UNAVAILABLE');
    expect(refused.retryAfter).toBe('5');
    const smtp = createTransport({ host: '127.0.0.1', port: op.smtpPort, secure: false, ignoreTLS: true, auth: { user: 'app', pass: r.token } });
    const err = await smtp.sendMail({ from: 'app@example.com', to: 'rcpt@example.com', subject: 'store-down-smtp', text: 'x' }).catch((e: unknown) => e);
    smtp.close();
    expect(err).toMatchObject({ responseCode: 451 });
    expect(String((err as Error).message)).toMatch(/4\.3\.0 .*Nothing was accepted/);

    const direct = await sendHttp(op, r.token, { ...message('direct-while-down'), sender: 'direct-app' });
    expect(direct.status).toBe(200);
    await eventually(async () => expect(delivered('direct-while-down')).toHaveLength(1));
    // The surviving replica leads by now (the SIGKILLed one's lease ran out).
    await eventually(
      async () => expect(await getCondition('emailserver', r.ns, 'queued', 'DeliveryReady')).toMatchObject({ status: 'False', reason: 'StoreUnavailable' }),
      45_000,
    );
    // Reported, not gating: the doors answer 503 by their own view of the store; identities stay Ready.
    const readyWhileDown = await getCondition('emailserver', r.ns, 'queued', 'Ready');
    expect(readyWhileDown).toMatchObject({ status: 'True' });
    expect(readyWhileDown?.message).toContain('DeliveryReady is False (StoreUnavailable).');
    expect((await sendHttp(op, r.token, message('store-down-again'))).body.error?.code).toBe('POSTMASTER_QUEUE_UNAVAILABLE');
  } finally {
    await redis.start();
  }
  await eventually(async () => expect(await getCondition('emailserver', r.ns, 'queued', 'DeliveryReady')).toMatchObject({ status: 'True' }), 30_000);
  expect((await sendHttp(op, r.token, message('store-back'))).status).toBe(202);
});
