// Batched sender verification against a real SMTP server: many addresses over
// one session (MAIL FROM, RSET, MAIL FROM, ...), each with its own exact result.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { limiter } from '../../../src/providers/tester.ts';
import { SmtpReason } from '../../../src/providers/smtp/check.ts';
import { SmtpSenderBatcher } from '../../../src/providers/smtp/verify-batch.ts';
import { verifySmtpSender } from '../../../src/providers/smtp/verify-sender.ts';
import type { SmtpEndpoint } from '../../../src/providers/types.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort, handleCounts, settledResources, trackResources } from '../../support/smtp-sockets.ts';
import type { HandleCounts, ResourceTracker } from '../../support/smtp-sockets.ts';

const pki = testPki();
const login = { username: 'batch-check', password: 'Batch-Secret-Pw-7' };

let baseline: HandleCounts;
let tracker: ResourceTracker;
let sink: SmtpSink;
let endpoint: SmtpEndpoint;

beforeAll(() => {
  baseline = handleCounts();
  tracker = trackResources();
});
afterEach(async () => {
  await sink?.close();
});
afterAll(async () => {
  const left = await settledResources(baseline, tracker);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

async function start(rejectSenders: Record<string, number> = {}, pool = { maxConnections: 1, maxMessagesPerConnection: 100 }) {
  sink = await startSmtpSink({ mode: 'STARTTLS', tls: pki.server, auth: login, rejectSenders });
  endpoint = { host: '127.0.0.1', port: sink.port, security: 'STARTTLS', tls: { ca: pki.ca }, auth: login, pool };
}

const batcher = (lingerMs = 50) => new SmtpSenderBatcher({ stepTimeoutMs: 5000, lingerMs }, limiter(16));
const addresses = (n: number) => Array.from({ length: n }, (_, i) => `sender${i}@example.com`);

describe('SmtpSenderBatcher', () => {
  it('one refused identity in a batch: only it gets the refusal, the others are accepted, over one session', async () => {
    await start({ 'sender3@example.com': 553, 'sender5@example.com': 451 });
    const b = batcher();
    const asked = addresses(8);
    const results = await Promise.all(asked.map((a) => b.verify(endpoint, a)));
    for (const [i, r] of results.entries()) {
      if (i === 3) {
        expect(r).toMatchObject({ ok: false, reason: SmtpReason.SenderRejected, transient: false });
        expect(r.message).toContain('refuses sender3@example.com as sender: "553 Sender <sender3@example.com> refused by test policy"');
      } else if (i === 5) {
        expect(r).toMatchObject({ ok: false, reason: SmtpReason.SenderDeferred, transient: true });
        expect(r.message).toContain('cannot take sender5@example.com as sender right now');
      } else {
        expect(r).toMatchObject({ ok: true, reason: SmtpReason.SenderAccepted });
        expect(r.message).toContain(`accepts sender${i}@example.com as sender`);
      }
    }
    // The same results, one for one, as verifying each address on its own session.
    const single = await verifySmtpSender(endpoint, 'sender3@example.com');
    expect(single).toEqual(results[3]);
    expect(sink.connections).toBe(2);
    expect(b.sessionsOpened).toBe(1);
    expect(sink.senders.slice(0, 8)).toEqual(asked);
    expect(sink.messages).toEqual([]);
  });

  it('keeps within maxMessagesPerConnection: 7 addresses, 3 per session, 3 sessions', async () => {
    await start({}, { maxConnections: 1, maxMessagesPerConnection: 3 });
    const b = batcher();
    const results = await Promise.all(addresses(7).map((a) => b.verify(endpoint, a)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(sink.connections).toBe(3);
  });

  it('addresses asked one after another reuse the lingering session', async () => {
    await start();
    const b = batcher(200);
    for (const a of addresses(4)) expect((await b.verify(endpoint, a)).ok).toBe(true);
    expect(sink.connections).toBe(1);
  });

  it('a session that cannot log in gives every waiting address the same failure, password redacted', async () => {
    await start();
    const b = batcher();
    const wrong = { ...endpoint, auth: { ...login, password: 'Not-The-Right-One-9' } };
    const results = await Promise.all(addresses(3).map((a) => b.verify(wrong, a)));
    for (const r of results) {
      expect(r).toMatchObject({ ok: false, reason: SmtpReason.AuthenticationFailed, transient: false });
      expect(JSON.stringify(r)).not.toContain('Not-The-Right-One-9');
    }
    expect(sink.connections).toBe(1);
    expect(sink.senders).toEqual([]);
  });

  it('an invalid address is refused without a connection; the server down is ConnectionRefused for all', async () => {
    await start();
    const b = batcher();
    expect(await b.verify(endpoint, 'a@example.com>\r\nRCPT TO:<x@example.org')).toMatchObject({ reason: SmtpReason.InvalidAddress });
    expect(sink.connections).toBe(0);
    const down = { ...endpoint, port: await closedPort() };
    const results = await Promise.all(addresses(2).map((a) => b.verify(down, a)));
    for (const r of results) expect(r).toMatchObject({ ok: false, reason: SmtpReason.ConnectionRefused, transient: true });
  });
});
