// Honest outcomes: when the upstream connection dies after the message was sent
// and before the server's reply, the send may have been delivered. The door says
// so with its own code (never "nothing was sent"), never tries a fallback, and a
// retry with the same Idempotency-Key carries the same Message-ID, so receivers
// can deduplicate. Real sockets end to end: the HTTP door, the pipeline, the SMTP
// transport, and an upstream that speaks SMTP by hand so it can hang up on cue.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpDoor, type HttpDoor } from '../../../src/endpoint/http.ts';
import { createPipeline, type DeliveryPipeline } from '../../../src/endpoint/pipeline.ts';
import { SmtpTransport } from '../../../src/providers/smtp/transport.ts';
import { FakeKube, identity, PlainDirectory, server, serviceAccount, silentLog } from '../../support/endpoint-fakes.ts';

/** What the hand-driven upstream does after it has read a whole message. */
type AfterData = 'accept' | 'hang-up';

interface Upstream {
  port: number;
  /** Every message it read to the final dot, accepted or not. */
  received: string[];
  /** What to do with the next messages, in order; then accept. */
  plan: AfterData[];
  /** Where to hang up instead: at RCPT TO, before anything was sent. */
  hangUpAtRcpt: boolean;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const up: Upstream = { port: 0, received: [], plan: [], hangUpAtRcpt: false, close: async () => undefined };
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let inData = false;
    socket.write('220 upstream ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          up.received.push(buffer.slice(0, end));
          buffer = buffer.slice(end + 5);
          inData = false;
          if ((up.plan.shift() ?? 'accept') === 'hang-up') return void socket.destroy();
          socket.write('250 2.0.0 Ok: queued as Q1\r\n');
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.slice(0, eol).toUpperCase();
        buffer = buffer.slice(eol + 2);
        if (line.startsWith('EHLO')) socket.write('250-upstream\r\n250 8BITMIME\r\n');
        else if (line.startsWith('RCPT') && up.hangUpAtRcpt) return void socket.destroy();
        else if (line === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (line === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 Ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  up.port = (srv.address() as net.AddressInfo).port;
  up.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  };
  return up;
}

const APP = serviceAccount('team', 'app');
const TOKEN = 'token-of-app';
let upstream: Upstream;
let pipeline: DeliveryPipeline;
let door: HttpDoor;

beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(async () => {
  await upstream.close();
});

beforeEach(() => {
  upstream.received.length = 0;
  upstream.plan = [];
  upstream.hangUpAtRcpt = false;
  const kube = new FakeKube();
  kube.tokens.set(TOKEN, { username: APP });
  kube.allow(APP, 'team', 'alerts');
  const directory = new PlainDirectory();
  const relay = { provider: 'SMTP' as const, endpoint: { host: '127.0.0.1', port: upstream.port, security: 'None' as const } };
  directory.add({ identity: identity('team', 'alerts'), server: server('team', 'relay'), ready: true, primary: relay });
  // An API primary with an SMTP fallback: an unknown outcome must not be sent again through the fallback.
  directory.add({
    identity: identity('team', 'api'),
    server: server('team', 'sendgrid', { provider: 'SendGrid' }),
    ready: true,
    primary: relay,
    fallback: { provider: 'SMTP', endpoint: { host: '127.0.0.1', port: upstream.port, security: 'None' } },
  });
  kube.allow(APP, 'team', 'api');
  pipeline = createPipeline({ client: kube, directory, log: silentLog, createTransport: (route) => new SmtpTransport((route as typeof relay).endpoint) });
  door = createHttpDoor({ pipeline, log: silentLog });
});
afterEach(async () => {
  await pipeline.close();
});

const post = (body: Record<string, unknown>, key?: string) =>
  door.app.inject({
    method: 'POST',
    url: '/v1/messages',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    payload: JSON.stringify({ sender: 'alerts', to: ['ops@example.org'], subject: 'Disk full', text: 'df says 99%', ...body }),
  });

const messageIdOf = (raw: string) => /^Message-ID: *(.*)$/im.exec(raw)?.[1]?.trim();

describe('the upstream hangs up after the data, before its reply', () => {
  it('answers 502 POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN saying it may have been delivered, with Retry-After', async () => {
    upstream.plan = ['hang-up'];
    const res = await post({}, 'order-1');
    expect(res.statusCode).toBe(502);
    const { error } = res.json() as { error: { code: string; message: string } };
    expect(error.code).toBe('POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN');
    expect(error.message).toContain('may have been delivered');
    expect(error.message).not.toContain('nothing was sent');
    expect(res.headers['retry-after']).toBeDefined();
    // The upstream did read the whole message.
    expect(upstream.received).toHaveLength(1);
  });

  it('a retry with the same Idempotency-Key goes out again under the same Message-ID (at-least-once, deduplicable)', async () => {
    upstream.plan = ['hang-up'];
    expect((await post({}, 'order-2')).statusCode).toBe(502);
    const retry = await post({}, 'order-2');
    expect(retry.statusCode).toBe(200);
    const body = retry.json() as { messageIdHeader: string };
    expect(upstream.received).toHaveLength(2);
    const [first, second] = upstream.received.map(messageIdOf);
    expect(first).toBeDefined();
    expect(second).toBe(first);
    expect(body.messageIdHeader).toBe(first);
    // Another key is another message, with another Message-ID.
    expect((await post({}, 'order-3')).statusCode).toBe(200);
    expect(messageIdOf(upstream.received[2]!)).not.toBe(first);
  });

  it('never sends it again through the fallback', async () => {
    upstream.plan = ['hang-up'];
    const res = await post({ sender: 'api' });
    expect(res.statusCode).toBe(502);
    expect((res.json() as { error: { code: string } }).error.code).toBe('POSTMASTER_UPSTREAM_OUTCOME_UNKNOWN');
    expect(upstream.received).toHaveLength(1);
  });
});

describe('outcomes that are known', () => {
  it('a hang-up before the data is 503 UPSTREAM_UNAVAILABLE: nothing was sent', async () => {
    upstream.hangUpAtRcpt = true;
    const res = await post({}, 'order-4');
    expect(res.statusCode).toBe(503);
    expect((res.json() as { error: { code: string; message: string } }).error).toMatchObject({ code: 'POSTMASTER_UPSTREAM_UNAVAILABLE' });
    expect(upstream.received).toHaveLength(0);
  });

  it('keeps a Message-ID the caller gave, and returns it', async () => {
    const res = await post({ headers: { 'Message-ID': '<ticket-4711@support.example.com>', 'In-Reply-To': '<ticket-4710@support.example.com>' } });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { messageIdHeader: string }).messageIdHeader).toBe('<ticket-4711@support.example.com>');
    expect(messageIdOf(upstream.received[0]!)).toBe('<ticket-4711@support.example.com>');
    expect(upstream.received[0]).toMatch(/^In-Reply-To: <ticket-4710@support\.example\.com>$/m);
  });

  it('refuses a Message-ID that is not one, naming the header', async () => {
    const res = await post({ headers: { 'Message-ID': 'not-an-id' } });
    expect(res.statusCode).toBe(400);
    expect((res.json() as { error: { field: string } }).error.field).toBe('headers.Message-ID');
  });
});
