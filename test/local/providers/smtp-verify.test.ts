// verifySmtpSender against a real SMTP server: MAIL FROM answers, and nothing is ever sent.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmtpReason } from '../../../src/providers/smtp/check.ts';
import { verifySmtpSender } from '../../../src/providers/smtp/verify-sender.ts';
import type { SmtpEndpoint } from '../../../src/providers/types.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort, handleCounts, settledResources, trackResources } from '../../support/smtp-sockets.ts';
import type { HandleCounts, ResourceTracker } from '../../support/smtp-sockets.ts';

const pki = testPki();
const login = { username: 'sender-check', password: 'An0ther-Secret-Pw' };

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

async function start(rejectSenders: Record<string, number> = {}) {
  sink = await startSmtpSink({ mode: 'STARTTLS', tls: pki.server, auth: login, rejectSenders });
  endpoint = { host: '127.0.0.1', port: sink.port, security: 'STARTTLS', tls: { ca: pki.ca }, auth: login };
}

describe('verifySmtpSender', () => {
  it('accepted address: SenderAccepted, and the server received no message', async () => {
    await start();
    const r = await verifySmtpSender(endpoint, 'noreply@example.com');
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.SenderAccepted, transient: false });
    expect(r.message).toMatch(/^127\.0\.0\.1:\d+ accepts noreply@example\.com as sender \("250 .*"\)\.$/);
    expect(sink.senders).toEqual(['noreply@example.com']);
    expect(sink.messages).toEqual([]);
  });

  it('refused address (5xx): SenderRejected, not transient, quoting the server', async () => {
    await start({ 'ceo@example.com': 553 });
    const r = await verifySmtpSender(endpoint, 'ceo@example.com');
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.SenderRejected, transient: false });
    expect(r.message).toContain('refuses ceo@example.com as sender: "553 Sender <ceo@example.com> refused by test policy"');
    expect(sink.messages).toEqual([]);
  });

  it('temporarily refused address (4xx): SenderDeferred, transient', async () => {
    await start({ 'busy@example.com': 451 });
    const r = await verifySmtpSender(endpoint, 'busy@example.com');
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.SenderDeferred, transient: true });
    expect(r.message).toContain('"451 Sender <busy@example.com> refused by test policy"');
    expect(sink.messages).toEqual([]);
  });

  it('the session stays usable after a refusal: RSET, then a second verification on a new connection works', async () => {
    await start({ 'bad@example.com': 550 });
    expect((await verifySmtpSender(endpoint, 'bad@example.com')).ok).toBe(false);
    expect((await verifySmtpSender(endpoint, 'good@example.com')).ok).toBe(true);
    expect(sink.senders).toEqual(['bad@example.com', 'good@example.com']);
    expect(sink.messages).toEqual([]);
  });

  it('wrong password: AuthenticationFailed before MAIL FROM, password nowhere in the result', async () => {
    await start();
    const wrong = { ...login, password: 'Not-The-Right-One-9' };
    const r = await verifySmtpSender({ ...endpoint, auth: wrong }, 'noreply@example.com');
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.AuthenticationFailed, transient: false });
    expect(JSON.stringify(r)).not.toContain(wrong.password);
    expect(sink.senders).toEqual([]);
  });

  it('an address that could inject SMTP commands: InvalidAddress, no connection made', async () => {
    await start();
    const r = await verifySmtpSender(endpoint, 'a@example.com>\r\nRCPT TO:<victim@example.org');
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.InvalidAddress, transient: false });
    expect(sink.connections).toBe(0);
  });

  it('server down: ConnectionRefused, transient', async () => {
    await start();
    const port = await closedPort();
    const r = await verifySmtpSender({ ...endpoint, port }, 'noreply@example.com');
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.ConnectionRefused, transient: true });
  });
});
