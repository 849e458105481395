// Details of the SenderIdentity's status a user reads: exactly its conditions, for its
// generation; a server never observed counts as not checked; the sender is verified
// again when its address changes or once a deleted namesake's results are forgotten.
import { describe, expect, it } from 'vitest';
import type { EmailServer, SenderIdentity } from '../../../src/api/index.ts';
import { reconcileSenderIdentity } from '../../../src/controller/senderidentity.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import { emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T00:00:00Z');
const cond = (out: { status: { conditions?: { type: string; message: string }[] } }, type: string) => out.status.conditions?.find((c) => c.type === type);
const ready = { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'ok', lastTransitionTime: 'x' };
const server = (status: Record<string, unknown>): EmailServer => emailServer('mail', 'smtp', {}, { status } as never);
const world = (s: EmailServer) => {
  const w = new MemoryWorld();
  w.add(smtpTarget('mail', 'relay'));
  w.add(s);
  return w;
};
const reconcile = (identity: SenderIdentity, w: MemoryWorld, opts: { tester?: ConnectionTester; tests?: TestCache; at?: Date } = {}) =>
  reconcileSenderIdentity(identity, { world: w, tester: opts.tester ?? noTester, tests: opts.tests ?? new TestCache(), now: opts.at ?? now }, { apiBaseUrls: {} });

describe('SenderIdentity status details', () => {
  it('carries exactly its conditions, for its generation', async () => {
    const identity = senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } });
    identity.metadata.generation = 5;
    const out = await reconcile(identity, world(server({ observedGeneration: 1, conditions: [ready] })));
    expect(out.status.observedGeneration).toBe(5);
    expect(out.status.conditions?.map((c) => c.type)).toEqual(['Ready', 'ReferencesResolved', 'ServerReady', 'Verified']);
    expect(out.status.conditions?.every((c) => c.observedGeneration === 5)).toBe(true);
    delete identity.metadata.generation;
    expect((await reconcile(identity, world(server({ observedGeneration: 1, conditions: [ready] })))).status.observedGeneration).toBe(0);
  });

  it('a server whose status observed no generation has not been checked yet', async () => {
    const out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }), world(server({ conditions: [ready] })));
    expect(cond(out, 'ServerReady')).toMatchObject({ status: 'False', message: 'EmailServer "mail/smtp" is not Ready: it has not been checked yet.' });
  });

  it('verifies the sender again when its address changes, or once a deleted namesake is forgotten', async () => {
    const w = world(server({ observedGeneration: 1, conditions: [ready] }));
    const seen: string[] = [];
    const tester = {
      ...noTester,
      verifySender: async (_route: unknown, address: string) => (seen.push(address), { ok: true, reason: 'SenderAccepted', message: 'ok', transient: false }),
    } as ConnectionTester;
    const tests = new TestCache();
    const at = (min: number) => new Date(now.getTime() + min * 60_000);
    await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, email: 'a@example.com' }), w, { tester, tests, at: at(0) });
    await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, email: 'a@example.com' }), w, { tester, tests, at: at(1) });
    expect(seen).toEqual(['a@example.com']);
    await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, email: 'b@example.com' }), w, { tester, tests, at: at(2) });
    expect(seen).toEqual(['a@example.com', 'b@example.com']);
    tests.forget('SenderIdentity/mail/app/');
    const out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, email: 'b@example.com' }), w, { tester, tests, at: at(3) });
    expect(seen).toEqual(['a@example.com', 'b@example.com', 'b@example.com']);
    expect(cond(out, 'Ready')?.message).toBe('Ready to send as b@example.com through EmailServer "mail/smtp".');
  });
});
