// The reconcilers as pure-ish functions: objects in, status out.
import { describe, expect, it } from 'vitest';
import type { EmailServer, SenderIdentity, SmtpTarget } from '../../../src/api/index.ts';
import { reconcileEmailServer } from '../../../src/controller/emailserver.ts';
import { reconcileSenderIdentity } from '../../../src/controller/senderidentity.ts';
import { reconcileSmtpTarget, type ReconcileContext } from '../../../src/controller/smtptarget.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import type { World } from '../../../src/routing/world.ts';
import { MemoryWorld } from '../../support/memory-world.ts';

const ctx = (world: World, tester: ConnectionTester = noTester): ReconcileContext => ({
  world,
  tester,
  tests: new TestCache(),
  now: new Date('2026-01-01T00:00:00Z'),
});
const cond = <C extends { type: string }>(conditions: C[] | undefined, type: string): C | undefined => conditions?.find((c) => c.type === type);

const target = (spec: Partial<SmtpTarget['spec']> = {}): SmtpTarget => ({
  apiVersion: 'email.postmaster.dev/v1alpha1',
  kind: 'SmtpTarget',
  metadata: { name: 'relay', namespace: 'mail', generation: 2 },
  spec: { host: 'smtp.example.com', port: 587, security: 'STARTTLS', credentials: { secretRef: { name: 'login' } }, ...spec },
});

describe('SmtpTarget', () => {
  it('names the Secret and key that is missing, never a value', async () => {
    const world = new MemoryWorld();
    world.addSecret('mail', 'login', { username: 'bob', pasword: 'hunter2-secret' });
    const out = await reconcileSmtpTarget(target(), ctx(world));
    const secrets = cond(out.status.conditions, 'SecretsResolved');
    expect(secrets).toMatchObject({ status: 'False', reason: 'SecretKeyNotFound' });
    expect(secrets).toHaveProperty('message', 'Secret "mail/login" has no key "password" (spec.credentials.passwordKey).');
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretKeyNotFound' });
    expect(cond(out.status.conditions, 'Stalled')).toMatchObject({ status: 'True' });
    expect(JSON.stringify(out)).not.toContain('hunter2');
    expect(out.refs).toEqual(['Secret/mail/login']);
  });

  it('tells a missing Secret and an empty value apart', async () => {
    const world = new MemoryWorld();
    let out = await reconcileSmtpTarget(target(), ctx(world));
    expect(cond(out.status.conditions, 'SecretsResolved')).toMatchObject({
      reason: 'SecretNotFound',
      message: 'Secret "mail/login" not found (needed for spec.credentials.usernameKey, spec.credentials.passwordKey).',
    });
    world.addSecret('mail', 'login', { username: 'bob', password: '  ' });
    out = await reconcileSmtpTarget(target(), ctx(world));
    expect(cond(out.status.conditions, 'SecretsResolved')).toMatchObject({ reason: 'SecretValueEmpty' });
  });

  it('is Ready with Connected Unknown when no tester runs, and passes resolved values to the tester', async () => {
    const world = new MemoryWorld();
    world.addSecret('mail', 'login', { username: 'bob', password: 'pw' });
    let out = await reconcileSmtpTarget(target(), ctx(world));
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(out.status.conditions, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun' });
    expect(out.status.observedGeneration).toBe(2);

    const seen: unknown[] = [];
    const tester: ConnectionTester = {
      ...noTester,
      smtp: async (e) => {
        seen.push(e);
        return { ok: false, reason: 'AuthenticationFailed', message: 'the server refused the login', transient: false };
      },
    };
    out = await reconcileSmtpTarget(target(), ctx(world, tester));
    expect(seen).toEqual([
      expect.objectContaining({ host: 'smtp.example.com', port: 587, security: 'STARTTLS', auth: { username: 'bob', password: 'pw' } }),
    ]);
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'AuthenticationFailed' });
    expect(cond(out.status.conditions, 'Stalled')).toMatchObject({ status: 'True' });
    expect(out.retry).toBe(false);
  });
});

const server = (name: string, spec: Partial<EmailServer['spec']>, ns = 'mail'): EmailServer => ({
  apiVersion: 'email.postmaster.dev/v1alpha1',
  kind: 'EmailServer',
  metadata: { name, namespace: ns, generation: 1 },
  spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, ...spec },
});
const readyStatus = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' as const, reason: 'Succeeded', message: 'fine', lastTransitionTime: '2026-01-01T00:00:00Z' }] };

describe('EmailServer', () => {
  it('waits for a missing SmtpTarget without stalling', async () => {
    const out = await reconcileEmailServer(server('relay', {}), ctx(new MemoryWorld()), { apiBaseUrls: {} });
    expect(cond(out.status.conditions, 'ReferencesResolved')).toMatchObject({ status: 'False', reason: 'SmtpTargetNotFound', message: 'SmtpTarget "mail/relay" not found.' });
    expect(cond(out.status.conditions, 'Stalled')).toBeUndefined();
    expect(cond(out.status.conditions, 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForDependency' });
    expect(out.refs).toContain('SmtpTarget/mail/relay');
  });

  it('mirrors its target, and reports a broken fallback without losing Ready', async () => {
    const world = new MemoryWorld();
    world.addSecret('mail', 'sg', { apiKey: 'SG.key' });
    world.targets.set('mail/backup', { ...target(), metadata: { name: 'backup', namespace: 'mail', generation: 1 }, status: {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'False', reason: 'Timeout', message: 'no answer', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    } });
    const out = await reconcileEmailServer(
      server('sg', { provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'sg' } }, fallback: { smtpTargetRef: { name: 'backup' } } }),
      ctx(world),
      { apiBaseUrls: {} },
    );
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(out.status.conditions, 'FallbackConnected')).toMatchObject({ status: 'False', reason: 'SmtpTargetNotReady' });
    expect(cond(out.status.conditions, 'Ready')?.message).toContain('FallbackConnected is False');
  });
});

const identity = (spec: Partial<SenderIdentity['spec']> = {}, ns = 'mail'): SenderIdentity => ({
  apiVersion: 'email.postmaster.dev/v1alpha1',
  kind: 'SenderIdentity',
  metadata: { name: 'alerts', namespace: ns, generation: 1 },
  spec: { email: 'alerts@example.com', ...spec },
});

describe('SenderIdentity', () => {
  it('uses the single default server, and refuses two defaults by name', async () => {
    const world = new MemoryWorld();
    world.servers.set('mail/a', { ...server('a', { default: true }), status: readyStatus });
    let out = await reconcileSenderIdentity(identity(), ctx(world), { apiBaseUrls: {} });
    expect(out.status.server).toEqual({ name: 'a', namespace: 'mail', provider: 'SMTP' });
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({ status: 'True' });
    expect(out.refs).toContain('DefaultServer/mail');

    world.servers.set('mail/b', server('b', { default: true }));
    out = await reconcileSenderIdentity(identity(), ctx(world), { apiBaseUrls: {} });
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'MultipleDefaultServers',
      message: expect.stringContaining('("a", "b")'),
    });
  });

  it('says so when its server is deleted', async () => {
    const out = await reconcileSenderIdentity(identity({ serverRef: { name: 'gone' } }), ctx(new MemoryWorld()), { apiBaseUrls: {} });
    expect(cond(out.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'EmailServerNotFound' });
  });

  it('crosses namespaces only where allowedNamespaces admits', async () => {
    const world = new MemoryWorld();
    world.namespaceMap.set('team', { metadata: { name: 'team', labels: { mail: 'yes' } } });
    world.namespaceMap.set('other', { metadata: { name: 'other' } });
    world.servers.set('platform/shared', {
      ...server('shared', { allowedNamespaces: { from: 'Selector', selector: { matchLabels: { mail: 'yes' } } } }, 'platform'),
      status: readyStatus,
    });
    const ref = { serverRef: { name: 'shared', namespace: 'platform' } };
    const allowed = await reconcileSenderIdentity(identity(ref, 'team'), ctx(world), { apiBaseUrls: {} });
    expect(cond(allowed.status.conditions, 'Ready')).toMatchObject({ status: 'True' });
    const refused = await reconcileSenderIdentity(identity(ref, 'other'), ctx(world), { apiBaseUrls: {} });
    expect(cond(refused.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NamespaceNotAllowed' });
    expect(cond(refused.status.conditions, 'Stalled')).toMatchObject({ status: 'True' });
  });
});

describe('TestCache', () => {
  it('re-tests when inputs change or the interval (less its jitter) has passed, not otherwise', async () => {
    const cache = new TestCache();
    let runs = 0;
    const test = async () => ++runs;
    await cache.run('k', { a: 1 }, 60_000, 0, test);
    await cache.run('k', { a: 1 }, 60_000, 30_000, test);
    expect(runs).toBe(1);
    await cache.run('k', { a: 2 }, 60_000, 31_000, test);
    expect(runs).toBe(2);
    // A requeue jittered to 0.9× the interval still re-tests.
    await cache.run('k', { a: 2 }, 60_000, 31_000 + 54_000, test);
    expect(runs).toBe(3);
  });

  it('objects running the same test share one run (in flight or within half a second); other inputs, kinds or later objects do not', async () => {
    const cache = new TestCache();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const test = async () => {
      runs++;
      await gate;
      return { ok: true, reason: 'Connected', message: 'ok', transient: false };
    };
    const endpoint = { host: 'relay', port: 587, auth: { username: 'u', password: 'p' } };
    const both = Promise.all([
      cache.run('SmtpTarget/a/t1/connect', endpoint, 60_000, 0, test),
      cache.run('SmtpTarget/b/t2/connect', endpoint, 60_000, 0, test),
    ]);
    release();
    const [r1, r2] = await both;
    expect(runs).toBe(1);
    expect(r2.result).toBe(r1.result);
    await cache.run('SmtpTarget/c/t3/connect', endpoint, 60_000, 100, test);
    expect(runs).toBe(1);
    await cache.run('SmtpTarget/c/t4/connect', { ...endpoint, auth: { username: 'u', password: 'other' } }, 60_000, 100, test);
    await cache.run('SenderIdentity/c/i1/verify', endpoint, 60_000, 100, test);
    expect(runs).toBe(3);
    // An object created later is tested afresh, not told what another found earlier.
    await cache.run('SmtpTarget/d/t5/connect', endpoint, 60_000, 5_000, test);
    expect(runs).toBe(4);
  });

  it('a shared transient failure is not reused: the next object tests again', async () => {
    const cache = new TestCache();
    let runs = 0;
    const test = async () => ({ ok: false, reason: 'ConnectionRefused', message: 'down', transient: ++runs < 2 });
    await cache.run('SmtpTarget/a/t1/connect', { h: 1 }, 60_000, 0, test);
    await cache.run('SmtpTarget/a/t2/connect', { h: 1 }, 60_000, 1000, test);
    expect(runs).toBe(2);
  });
});
