// Details of the EmailServer's status a user reads: the exact set of conditions and
// their generation, which Secrets a change of reconciles it again, the target it
// mirrors (not checked yet, missing), the sentences of untested providers and
// mailboxes, and connection tests run again once a deleted server's results are forgotten.
import { describe, expect, it } from 'vitest';
import type { EmailServer } from '../../../src/api/index.ts';
import { reconcileEmailServer } from '../../../src/controller/emailserver.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import type { StoreStatus } from '../../../src/store/types.ts';
import { emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T00:00:00Z');
const cond = (out: { status: { conditions?: { type: string; message: string }[] } }, type: string) => out.status.conditions?.find((c) => c.type === type);
const readyCondition = { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'Connected.', lastTransitionTime: '2026-01-01T00:00:00Z' };
const target = (name: string, status?: Record<string, unknown>, generation = 1) => {
  const t = smtpTarget('mail', name, {}, status ? ({ status } as never) : {});
  t.metadata.generation = generation;
  return t;
};
const run = (server: EmailServer, w: MemoryWorld, opts: { tester?: ConnectionTester; tests?: TestCache; at?: Date; store?: StoreStatus } = {}) => {
  w.add(server);
  return reconcileEmailServer(
    server,
    { world: w, tester: opts.tester ?? noTester, tests: opts.tests ?? new TestCache(), now: opts.at ?? now },
    { apiBaseUrls: {} },
    opts.store ? { status: () => opts.store! } : undefined,
  );
};
const sg = (extra: Record<string, unknown> = {}) =>
  emailServer('mail', 'sg', { provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'sg' } }, ...extra } as never);

describe('EmailServer status details', () => {
  it('carries exactly its conditions, for its generation', async () => {
    const w = new MemoryWorld();
    w.add(target('relay', { observedGeneration: 1, conditions: [readyCondition] }));
    const server = emailServer('mail', 'smtp');
    server.metadata.generation = 4;
    const out = await run(server, w);
    expect(out.status.observedGeneration).toBe(4);
    expect(out.status.conditions?.map((c) => c.type)).toEqual(['Ready', 'Connected', 'DeliveryReady', 'ReferencesResolved', 'SecretsResolved']);
    expect(out.status.conditions?.every((c) => c.observedGeneration === 4)).toBe(true);
    // No test message asked for: no such field, so an unchanged server writes no status.
    expect(out.status).not.toHaveProperty('testMessage');
    expect(out.status).not.toHaveProperty('incoming');
    const unversioned = emailServer('mail', 'smtp');
    delete unversioned.metadata.generation;
    const first = await run(unversioned, w);
    expect(first.status.observedGeneration).toBe(0);
    expect(first.status.conditions?.[0]?.observedGeneration).toBe(0);
  });

  it('is reconciled again when its API key, login or mailbox CA Secret changes', async () => {
    const w = new MemoryWorld();
    const out = await run(
      sg({ incoming: { protocol: 'IMAP', host: 'imap.example.com', port: 993, credentials: { secretRef: { name: 'box' } }, tls: { caSecretRef: { name: 'box-ca' } } } }),
      w,
    );
    expect(out.refs).toEqual(['Secret/mail/sg', 'Secret/mail/box', 'Secret/mail/box-ca']);
    expect(cond(out, 'SecretsResolved')?.message).toContain('spec.incoming.tls');
  });

  it('an API server does not mirror an SmtpTarget its spec still names', async () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'sg', { apiKey: 'SG.key' });
    const out = await run(sg({ smtp: { targetRef: { name: 'gone' } } }), w);
    expect(out.refs).toEqual(['Secret/mail/sg']);
    expect(cond(out, 'ReferencesResolved')).toMatchObject({ status: 'True' });
    expect(cond(out, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun', message: 'No test of the SendGrid API key has run: connection testing is not enabled.' });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Configuration and Secrets are valid; delivery through the SendGrid API was not tested.' });
  });

  it('mirrors a target with no status, Ready Unknown, or no observed generation as not checked yet; names a missing one', async () => {
    const notChecked = { status: 'Unknown', reason: 'SmtpTargetNotChecked', message: 'SmtpTarget "mail/relay" has not been checked yet.' };
    for (const t of [
      target('relay'),
      target('relay', { observedGeneration: 1, conditions: [{ ...readyCondition, status: 'Unknown' }] }),
      target('relay', { conditions: [readyCondition] }),
    ]) {
      const w = new MemoryWorld();
      w.add(t);
      expect(cond(await run(emailServer('mail', 'smtp'), w), 'Connected')).toMatchObject(notChecked);
    }
    const missing = await run(emailServer('mail', 'smtp'), new MemoryWorld());
    expect(cond(missing, 'Connected')).toMatchObject({ status: 'False', reason: 'SmtpTargetNotFound', message: 'SmtpTarget "mail/relay" not found.' });
    expect(cond(missing, 'ReferencesResolved')).toMatchObject({ status: 'False', message: 'SmtpTarget "mail/relay" not found.' });
  });

  it("reports each problem that does not hold Ready back at the end of Ready's sentence", async () => {
    const w = new MemoryWorld();
    w.add(target('relay', { observedGeneration: 1, conditions: [readyCondition, { ...readyCondition, type: 'Connected' }] }));
    const server = emailServer('mail', 'smtp', { fallback: { smtpTargetRef: { name: 'backup' } }, delivery: { mode: 'Queued' } } as never);
    const store: StoreStatus = { store: 'redis', up: false, description: 'Redis at 10.0.0.5:6379' } as StoreStatus;
    const out = await run(server, w, { store });
    expect(cond(out, 'FallbackConnected')).toMatchObject({ status: 'False', message: 'SmtpTarget "mail/backup" not found.' });
    expect(cond(out, 'Ready')).toMatchObject({
      status: 'True',
      message: 'Delivers through SmtpTarget "relay". FallbackConnected is False (SmtpTargetNotFound). DeliveryReady is False (StoreUnavailable).',
    });
  });

  it('counts the namespaces of its users by their full names', async () => {
    const w = new MemoryWorld();
    w.add(target('relay', { observedGeneration: 1, conditions: [readyCondition] }));
    const server = emailServer('mail', 'smtp', { allowedNamespaces: { from: 'All' } } as never);
    for (const ns of ['apps', 'alpha']) {
      w.addNamespace(ns);
      w.add(senderIdentity(ns, 'app', { serverRef: { name: 'smtp', namespace: 'mail' } }));
    }
    const out = await run(server, w);
    expect(out.status.usage).toMatchObject({ identities: 2, namespaces: 2 });
  });

  it('untested Microsoft Graph and mailbox say what was not tested; without a mailbox login, why', async () => {
    const w = new MemoryWorld();
    w.add(target('relay', { observedGeneration: 1, conditions: [readyCondition] }));
    const graph = (extra: Record<string, unknown> = {}) =>
      emailServer('mail', 'graph', {
        provider: 'MicrosoftGraph',
        smtp: undefined,
        microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'cs' } },
        ...extra,
      } as never);
    let out = await run(graph(), w);
    expect(cond(out, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'SecretsNotResolved', message: 'Not tested until the referenced Secrets resolve.' });
    w.addSecret('mail', 'entra', { cs: 'secret' });
    out = await run(graph(), w);
    expect(cond(out, 'Connected')).toMatchObject({ reason: 'NoTestRun', message: 'No test of the Microsoft Graph app has run: connection testing is not enabled.' });
    w.addSecret('mail', 'box', { username: 'replies', password: 'pw' });
    const incoming = { incoming: { protocol: 'IMAP', host: 'imap.example.com', port: 993, credentials: { secretRef: { name: 'box' } } } };
    out = await run(emailServer('mail', 'smtp', incoming as never), w);
    expect(cond(out, 'IncomingConnected')).toMatchObject({
      status: 'Unknown',
      reason: 'NoTestRun',
      message: 'No test of IMAP imap.example.com:993 has run: connection testing is not enabled.',
    });
    expect(out.status).not.toHaveProperty('incoming');
    const facts = { checkedAt: '2025-12-31T00:00:00Z', latencyMs: 5 };
    out = await run(emailServer('mail', 'smtp', incoming as never, { status: { incoming: facts } as never }), w);
    expect(out.status.incoming).toEqual(facts);
  });

  it("tests a deleted server's namesake afresh once the deleted one's results are forgotten", async () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'sg', { apiKey: 'SG.key' });
    w.addSecret('mail', 'box', { username: 'replies', password: 'pw' });
    w.add(target('relay', { observedGeneration: 1, conditions: [readyCondition] }));
    let provider = 0;
    let mailbox = 0;
    const tester = {
      ...noTester,
      provider: async () => (provider++, { ok: true, reason: 'ApiKeyValid', message: 'ok', transient: false }),
      mailbox: async () => (mailbox++, { ok: true, reason: 'MailboxOpened', message: 'ok', transient: false }),
    } as ConnectionTester;
    const tests = new TestCache();
    const server = sg({ incoming: { protocol: 'IMAP', host: 'imap.example.com', port: 993, credentials: { secretRef: { name: 'box' } } } });
    await run(server, w, { tester, tests });
    await run(server, w, { tester, tests, at: new Date(now.getTime() + 60_000) });
    expect([provider, mailbox]).toEqual([1, 1]);
    tests.forget('EmailServer/mail/sg/');
    await run(server, w, { tester, tests, at: new Date(now.getTime() + 120_000) });
    expect([provider, mailbox]).toEqual([2, 2]);
  });

  it("tests a deleted Microsoft Graph server's namesake afresh once the deleted one's result is forgotten", async () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'entra', { cs: 'secret' });
    let runs = 0;
    const tester = { ...noTester, graph: async () => (runs++, { ok: true, reason: 'AppAuthorized', message: 'ok', transient: false }) } as ConnectionTester;
    const tests = new TestCache();
    const graph = emailServer('mail', 'graph', {
      provider: 'MicrosoftGraph',
      smtp: undefined,
      microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'cs' } },
    } as never);
    await run(graph, w, { tester, tests });
    await run(graph, w, { tester, tests, at: new Date(now.getTime() + 60_000) });
    expect(runs).toBe(1);
    tests.forget('EmailServer/mail/graph/');
    await run(graph, w, { tester, tests, at: new Date(now.getTime() + 120_000) });
    expect(runs).toBe(2);
  });
});
