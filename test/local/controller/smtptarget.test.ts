// The SmtpTarget's status as users read it: the Ready sentence after a
// connection test (and its warnings), the facts of the test, which servers use
// it, and what a delete waits for.
import { describe, expect, it } from 'vitest';
import type { SmtpTarget } from '../../../src/api/index.ts';
import { reconcileSmtpTarget } from '../../../src/controller/smtptarget.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import type { CheckResult, SmtpFacts } from '../../../src/providers/types.ts';
import { emailServer, MemoryWorld, smtpTarget } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T00:00:00Z');
const cond = (out: { status: { conditions?: { type: string; message: string }[] } }, type: string) => out.status.conditions?.find((c) => c.type === type);
const facts: SmtpFacts = { checkedAt: '2026-01-01T00:00:00Z', latencyMs: 40, greeting: '220 relay ESMTP', tlsVersion: 'TLSv1.3' };
const connecting = (result: CheckResult<SmtpFacts> | undefined): ConnectionTester => ({ ...noTester, smtp: async () => result });
const passed: CheckResult<SmtpFacts> = { ok: true, reason: 'Connected', message: 'EHLO accepted.', transient: false, facts };
const reconcile = (t: SmtpTarget, w = new MemoryWorld(), tester: ConnectionTester = noTester) => reconcileSmtpTarget(t, { world: w, tester, tests: new TestCache(), now });

describe('the connection test in Ready', () => {
  it('passed: names host, port and security, keeps the facts, requeues after checkInterval', async () => {
    const out = await reconcile(smtpTarget('mail', 'relay', { security: 'TLS', port: 465, checkInterval: '5m' }), undefined, connecting(passed));
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'SMTP server smtp.example.com:465 (TLS) accepted the connection test.' });
    expect(cond(out, 'Connected')).toMatchObject({ status: 'True', reason: 'Connected', message: 'EHLO accepted.' });
    expect(out.status.connection).toEqual(facts);
    expect(out.requeueAfterMs).toBe(300_000);
    expect(out.retry).toBe(false);
    expect(out.status.usage).toEqual({ servers: 0, names: [] });
    expect(out.protect).toBe(false);
  });

  it('STARTTLS when unset; the last facts stay when a test fails; a timeout is retried, a refused login stalls', async () => {
    const previous = smtpTarget('mail', 'relay', { security: undefined } as never, { status: { connection: facts } as never });
    const timeout = await reconcile(previous, undefined, connecting({ ok: false, reason: 'Timeout', message: 'no greeting in 10 s', transient: true }));
    expect(cond(timeout, 'Ready')).toMatchObject({ status: 'False', reason: 'Timeout', message: 'no greeting in 10 s' });
    expect(timeout.status.connection).toEqual(facts);
    expect(timeout.retry).toBe(true);
    const refused = await reconcile(previous, undefined, connecting({ ok: false, reason: 'AuthenticationFailed', message: '535', transient: false }));
    expect(cond(refused, 'Stalled')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed' });
    expect(refused.retry).toBe(false);
    const ok = await reconcile(smtpTarget('mail', 'relay', { security: undefined } as never), undefined, connecting({ ...passed, facts: undefined }));
    expect(cond(ok, 'Ready')?.message).toBe('SMTP server smtp.example.com:587 (STARTTLS) accepted the connection test.');
    expect(ok.status).not.toHaveProperty('connection');
  });

  it('not tested: says so, with Connected Unknown; without resolved Secrets, not tested until they resolve', async () => {
    const out = await reconcile(smtpTarget('mail', 'relay'));
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Configuration and Secrets are valid; the connection was not tested.' });
    expect(cond(out, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun', message: 'No test of smtp.example.com:587 has run: connection testing is not enabled.' });
    const missing = await reconcile(smtpTarget('mail', 'relay', { credentials: { secretRef: { name: 'login' } } } as never));
    expect(cond(missing, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'SecretsNotResolved', message: 'Not tested until the referenced Secrets resolve.' });
  });

  it('warns about skipped certificate checks and about credentials in plain text', async () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'login', { username: 'u', password: 'p' });
    const skip = await reconcile(smtpTarget('mail', 'relay', { tls: { insecureSkipVerify: true } } as never), w, connecting(passed));
    expect(cond(skip, 'Ready')?.message).toBe(
      'SMTP server smtp.example.com:587 (STARTTLS) accepted the connection test. WARNING: tls.insecureSkipVerify is set; the certificate is not verified.',
    );
    const plain = await reconcile(smtpTarget('mail', 'relay', { security: 'None', port: 25, credentials: { secretRef: { name: 'login' } } } as never), w);
    expect(cond(plain, 'Ready')?.message).toBe(
      'Configuration and Secrets are valid; the connection was not tested. WARNING: security is None, so the password crosses the network in plain text.',
    );
    w.addSecret('mail', 'rt', { 'client-secret': 'c', 'refresh-token': 'r' });
    const token = await reconcile(
      smtpTarget('mail', 'relay', {
        security: 'None',
        credentials: { type: 'OAuth2', oauth2: { user: 'u@example.com', refreshToken: { tokenUrl: 'https://t', clientId: 'c', secretRef: { name: 'rt' } } } },
      } as never),
      w,
    );
    expect(cond(token, 'Ready')?.message).toContain('WARNING: security is None, so the access token crosses the network in plain text.');
    const upgraded = await reconcile(smtpTarget('mail', 'relay', { credentials: { secretRef: { name: 'login' } } } as never), w);
    expect(cond(upgraded, 'Ready')?.message).not.toContain('WARNING');
    const open = await reconcile(smtpTarget('mail', 'relay', { security: 'None', port: 25 }), w);
    expect(cond(open, 'Ready')?.message).not.toContain('WARNING');
  });
});

describe('usage and in-use protection', () => {
  it('lists the servers that use it and how; a delete waits for them and says so', async () => {
    const w = new MemoryWorld();
    w.add(emailServer('mail', 'smtp'));
    w.add(emailServer('mail', 'api', { provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'k' } }, fallback: { smtpTargetRef: { name: 'relay' } } } as never));
    const target = smtpTarget('mail', 'relay');
    const out = await reconcile(target, w);
    expect(out.status.usage).toEqual({ servers: 2, names: ['api (fallback)', 'smtp (primary)'] });
    expect(out.protect).toBe(true);
    expect(cond(out, 'DeletionAllowed')).toBeUndefined();
    const deleting = await reconcile(smtpTarget('mail', 'relay', {}, { metadata: { name: 'relay', namespace: 'mail', generation: 1, deletionTimestamp: 'x' } }), w);
    const message =
      'SmtpTarget "mail/relay" is being deleted but 2 EmailServers still use it (api (fallback), smtp (primary)); it goes away once they use another target ' +
      'or are deleted, or at once with the annotation email.postmaster.dev/in-use-protection=disabled.';
    expect(cond(deleting, 'DeletionAllowed')).toMatchObject({ status: 'False', reason: 'InUse', message });
    expect(cond(deleting, 'Ready')).toMatchObject({ status: 'True', message: `${message} Configuration and Secrets are valid; the connection was not tested.` });
    w.servers.delete('mail/api');
    const one = await reconcile(smtpTarget('mail', 'relay', {}, { metadata: { name: 'relay', namespace: 'mail', generation: 1, deletionTimestamp: 'x' } }), w);
    expect(cond(one, 'DeletionAllowed')?.message).toMatch(/but 1 EmailServer still uses it \(smtp \(primary\)\)/);
  });
});

describe('status details', () => {
  it('its conditions carry its generation', async () => {
    const t = smtpTarget('mail', 'relay');
    t.metadata.generation = 7;
    const out = await reconcile(t);
    expect(out.status.observedGeneration).toBe(7);
    expect(out.status.conditions?.every((c) => c.observedGeneration === 7)).toBe(true);
  });

  it('lists at most ten of the servers using it, and counts them all', async () => {
    const w = new MemoryWorld();
    for (let i = 0; i < 12; i++) w.add(emailServer('mail', `s${String(i).padStart(2, '0')}`));
    const out = await reconcile(smtpTarget('mail', 'relay'), w);
    expect(out.status.usage?.servers).toBe(12);
    expect(out.status.usage?.names).toHaveLength(10);
  });

  it("tests a deleted target's namesake afresh once the deleted one's result is forgotten", async () => {
    let runs = 0;
    const tester = { ...noTester, smtp: async () => (runs++, passed) } as ConnectionTester;
    const tests = new TestCache();
    const at = (min: number) => new Date(now.getTime() + min * 60_000);
    const run = (min: number) => reconcileSmtpTarget(smtpTarget('mail', 'relay'), { world: new MemoryWorld(), tester, tests, now: at(min) });
    await run(0);
    await run(1);
    expect(runs).toBe(1);
    tests.forget('SmtpTarget/mail/relay/');
    await run(2);
    expect(runs).toBe(2);
  });
});
