// The EmailServer's status as `kubectl get emailserver -o yaml` shows it: the
// Ready sentence, DeliveryReady for Direct and Queued, who uses it and what a
// delete waits for, DefaultFor, and the referenced SmtpTarget mirrored.
import { describe, expect, it } from 'vitest';
import type { EmailServer } from '../../../src/api/index.ts';
import { reconcileEmailServer } from '../../../src/controller/emailserver.ts';
import type { ReconcileContext } from '../../../src/controller/smtptarget.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import type { ConnectionTester } from '../../../src/providers/tester.ts';
import type { StoreStatus } from '../../../src/store/types.ts';
import { emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T00:00:00Z');
const ctx = (world: MemoryWorld): ReconcileContext => ({ world, tester: noTester, tests: new TestCache(), now });
const cond = (out: { status: { conditions?: { type: string; message: string }[] } }, type: string) => out.status.conditions?.find((c) => c.type === type);
const readyTarget = (ns: string, name: string, connected = true) =>
  smtpTarget(ns, name, {}, {
    status: {
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'Connected to smtp.example.com:587.', lastTransitionTime: '2026-01-01T00:00:00Z' },
        { type: 'Connected', status: connected ? 'True' : 'Unknown', reason: 'x', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
      connection: { checkedAt: '2026-01-01T00:00:00Z', latencyMs: 12 },
    } as never,
  });
/** Reconciles the server as the cache holds it: its identities resolve to it. */
const reconcile = (server: EmailServer, world: MemoryWorld, store?: StoreStatus) => {
  world.add(server);
  return reconcileEmailServer(server, ctx(world), { apiBaseUrls: {} }, store ? { status: () => store } : undefined);
};
const redis = (over: Partial<StoreStatus> = {}): StoreStatus => ({
  store: 'redis',
  up: true,
  appendonly: 'yes',
  appendfsync: 'always',
  description: 'Redis at 10.0.0.5:6379 (appendonly yes, appendfsync always)',
  ...over,
});

describe('Ready and the SmtpTarget it sends through', () => {
  it('Ready says it delivers through the target, when the target was tested; connection facts are copied', async () => {
    const w = new MemoryWorld();
    w.add(readyTarget('mail', 'relay'));
    const out = await reconcile(emailServer('mail', 'smtp'), w);
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', reason: 'Succeeded', message: 'Delivers through SmtpTarget "relay".' });
    expect(cond(out, 'Connected')).toMatchObject({ status: 'True', reason: 'SmtpTargetReady', message: 'SmtpTarget "mail/relay" is Ready: Connected to smtp.example.com:587.' });
    expect(cond(out, 'ReferencesResolved')).toMatchObject({ status: 'True', reason: 'ReferencesResolved', message: 'Referenced SmtpTargets exist.' });
    expect(out.status.connection).toEqual({ checkedAt: '2026-01-01T00:00:00Z', latencyMs: 12 });
    expect(out.refs).toEqual(['SmtpTarget/mail/relay']);
    expect(out.requeueAfterMs).toBe(600_000);
    expect(out.retry).toBe(false);
  });

  it('an untested target: valid, not tested; a checkInterval of its own', async () => {
    const w = new MemoryWorld();
    w.add(readyTarget('mail', 'relay', false));
    const out = await reconcile(emailServer('mail', 'smtp', { checkInterval: '90s' }), w);
    expect(cond(out, 'Ready')?.message).toBe('Configuration and Secrets are valid; delivery through SmtpTarget "relay" was not tested.');
    expect(out.requeueAfterMs).toBe(90_000);
  });

  it('a missing target: waiting for it (Reconciling, not Stalled), naming it', async () => {
    const out = await reconcile(emailServer('mail', 'smtp'), new MemoryWorld());
    expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'SmtpTargetNotFound', message: 'SmtpTarget "mail/relay" not found.' });
    expect(cond(out, 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForDependency' });
    expect(cond(out, 'Stalled')).toBeUndefined();
  });

  it('a target not checked yet, or checked for an older generation, or not Ready: says which and why', async () => {
    const w = new MemoryWorld();
    w.add(smtpTarget('mail', 'relay'));
    expect(cond(await reconcile(emailServer('mail', 'smtp'), w), 'Connected')).toMatchObject({
      status: 'Unknown',
      reason: 'SmtpTargetNotChecked',
      message: 'SmtpTarget "mail/relay" has not been checked yet.',
    });
    const stale = readyTarget('mail', 'relay');
    stale.metadata.generation = 2;
    w.add(stale);
    expect(cond(await reconcile(emailServer('mail', 'smtp'), w), 'Connected')).toMatchObject({ reason: 'SmtpTargetNotChecked' });
    w.add(
      smtpTarget('mail', 'relay', {}, {
        status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'AuthFailed', message: '535 bad login', lastTransitionTime: 'x' }] } as never,
      }),
    );
    const out = await reconcile(emailServer('mail', 'smtp'), w);
    expect(cond(out, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'SmtpTargetNotReady',
      message: 'SmtpTarget "mail/relay" is not Ready (AuthFailed): 535 bad login',
    });
  });

  it('an API server untested names its provider, and waits for its key', async () => {
    const w = new MemoryWorld();
    const sg = emailServer('mail', 'sg', { provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'sg' } } } as never);
    let out = await reconcile(sg, w);
    expect(cond(out, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'SecretsNotResolved', message: 'Not tested until the referenced Secrets resolve.' });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    w.addSecret('mail', 'sg', { apiKey: 'SG.x' });
    out = await reconcile(sg, w);
    expect(cond(out, 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun', message: 'No test of the SendGrid API key has run: connection testing is not enabled.' });
    expect(cond(out, 'Ready')?.message).toBe('Configuration and Secrets are valid; delivery through the SendGrid API was not tested.');
    const graph = emailServer('mail', 'g', {
      provider: 'MicrosoftGraph',
      smtp: undefined,
      microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'secret' } },
    } as never);
    w.addSecret('mail', 'entra', { secret: 's' });
    expect(cond(await reconcile(graph, w), 'Ready')?.message).toBe('Configuration and Secrets are valid; delivery through the Microsoft Graph API was not tested.');
  });
});

describe('DeliveryReady', () => {
  const queued = () => emailServer('mail', 'smtp', { delivery: { mode: 'Queued' } } as never);
  const world = () => {
    const w = new MemoryWorld();
    w.add(readyTarget('mail', 'relay'));
    return w;
  };

  it('Direct: the endpoint answers once the upstream accepted', async () => {
    expect(cond(await reconcile(emailServer('mail', 'smtp'), world()), 'DeliveryReady')).toMatchObject({
      status: 'True',
      reason: 'Direct',
      message: 'Direct: the send endpoint answers once the upstream accepted each message.',
    });
  });

  it('Queued without a durable store: not Ready, and says how to start one', async () => {
    for (const store of [undefined, { store: 'memory', up: true, appendonly: 'no', description: 'in memory' } as StoreStatus]) {
      const out = await reconcile(queued(), world(), store);
      expect(cond(out, 'DeliveryReady')).toMatchObject({
        status: 'False',
        reason: 'NoDurableStore',
        message: expect.stringContaining('start it with --redis-url (Helm value store.redis.url)'),
      });
      expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'NoDurableStore' });
      expect(cond(out, 'Stalled')).toMatchObject({ status: 'True' });
    }
  });

  it('Queued with the store away: reported, Ready stays True and mentions it', async () => {
    const out = await reconcile(queued(), world(), redis({ up: false, description: 'Redis at 10.0.0.5:6379 (appendonly yes), unreachable now' }));
    expect(cond(out, 'DeliveryReady')).toMatchObject({
      status: 'False',
      reason: 'StoreUnavailable',
      message:
        'The store is unreachable: Redis at 10.0.0.5:6379 (appendonly yes), unreachable now. Queued sends are refused with 503 until it answers; queued messages wait in it.',
    });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Delivers through SmtpTarget "relay". DeliveryReady is False (StoreUnavailable).' });
  });

  it('Queued in a store: says what durability its settings give', async () => {
    const msg = async (store: StoreStatus) => cond(await reconcile(queued(), world(), store), 'DeliveryReady')?.message;
    expect(cond(await reconcile(queued(), world(), redis()), 'DeliveryReady')).toMatchObject({ status: 'True', reason: 'Queued' });
    expect(await msg(redis())).toBe('Queued in Redis at 10.0.0.5:6379 (appendonly yes, appendfsync always).');
    expect(await msg(redis({ appendfsync: 'everysec', description: 'R' }))).toBe('Queued in R. A power loss of its host can lose up to the last second of accepted messages.');
    expect(await msg(redis({ appendonly: 'no', appendfsync: 'everysec', description: 'R' }))).toBe(
      'Queued in R. It keeps no append-only file: a restart of the store loses queued messages.',
    );
    expect(await msg(redis({ appendonly: 'unknown', appendfsync: undefined, description: 'R' }))).toBe('Queued in R.');
  });
});

describe('usage and in-use protection', () => {
  const world = (identities: number) => {
    const w = new MemoryWorld();
    w.add(readyTarget('mail', 'relay'));
    for (let i = 0; i < identities; i++) w.add(senderIdentity(i % 2 ? 'mail' : 'team', `app-${String(i).padStart(2, '0')}`, { serverRef: { name: 'smtp', namespace: 'mail' } }));
    return w;
  };
  const shared = (extra: Partial<EmailServer['metadata']> = {}) =>
    emailServer('mail', 'smtp', { allowedNamespaces: { from: 'All' } }, { metadata: { name: 'smtp', namespace: 'mail', generation: 1, ...extra } });

  it('counts identities and namespaces, names the first ten, and holds the finalizer while used', async () => {
    let out = await reconcile(shared(), world(12));
    expect(out.status.usage).toMatchObject({ identities: 12, namespaces: 2 });
    expect(out.status.usage?.names).toHaveLength(10);
    expect(out.status.usage?.names?.[0]).toBe('mail/app-01');
    expect(out.protect).toBe(true);
    expect(cond(out, 'DeletionAllowed')).toBeUndefined();
    out = await reconcile(shared(), world(0));
    expect(out.status.usage).toEqual({ identities: 0, namespaces: 0, names: [] });
    expect(out.protect).toBe(false);
  });

  it('deleted while used: DeletionAllowed False says who still uses it and how to go on; Ready stays True', async () => {
    const out = await reconcile(shared({ deletionTimestamp: '2026-01-01T00:00:00Z' }), world(12));
    const message =
      'EmailServer "mail/smtp" is being deleted but 12 SenderIdentities still use it (mail/app-01, mail/app-03, mail/app-05, mail/app-07, ' +
      'mail/app-09, mail/app-11, team/app-00, team/app-02, team/app-04, team/app-06 and 2 more); it goes away once they name another server ' +
      'or are deleted, or at once with the annotation email.postmaster.dev/in-use-protection=disabled.';
    expect(cond(out, 'DeletionAllowed')).toMatchObject({ status: 'False', reason: 'InUse', message });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: `${message} Delivers through SmtpTarget "relay".` });
    expect(out.protect).toBe(true);
    const ten = await reconcile(shared({ deletionTimestamp: '2026-01-01T00:00:00Z' }), world(10));
    expect(cond(ten, 'DeletionAllowed')?.message).toContain('team/app-08); it goes away');
    expect(cond(ten, 'DeletionAllowed')?.message).not.toContain('more');
    const one = await reconcile(shared({ deletionTimestamp: '2026-01-01T00:00:00Z' }), world(1));
    expect(cond(one, 'DeletionAllowed')?.message).toMatch(/^EmailServer "mail\/smtp" is being deleted but 1 SenderIdentity still uses it \(team\/app-00\);/);
  });

  it('lets go with the annotation, or when its namespace is being deleted', async () => {
    const annotated = await reconcile(
      shared({ deletionTimestamp: 'x', annotations: { 'email.postmaster.dev/in-use-protection': 'disabled' } }),
      world(3),
    );
    expect(annotated.protect).toBe(false);
    expect(cond(annotated, 'DeletionAllowed')).toBeUndefined();
    const w = world(3);
    w.addNamespace('mail', {}, { status: { phase: 'Terminating' } });
    expect((await reconcile(shared({ deletionTimestamp: 'x' }), w)).protect).toBe(false);
    const w2 = world(3);
    w2.addNamespace('mail', {}, { metadata: { name: 'mail', deletionTimestamp: 'x' } });
    expect((await reconcile(shared(), w2)).protect).toBe(false);
    const w3 = world(3);
    w3.addNamespace('mail', {}, { status: { phase: 'Active' } });
    expect((await reconcile(shared(), w3)).protect).toBe(true);
    const w4 = world(3);
    w4.addNamespace('mail');
    expect((await reconcile(shared({ deletionTimestamp: 'x' }), w4)).protect).toBe(true);
  });
});

describe('DefaultFor', () => {
  const platform = (from: 'All' | 'Selector') =>
    emailServer('platform', 'shared', {
      defaultFor: { namespaceSelector: { matchLabels: { tier: 'agency' } } },
      allowedNamespaces: from === 'All' ? { from } : { from, selector: { matchLabels: { ok: 'yes' } } },
      smtp: { targetRef: { name: 'relay' } },
    });

  it('names the namespaces it is the default for, none yet, or those it does not admit (reported, not gating)', async () => {
    const w = new MemoryWorld();
    w.add(readyTarget('platform', 'relay'));
    expect(cond(await reconcile(platform('All'), w), 'DefaultFor')).toMatchObject({
      status: 'True',
      reason: 'NoNamespaceSelected',
      message: 'defaultFor.namespaceSelector selects no namespace yet.',
    });
    w.addNamespace('b-client', { tier: 'agency', ok: 'yes' });
    w.addNamespace('a-client', { tier: 'agency' });
    expect(cond(await reconcile(platform('All'), w), 'DefaultFor')).toMatchObject({
      status: 'True',
      reason: 'DefaultForNamespaces',
      message: 'The default for 2 namespaces: a-client, b-client.',
    });
    const out = await reconcile(platform('Selector'), w);
    expect(cond(out, 'DefaultFor')).toMatchObject({
      status: 'False',
      reason: 'DefaultForNotAllowed',
      message:
        'defaultFor.namespaceSelector selects namespaces allowedNamespaces does not admit (a-client): they do not get this server as their default; widen allowedNamespaces or narrow the selector.',
    });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Delivers through SmtpTarget "relay". DefaultFor is False (DefaultForNotAllowed).' });
    expect(cond(await reconcile(emailServer('platform', 'plain', { smtp: { targetRef: { name: 'relay' } } }), w), 'DefaultFor')).toBeUndefined();
  });
});

describe('the provider and mailbox tests', () => {
  const providerFacts = { checkedAt: '2026-01-01T00:00:00Z', latencyMs: 80, account: 'acme' } as never;
  const withTester = (tester: Partial<ConnectionTester>) => ({ ...noTester, ...tester }) as ConnectionTester;
  const run = (server: EmailServer, w: MemoryWorld, tester: ConnectionTester) => {
    w.add(server);
    return reconcileEmailServer(server, { world: w, tester, tests: new TestCache(), now }, { apiBaseUrls: {} });
  };
  const sg = (extra: Partial<EmailServer> = {}) =>
    emailServer('mail', 'sg', { provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'sg' } } } as never, extra);
  const graph = (extra: Partial<EmailServer> = {}) =>
    emailServer(
      'mail',
      'graph',
      { provider: 'MicrosoftGraph', smtp: undefined, microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'cs' } } } as never,
      extra,
    );
  const world = () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'sg', { apiKey: 'SG.key' });
    w.addSecret('mail', 'entra', { cs: 'secret' });
    w.addSecret('mail', 'box', { username: 'replies', password: 'pw', 'ca.crt': 'CA' });
    w.add(readyTarget('mail', 'relay'));
    return w;
  };

  it('an API key that works: Connected, the account facts, and Ready says it delivers through the API', async () => {
    const seen: string[] = [];
    const out = await run(sg(), world(), withTester({
      provider: async (provider, account, describe) => {
        seen.push(`${provider} ${account.apiKey} ${describe}`);
        return { ok: true, reason: 'ApiKeyValid', message: 'The key may send mail.', transient: false, facts: providerFacts };
      },
    }));
    expect(seen).toEqual(['SendGrid SG.key Secret "mail/sg" key "apiKey"']);
    expect(cond(out, 'Connected')).toMatchObject({ status: 'True', reason: 'ApiKeyValid' });
    expect(out.status.provider).toEqual(providerFacts);
    expect(cond(out, 'Ready')?.message).toBe('Delivers through the SendGrid API.');
  });

  it('a failing test keeps the last facts; a 5xx is retried, a refused key stalls', async () => {
    const previous = { status: { provider: providerFacts } as never };
    const down = await run(sg(previous), world(), withTester({ provider: async () => ({ ok: false, reason: 'ProviderUnavailable', message: '503', transient: true }) }));
    expect(down.status.provider).toEqual(providerFacts);
    expect(down.retry).toBe(true);
    expect(cond(down, 'Reconciling')).toMatchObject({ reason: 'RetryingAfterFailure' });
    const refused = await run(sg(), world(), withTester({ provider: async () => ({ ok: false, reason: 'ApiKeyInvalid', message: '401', transient: false }) }));
    expect(cond(refused, 'Stalled')).toMatchObject({ status: 'True', reason: 'ApiKeyInvalid' });
    expect(refused.retry).toBe(false);
    expect(refused.status).not.toHaveProperty('provider');
  });

  it('Microsoft Graph: the app is tested, its facts kept, and Ready names Microsoft Graph', async () => {
    const seen: string[] = [];
    const tester = withTester({
      graph: async (account, describe) => {
        seen.push(`${account.app.clientId} ${describe}`);
        return { ok: true, reason: 'AppAuthorized', message: 'Mail.Send granted.', transient: false, facts: providerFacts };
      },
    });
    const out = await run(graph(), world(), tester);
    expect(seen).toEqual(['c Secret "mail/entra"']);
    expect(cond(out, 'Connected')).toMatchObject({ status: 'True', reason: 'AppAuthorized' });
    expect(out.status.provider).toEqual(providerFacts);
    expect(cond(out, 'Ready')?.message).toBe('Delivers through the Microsoft Graph API.');
    const kept = await run(graph({ status: { provider: providerFacts } as never }), world(), withTester({ graph: async () => ({ ok: false, reason: 'Timeout', message: 't', transient: true }) }));
    expect(kept.status.provider).toEqual(providerFacts);
    expect(kept.retry).toBe(true);
    const missing = new MemoryWorld();
    expect(cond(await run(graph(), missing, tester), 'Connected')).toMatchObject({ status: 'Unknown', reason: 'SecretsNotResolved' });
  });

  it('the mailbox: tested with TLS and INBOX unless set, reported without holding Ready back, facts kept', async () => {
    const endpoints: unknown[] = [];
    const mailboxFacts = { checkedAt: '2026-01-01T00:00:00Z', latencyMs: 9 } as never;
    const incoming = (extra: Record<string, unknown> = {}) => ({ incoming: { protocol: 'IMAP', host: 'imap.example.com', port: 993, credentials: { secretRef: { name: 'box' } }, ...extra } });
    const ok = withTester({
      mailbox: async (e) => {
        endpoints.push(e);
        return { ok: true, reason: 'MailboxOpened', message: 'INBOX has 3 messages.', transient: false, facts: mailboxFacts };
      },
    });
    let out = await run(emailServer('mail', 'smtp', incoming() as never), world(), ok);
    expect(endpoints[0]).toEqual({ protocol: 'IMAP', host: 'imap.example.com', port: 993, security: 'TLS', auth: { username: 'replies', password: 'pw' }, mailbox: 'INBOX' });
    expect(cond(out, 'IncomingConnected')).toMatchObject({ status: 'True', reason: 'MailboxOpened' });
    expect(out.status.incoming).toEqual(mailboxFacts);
    await run(emailServer('mail', 'smtp', incoming({ protocol: 'POP3', port: 995, security: 'STARTTLS', mailbox: 'Replies', tls: { caSecretRef: { name: 'box' } } }) as never), world(), ok);
    expect(endpoints[1]).toEqual({
      protocol: 'POP3',
      host: 'imap.example.com',
      port: 995,
      security: 'STARTTLS',
      auth: { username: 'replies', password: 'pw' },
      mailbox: 'Replies',
      tls: { ca: 'CA' },
    });
    const failing = withTester({ mailbox: async () => ({ ok: false, reason: 'AuthenticationFailed', message: 'NO LOGIN', transient: false }) });
    out = await run(emailServer('mail', 'smtp', incoming() as never, { status: { incoming: mailboxFacts } as never }), world(), failing);
    expect(cond(out, 'IncomingConnected')).toMatchObject({ status: 'False', reason: 'AuthenticationFailed' });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Delivers through SmtpTarget "relay". IncomingConnected is False (AuthenticationFailed).' });
    expect(cond(out, 'Stalled')).toBeUndefined();
    expect(out.status.incoming).toEqual(mailboxFacts);
    const noLogin = new MemoryWorld();
    noLogin.add(readyTarget('mail', 'relay'));
    out = await run(emailServer('mail', 'smtp', incoming() as never), noLogin, ok);
    expect(cond(out, 'IncomingConnected')).toMatchObject({ status: 'Unknown', reason: 'SecretsNotResolved', message: 'Not tested until the referenced Secrets resolve.' });
    expect(endpoints).toHaveLength(2);
  });
});
