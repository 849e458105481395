// The test message an annotation asks for: what is sent (and through which
// route), what status.testMessage and the events say, and that one annotation
// value sends once however often the server is reconciled.
import { describe, expect, it } from 'vitest';
import type { EmailServer } from '../../../src/api/index.ts';
import { reconcileEmailServer } from '../../../src/controller/emailserver.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import type { OutboundMessage, SenderRoute } from '../../../src/providers/types.ts';
import { emailServer, MemoryWorld, smtpTarget } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T12:00:00.123Z');
const sent: { route: SenderRoute; message: OutboundMessage }[] = [];
const sending = (ok = true): ConnectionTester => ({
  ...noTester,
  sendTest: async (route, message) => {
    sent.push({ route, message });
    return ok
      ? { ok: true, reason: 'Sent', message: '250 2.0.0 queued as 4711', transient: false, facts: { messageId: '<t1@postmaster>' } }
      : { ok: false, reason: 'RecipientRefused', message: '550 no such user', transient: false };
  },
});
const annotated = (value: string | undefined, spec: Partial<EmailServer['spec']> = {}, previous?: object) =>
  emailServer('mail', 'smtp', { senderEmail: 'noreply@example.com', ...spec }, {
    metadata: { name: 'smtp', namespace: 'mail', generation: 1, ...(value === undefined ? {} : { annotations: { 'email.postmaster.dev/test-to': value } }) },
    ...(previous ? { status: { testMessage: previous } as never } : {}),
  });
const world = () => {
  const w = new MemoryWorld();
  w.add(smtpTarget('mail', 'relay'));
  return w;
};
const reconcile = (server: EmailServer, tester: ConnectionTester, w = world()) => reconcileEmailServer(server, { world: w, tester, tests: new TestCache(), now }, { apiBaseUrls: {} });

describe('the test-to annotation', () => {
  it('sends one message through the server route and records it', async () => {
    sent.length = 0;
    const out = await reconcile(annotated(' ops@example.com #2 '), sending());
    expect(sent).toHaveLength(1);
    expect(sent[0]!.route).toMatchObject({ provider: 'SMTP', endpoint: { host: 'smtp.example.com', port: 587 } });
    expect(sent[0]!.message).toEqual({
      from: { name: 'postmaster', address: 'noreply@example.com' },
      to: ['ops@example.com'],
      subject: 'postmaster test message from EmailServer "mail/smtp"',
      text: 'This message was requested with the email.postmaster.dev/test-to annotation on EmailServer "mail/smtp" and sent through SMTP.\n',
    });
    expect(out.status.testMessage).toEqual({
      annotation: 'ops@example.com #2',
      recipient: 'ops@example.com',
      sentAt: '2026-01-01T12:00:00Z',
      result: 'Sent',
      message: '250 2.0.0 queued as 4711',
      messageId: '<t1@postmaster>',
    });
    expect(out.events).toEqual([{ type: 'Normal', reason: 'TestMessageSent', message: '250 2.0.0 queued as 4711' }]);
  });

  it('the same value again sends nothing and keeps the record; no annotation or no sender keeps it too', async () => {
    sent.length = 0;
    const record = { annotation: 'ops@example.com', recipient: 'ops@example.com', sentAt: 'x', result: 'Sent', message: 'm' };
    let out = await reconcile(annotated('ops@example.com', {}, record), sending());
    expect(sent).toHaveLength(0);
    expect(out.status.testMessage).toEqual(record);
    expect(out.events).toEqual([]);
    out = await reconcile(annotated(undefined, {}, record), sending());
    expect(out.status.testMessage).toEqual(record);
    out = await reconcile(annotated('other@example.com', {}, record), noTester);
    expect(out.status.testMessage).toEqual(record);
    expect(sent).toHaveLength(0);
  });

  it('"true" or "default" sends to spec.testRecipient', async () => {
    sent.length = 0;
    await reconcile(annotated('true', { testRecipient: 'desk@example.com' }), sending());
    await reconcile(annotated('default #3', { testRecipient: 'desk@example.com' }), sending());
    expect(sent.map((s) => s.message.to)).toEqual([['desk@example.com'], ['desk@example.com']]);
  });

  it('refuses what it cannot send, saying why, as a Warning', async () => {
    sent.length = 0;
    const failedWith = async (server: EmailServer, w = world()) => {
      const out = await reconcile(server, sending(), w);
      return { record: out.status.testMessage, events: out.events };
    };
    expect(await failedWith(annotated('true'))).toEqual({
      record: { annotation: 'true', recipient: '', sentAt: '2026-01-01T12:00:00Z', result: 'Failed', message: expect.stringContaining('got "true"') },
      events: [{ type: 'Warning', reason: 'TestMessageInvalid', message: 'Annotation email.postmaster.dev/test-to must be an email address (or "true" with spec.testRecipient set); got "true".' }],
    });
    expect((await failedWith(annotated('not-an-address'))).events?.[0]).toMatchObject({ reason: 'TestMessageInvalid', message: expect.stringContaining('got "not-an-address"') });
    expect((await failedWith(annotated('ops@example.com', { senderEmail: undefined }))).events).toEqual([
      { type: 'Warning', reason: 'TestMessageInvalid', message: 'Set spec.senderEmail: a test message needs a From address.' },
    ]);
    const noRoute = await failedWith(annotated('ops@example.com'), new MemoryWorld());
    expect(noRoute.record).toMatchObject({ result: 'Failed', recipient: 'ops@example.com' });
    expect(noRoute.events).toEqual([
      { type: 'Warning', reason: 'TestMessageNotSent', message: "The server's route could not be resolved (see its conditions); no test message was sent." },
    ]);
    expect(sent).toHaveLength(0);
  });

  it('an upstream refusal is recorded as Failed with its reply', async () => {
    const out = await reconcile(annotated('ops@example.com'), sending(false));
    expect(out.status.testMessage).toEqual({ annotation: 'ops@example.com', recipient: 'ops@example.com', sentAt: '2026-01-01T12:00:00Z', result: 'Failed', message: '550 no such user' });
    expect(out.events).toEqual([{ type: 'Warning', reason: 'RecipientRefused', message: '550 no such user' }]);
  });
});
