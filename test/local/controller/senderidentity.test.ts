// The SenderIdentity's status as users read it: which server (even a missing
// one, for the SERVER column), whether that server is Ready, whether the
// address was verified where mail leaves, the generated SMTP credentials, the
// Ready sentence, and what a change of which object reconciles it again.
import { describe, expect, it } from 'vitest';
import type { EmailServer, SenderIdentity } from '../../../src/api/index.ts';
import { reconcileSenderIdentity } from '../../../src/controller/senderidentity.ts';
import type { ReconcileContext } from '../../../src/controller/smtptarget.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { IdentityExtras } from '../../../src/routing/identity.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import type { CheckResult } from '../../../src/providers/types.ts';
import { emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T00:00:00Z');
const cond = (out: { status: { conditions?: { type: string; message: string }[] } }, type: string) => out.status.conditions?.find((c) => c.type === type);
const readyServer = (name: string, spec: Partial<EmailServer['spec']> = {}, ready: 'True' | 'False' = 'True', observed = 1): EmailServer =>
  emailServer('mail', name, spec, {
    status: {
      observedGeneration: observed,
      conditions: [{ type: 'Ready', status: ready, reason: ready === 'True' ? 'Succeeded' : 'SmtpTargetNotReady', message: 'the relay refuses logins', lastTransitionTime: 'x' }],
    } as never,
  });
const verifying = (result: CheckResult | undefined, seen: string[] = []): ConnectionTester => ({
  ...noTester,
  verifySender: async (route, address) => {
    seen.push(`${route.provider} ${address}`);
    return result;
  },
});
const reconcile = (identity: SenderIdentity, world: MemoryWorld, tester: ConnectionTester = noTester, extras?: IdentityExtras) => {
  const ctx: ReconcileContext = { world, tester, tests: new TestCache(), now };
  return reconcileSenderIdentity(identity, ctx, { apiBaseUrls: {} }, extras);
};
const withRelay = () => {
  const w = new MemoryWorld();
  w.add(smtpTarget('mail', 'relay'));
  return w;
};

describe('the server it sends through', () => {
  it('Ready server: ServerReady, the SERVER column with provider, and the refs that reconcile it again', async () => {
    const w = withRelay();
    w.add(readyServer('smtp', { checkInterval: '2m' }));
    const out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }), w);
    expect(out.status.server).toEqual({ name: 'smtp', namespace: 'mail', provider: 'SMTP' });
    expect(cond(out, 'ServerReady')).toMatchObject({ status: 'True', reason: 'EmailServerReady', message: 'EmailServer "mail/smtp" is Ready.' });
    expect(cond(out, 'ReferencesResolved')).toMatchObject({ status: 'True', reason: 'ServerResolved', message: 'Uses EmailServer "mail/smtp".' });
    expect(out.requeueAfterMs).toBe(120_000);
    expect(out.refs).toEqual(['Namespace/mail', 'EmailServer/mail/smtp', 'EmailServer/mail/smtp', 'SendingDomains/mail']);
  });

  it('a default server: depends on every server of the namespace and on the platform defaults', async () => {
    const w = withRelay();
    w.add(readyServer('smtp', { default: true }));
    const out = await reconcile(senderIdentity('mail', 'app'), w);
    expect(out.refs.slice(0, 3)).toEqual(['Namespace/mail', 'DefaultServer/mail', 'PlatformDefaults']);
    expect(out.refs).toContain('EmailServer/mail/smtp');
    expect(out.refs).toContain('SendingDomains/mail');
    expect(out.requeueAfterMs).toBe(600_000);
  });

  it('a missing server: still shown in the SERVER column, Verified waits for it', async () => {
    const out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'gone', namespace: 'platform' } }), new MemoryWorld());
    expect(out.status.server).toEqual({ name: 'gone', namespace: 'platform' });
    expect(out.refs).toEqual(['Namespace/mail', 'EmailServer/platform/gone']);
    // No hot loop while the server is missing: looked at again after the default interval.
    expect(out.requeueAfterMs).toBe(600_000);
    expect(cond(out, 'Verified')).toMatchObject({ status: 'Unknown', reason: 'ServerNotResolved', message: 'Not verified until the EmailServer resolves.' });
    expect(cond(out, 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForDependency' });
    expect(cond(out, 'ServerReady')).toBeUndefined();
  });

  it('a server not Ready, or not checked at its generation: ServerReady False says which, and the identity waits', async () => {
    const w = withRelay();
    w.add(readyServer('smtp', {}, 'False'));
    let out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }), w);
    expect(cond(out, 'ServerReady')).toMatchObject({
      status: 'False',
      reason: 'EmailServerNotReady',
      message: 'EmailServer "mail/smtp" is not Ready (SmtpTargetNotReady): the relay refuses logins',
    });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'EmailServerNotReady' });
    expect(cond(out, 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForDependency' });
    const stale = readyServer('smtp', {}, 'True', 0);
    w.add(stale);
    out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }), w);
    expect(cond(out, 'ServerReady')).toMatchObject({ status: 'False', message: 'EmailServer "mail/smtp" is not Ready: it has not been checked yet.' });
    w.add(emailServer('mail', 'smtp'));
    out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }), w);
    expect(cond(out, 'ServerReady')).toMatchObject({ status: 'False', message: 'EmailServer "mail/smtp" is not Ready: it has not been checked yet.' });
  });
});

describe('Verified and the Ready sentence', () => {
  it('verified where mail leaves: Ready names the address and the server', async () => {
    const w = withRelay();
    w.add(readyServer('smtp'));
    const seen: string[] = [];
    const out = await reconcile(
      senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, email: 'app@example.com' }),
      w,
      verifying({ ok: true, reason: 'SenderAccepted', message: 'MAIL FROM:<app@example.com> accepted.', transient: false }, seen),
    );
    expect(seen).toEqual(['SMTP app@example.com']);
    expect(cond(out, 'Verified')).toMatchObject({ status: 'True', reason: 'SenderAccepted' });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Ready to send as app@example.com through EmailServer "mail/smtp".' });
    expect(out.retry).toBe(false);
  });

  it('not verified: Ready says so; a refusal is terminal, a timeout retried', async () => {
    const w = withRelay();
    w.add(readyServer('smtp'));
    const identity = senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, email: 'app@example.com' });
    let out = await reconcile(identity, w);
    expect(cond(out, 'Verified')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun', message: 'No test of sender app@example.com has run: connection testing is not enabled.' });
    expect(cond(out, 'Ready')?.message).toBe('Ready to send as app@example.com through EmailServer "mail/smtp"; the sender address was not verified.');
    out = await reconcile(identity, w, verifying({ ok: false, reason: 'SenderRefused', message: '553 not yours', transient: false }));
    expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'SenderRefused', message: '553 not yours' });
    expect(cond(out, 'Stalled')).toMatchObject({ status: 'True' });
    expect(out.retry).toBe(false);
    out = await reconcile(identity, w, verifying({ ok: false, reason: 'Timeout', message: 'no answer', transient: true }));
    expect(cond(out, 'Reconciling')).toMatchObject({ status: 'True', reason: 'RetryingAfterFailure' });
    expect(out.retry).toBe(true);
  });

  it('a server whose Secrets do not resolve: not verified until they do, naming the server', async () => {
    const w = new MemoryWorld();
    w.add(readyServer('sg', { provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'sg' } } } as never));
    const out = await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'sg' } }), w);
    expect(cond(out, 'Verified')).toMatchObject({ status: 'Unknown', reason: 'ServerNotResolved', message: 'Not verified until EmailServer "mail/sg" resolves its Secrets.' });
    expect(out.refs).toContain('Secret/mail/sg');
    expect(out.status.server).toEqual({ name: 'sg', namespace: 'mail', provider: 'SendGrid' });
  });
});

describe('generated SMTP credentials (CredentialsReady)', () => {
  const identity = senderIdentity('mail', 'app', { serverRef: { name: 'smtp' }, smtpCredentials: { secretName: 'app-smtp' } } as never);
  const world = () => {
    const w = withRelay();
    w.add(readyServer('smtp'));
    return w;
  };

  it('written: names the Secret and shows it in status; not enabled: says so; a conflict: not Ready', async () => {
    let out = await reconcile(identity, world(), noTester, { smtpCredentialsSecret: 'app-smtp', endpoint: { host: 'postmaster.mail.svc', httpPort: 8080, smtpPort: 2525 } as never });
    expect(cond(out, 'CredentialsReady')).toMatchObject({ status: 'True', reason: 'CredentialsWritten', message: 'SMTP credentials are in Secret "mail/app-smtp".' });
    expect(out.status.smtpCredentialsSecret).toBe('app-smtp');
    expect(out.status.endpoint).toEqual({ host: 'postmaster.mail.svc', httpPort: 8080, smtpPort: 2525 });
    expect(out.refs).toContain('Secret/mail/app-smtp');
    out = await reconcile(identity, world());
    expect(cond(out, 'CredentialsReady')).toMatchObject({ status: 'Unknown', reason: 'EndpointNotEnabled', message: 'The send endpoint is not enabled; no credentials were written.' });
    expect(out.status).not.toHaveProperty('smtpCredentialsSecret');
    expect(out.status).not.toHaveProperty('endpoint');
    out = await reconcile(identity, world(), noTester, { credentialsProblem: 'Secret "mail/app-smtp" exists and is not ours.' });
    expect(cond(out, 'CredentialsReady')).toMatchObject({ status: 'False', reason: 'CredentialsSecretConflict', message: 'Secret "mail/app-smtp" exists and is not ours.' });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'CredentialsSecretConflict' });
    expect(cond(await reconcile(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }), world()), 'CredentialsReady')).toBeUndefined();
  });
});
