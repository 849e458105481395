// Which EmailServer an identity's mail goes through, and the sentence its
// ReferencesResolved condition shows when none may be used: the named server,
// the namespace's one default, the one platform default (defaultFor) whose
// selector matches, and only where allowedNamespaces admits the namespace.
import { describe, expect, it } from 'vitest';
import { admits, selectorMatches } from '../../../src/routing/namespaces.ts';
import { identityServer } from '../../../src/routing/server.ts';
import { defaultForCoverage, serverUsers, targetUsers } from '../../../src/routing/usage.ts';
import { goingAway } from '../../../src/routing/world.ts';
import { emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

const serverOf = (w: MemoryWorld, ns: string, name: string) => identityServer(w, w.senderIdentity(ns, name)!);

describe('a named server', () => {
  it('is used when it exists, in the identity namespace unless the reference names another', () => {
    const w = new MemoryWorld();
    w.add(emailServer('team', 'relay'));
    w.add(emailServer('platform', 'relay', { allowedNamespaces: { from: 'All' } }));
    w.add(senderIdentity('team', 'local', { serverRef: { name: 'relay' } }));
    w.add(senderIdentity('team', 'remote', { serverRef: { name: 'relay', namespace: 'platform' } }));
    expect(serverOf(w, 'team', 'local')).toEqual({
      server: w.emailServer('team', 'relay'),
      expected: { namespace: 'team', name: 'relay' },
      reason: 'ServerResolved',
      message: 'Uses EmailServer "team/relay".',
      waiting: false,
    });
    expect(serverOf(w, 'team', 'remote')).toMatchObject({
      server: w.emailServer('platform', 'relay'),
      expected: { namespace: 'platform', name: 'relay' },
      message: 'Uses EmailServer "platform/relay".',
    });
  });

  it('missing: says which, and waits for it to appear', () => {
    const w = new MemoryWorld();
    w.add(senderIdentity('team', 'app', { serverRef: { name: 'gone', namespace: 'platform' } }));
    expect(serverOf(w, 'team', 'app')).toEqual({
      expected: { namespace: 'platform', name: 'gone' },
      reason: 'EmailServerNotFound',
      message: 'EmailServer "platform/gone" not found; it may have been deleted. Create it or point spec.serverRef elsewhere.',
      waiting: true,
    });
  });

  it('in another namespace that does not admit the identity: refused, naming the server and its policy', () => {
    const w = new MemoryWorld();
    w.add(emailServer('platform', 'same'));
    w.add(emailServer('platform', 'picky', { allowedNamespaces: { from: 'Selector', selector: { matchLabels: { mail: 'yes' } } } }));
    w.addNamespace('team', { mail: 'no' });
    w.add(senderIdentity('team', 'a', { serverRef: { name: 'same', namespace: 'platform' } }));
    w.add(senderIdentity('team', 'b', { serverRef: { name: 'picky', namespace: 'platform' } }));
    expect(serverOf(w, 'team', 'a')).toEqual({
      expected: { namespace: 'platform', name: 'same' },
      reason: 'NamespaceNotAllowed',
      message: 'EmailServer "platform/same" does not admit namespace "team" (allowedNamespaces.from is Same); ask its owners to allow it.',
      waiting: false,
    });
    expect(serverOf(w, 'team', 'b')).toMatchObject({
      reason: 'NamespaceNotAllowed',
      message: expect.stringContaining('(allowedNamespaces.from is Selector)'),
    });
    expect(serverOf(w, 'team', 'b').server).toBeUndefined();
    w.addNamespace('team', { mail: 'yes' });
    expect(serverOf(w, 'team', 'b')).toMatchObject({ reason: 'ServerResolved', server: w.emailServer('platform', 'picky') });
  });
});

describe('the namespace default', () => {
  it('is the one server with default: true there', () => {
    const w = new MemoryWorld();
    w.add(emailServer('team', 'plain'));
    w.add(emailServer('team', 'main', { default: true }));
    w.add(emailServer('other', 'theirs', { default: true, allowedNamespaces: { from: 'All' } }));
    w.add(senderIdentity('team', 'app'));
    expect(serverOf(w, 'team', 'app')).toEqual({
      server: w.emailServer('team', 'main'),
      expected: { namespace: 'team', name: 'main' },
      reason: 'ServerResolved',
      message: 'Uses the namespace default EmailServer "team/main".',
      waiting: false,
    });
  });

  it('two defaults: names both, sorted, and waits for a spec change', () => {
    const w = new MemoryWorld();
    w.add(emailServer('team', 'zeta', { default: true }));
    w.add(emailServer('team', 'alpha', { default: true }));
    w.add(senderIdentity('team', 'app'));
    expect(serverOf(w, 'team', 'app')).toEqual({
      reason: 'MultipleDefaultServers',
      message:
        'spec.serverRef is not set and namespace "team" has 2 default EmailServers ("alpha", "zeta"): keep default: true on one, or set spec.serverRef.',
      waiting: false,
    });
  });

  it('none and no platform default: says so, and waits for one', () => {
    const w = new MemoryWorld();
    w.add(emailServer('team', 'plain', { default: false }));
    w.add(senderIdentity('team', 'app'));
    expect(serverOf(w, 'team', 'app')).toEqual({
      reason: 'NoDefaultServer',
      message: 'spec.serverRef is not set, namespace "team" has no EmailServer with default: true, and no EmailServer\'s defaultFor selects it.',
      waiting: true,
    });
  });
});

describe('a platform default (defaultFor)', () => {
  const platform = (name: string, matchLabels: Record<string, string>, from: 'All' | 'Selector' = 'All') =>
    emailServer('platform', name, {
      defaultFor: { namespaceSelector: { matchLabels } },
      allowedNamespaces: from === 'All' ? { from } : { from, selector: { matchLabels: { admitted: 'yes' } } },
    });

  it('serves a namespace it selects and admits, unless the namespace has its own default', () => {
    const w = new MemoryWorld();
    w.add(platform('shared', { tier: 'agency' }));
    w.addNamespace('client', { tier: 'agency' });
    w.addNamespace('own', { tier: 'agency' });
    w.add(emailServer('own', 'mine', { default: true }));
    w.add(senderIdentity('client', 'app'));
    w.add(senderIdentity('own', 'app'));
    expect(serverOf(w, 'client', 'app')).toEqual({
      server: w.emailServer('platform', 'shared'),
      expected: { namespace: 'platform', name: 'shared' },
      reason: 'ServerResolved',
      message: 'Uses EmailServer "platform/shared", the default for namespace "client" (defaultFor).',
      waiting: false,
    });
    expect(serverOf(w, 'own', 'app')).toMatchObject({ server: w.emailServer('own', 'mine') });
  });

  it('selecting a namespace it does not admit is no default there', () => {
    const w = new MemoryWorld();
    w.add(platform('shared', { tier: 'agency' }, 'Selector'));
    w.addNamespace('client', { tier: 'agency' });
    w.add(senderIdentity('client', 'app'));
    expect(serverOf(w, 'client', 'app')).toMatchObject({ reason: 'NoDefaultServer', waiting: true });
    expect(defaultForCoverage(w, w.emailServer('platform', 'shared')!)).toEqual({ admitted: [], refused: ['client'] });
    w.addNamespace('client', { tier: 'agency', admitted: 'yes' });
    expect(serverOf(w, 'client', 'app')).toMatchObject({ reason: 'ServerResolved' });
    w.addNamespace('zeta', { tier: 'agency' });
    w.addNamespace('beta', { tier: 'agency' });
    expect(defaultForCoverage(w, w.emailServer('platform', 'shared')!)).toEqual({ admitted: ['client'], refused: ['beta', 'zeta'] });
    w.namespaceMap.delete('zeta');
    w.namespaceMap.delete('beta');
    expect(defaultForCoverage(w, w.emailServer('platform', 'shared')!)).toEqual({ admitted: ['client'], refused: [] });
  });

  it('two that select a namespace: names both, sorted, and asks to narrow them', () => {
    const w = new MemoryWorld();
    w.add(platform('b', { tier: 'agency' }));
    w.add(emailServer('ops', 'a', { defaultFor: { namespaceSelector: { matchLabels: {} } }, allowedNamespaces: { from: 'All' } }));
    w.addNamespace('client', { tier: 'agency' });
    w.add(senderIdentity('client', 'app'));
    expect(serverOf(w, 'client', 'app')).toEqual({
      reason: 'MultipleDefaultServers',
      message:
        'spec.serverRef is not set and 2 EmailServers are the default for namespace "client" ("ops/a" and "platform/b"): ' +
        'narrow their defaultFor.namespaceSelector, give the namespace its own default, or set spec.serverRef.',
      waiting: false,
    });
  });

  it('reports the namespaces it covers, sorted, and none without defaultFor', () => {
    const w = new MemoryWorld();
    const shared = platform('shared', { tier: 'agency' });
    w.add(shared);
    for (const ns of ['zulu', 'alpha', 'mike']) w.addNamespace(ns, { tier: 'agency' });
    w.addNamespace('unrelated', { tier: 'direct' });
    expect(defaultForCoverage(w, shared)).toEqual({ admitted: ['alpha', 'mike', 'zulu'], refused: [] });
    expect(defaultForCoverage(w, emailServer('platform', 'plain', { allowedNamespaces: { from: 'All' } }))).toEqual({ admitted: [], refused: [] });
  });
});

describe('label selectors', () => {
  const labels = { tier: 'agency', region: 'eu' };
  it('match labels and every expression operator', () => {
    expect(selectorMatches(undefined, labels)).toBe(false);
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { tier: 'agency' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { tier: 'agency', region: 'us' } }, labels)).toBe(false);
    const expr = (operator: string, key: string, values?: string[]) => ({ matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] }) as never;
    expect(selectorMatches(expr('In', 'region', ['eu', 'us']), labels)).toBe(true);
    expect(selectorMatches(expr('In', 'region', ['us']), labels)).toBe(false);
    expect(selectorMatches(expr('In', 'missing', ['eu']), labels)).toBe(false);
    expect(selectorMatches(expr('NotIn', 'region', ['us']), labels)).toBe(true);
    expect(selectorMatches(expr('NotIn', 'region', ['eu']), labels)).toBe(false);
    expect(selectorMatches(expr('NotIn', 'missing', ['eu']), labels)).toBe(true);
    expect(selectorMatches(expr('Exists', 'tier'), labels)).toBe(true);
    expect(selectorMatches(expr('Exists', 'missing'), labels)).toBe(false);
    expect(selectorMatches(expr('DoesNotExist', 'missing'), labels)).toBe(true);
    expect(selectorMatches(expr('DoesNotExist', 'tier'), labels)).toBe(false);
    // Every expression must hold.
    expect(
      selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'Exists' }, { key: 'region', operator: 'In', values: ['us'] }] } as never, labels),
    ).toBe(false);
  });

  it('admits: its own namespace always, All everyone, Same nobody else, Selector by the namespace labels', () => {
    const w = new MemoryWorld();
    w.addNamespace('team', { mail: 'yes' });
    w.addNamespace('other', {});
    const sel = emailServer('platform', 's', { allowedNamespaces: { from: 'Selector', selector: { matchLabels: { mail: 'yes' } } } });
    expect(admits(w, emailServer('platform', 's'), 'platform')).toBe(true);
    expect(admits(w, emailServer('platform', 's'), 'team')).toBe(false);
    expect(admits(w, emailServer('platform', 's', { allowedNamespaces: { from: 'Same' } }), 'team')).toBe(false);
    // Same means same, even with a selector left over from Selector.
    expect(admits(w, emailServer('platform', 's', { allowedNamespaces: { from: 'Same', selector: { matchLabels: { mail: 'yes' } } } }), 'team')).toBe(false);
    expect(admits(w, emailServer('platform', 's', { allowedNamespaces: { from: 'All' } }), 'team')).toBe(true);
    expect(admits(w, sel, 'team')).toBe(true);
    expect(admits(w, sel, 'other')).toBe(false);
    expect(admits(w, sel, 'unknown')).toBe(false);
  });
});

describe('who uses a server or a target (status.usage)', () => {
  it('lists the identities that resolve to the server, sorted, without those going away', () => {
    const w = new MemoryWorld();
    w.add(emailServer('team', 'main', { default: true }));
    w.add(emailServer('team', 'other'));
    w.add(senderIdentity('team', 'zed'));
    w.add(senderIdentity('team', 'abe', { serverRef: { name: 'main' } }));
    w.add(senderIdentity('team', 'elsewhere', { serverRef: { name: 'other' } }));
    w.add(senderIdentity('team', 'leaving', {}, { metadata: { name: 'leaving', namespace: 'team', deletionTimestamp: '2026-01-01T00:00:00Z' } }));
    w.add(emailServer('dying', 'main', { default: true }));
    w.addNamespace('dying', {}, { status: { phase: 'Terminating' } });
    w.add(senderIdentity('dying', 'app'));
    const names = (ns: string, name: string) => serverUsers(w, w.emailServer(ns, name)!).map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
    expect(names('team', 'main')).toEqual(['team/abe', 'team/zed']);
    expect(names('team', 'other')).toEqual(['team/elsewhere']);
    expect(names('dying', 'main')).toEqual([]);
  });

  it('asks the index for candidates when the world has one', () => {
    const w = new MemoryWorld();
    w.add(emailServer('team', 'main', { default: true }));
    w.add(senderIdentity('team', 'a'));
    w.add(senderIdentity('team', 'b'));
    const indexed = Object.assign(Object.create(w) as MemoryWorld, { senderIdentityCandidates: () => [w.senderIdentity('team', 'b')!] });
    expect(serverUsers(indexed, w.emailServer('team', 'main')!).map((i) => i.metadata.name)).toEqual(['b']);
  });

  it('lists the servers that send through a target, as primary or fallback, sorted', () => {
    const w = new MemoryWorld();
    const relay = smtpTarget('team', 'relay');
    w.add(relay);
    w.add(emailServer('team', 'zmtp'));
    w.add(emailServer('team', 'api', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg' } }, fallback: { smtpTargetRef: { name: 'relay' } } } as never));
    w.add(emailServer('team', 'unrelated', { smtp: { targetRef: { name: 'other' } } }));
    w.add(emailServer('team', 'nofallback', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg' } } } as never));
    const held = emailServer('team', 'held', {}, { metadata: { name: 'held', namespace: 'team', deletionTimestamp: 'x', finalizers: ['email.postmaster.dev/in-use-protection'] } });
    const gone = emailServer('team', 'gone', {}, { metadata: { name: 'gone', namespace: 'team', deletionTimestamp: 'x' } });
    w.add(held);
    w.add(gone);
    w.add(emailServer('elsewhere', 'zmtp'));
    expect(targetUsers(w, relay).map((u) => [u.server.metadata.name, u.as])).toEqual([
      ['api', 'fallback'],
      ['held', 'primary'],
      ['zmtp', 'primary'],
    ]);
  });

  it('going away: deleted, or in a namespace being deleted or terminating', () => {
    const w = new MemoryWorld();
    w.addNamespace('live');
    w.addNamespace('deleting', {}, { metadata: { name: 'deleting', deletionTimestamp: 'x' } });
    w.addNamespace('terminating', {}, { status: { phase: 'Terminating' } });
    w.addNamespace('active', {}, { status: { phase: 'Active' } });
    const obj = (namespace: string, deletionTimestamp?: string) => ({ metadata: { namespace, ...(deletionTimestamp ? { deletionTimestamp } : {}) } });
    expect(goingAway(w, obj('live'))).toBe(false);
    expect(goingAway(w, obj('active'))).toBe(false);
    expect(goingAway(w, obj('unknown'))).toBe(false);
    expect(goingAway(w, obj('live', 'x'))).toBe(true);
    expect(goingAway(w, obj('deleting'))).toBe(true);
    expect(goingAway(w, obj('terminating'))).toBe(true);
  });
});
