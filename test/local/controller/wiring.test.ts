// What the controller reconciles when something changes, and in which order; which
// events a status change posts; what the work queue does after a reconcile. The
// decisions of src/controller/manager.ts, through src/controller/wiring.ts, with the
// real Dependencies index and WorkQueue. The I/O around them (status patch, finalizer,
// Event objects) is covered against the API server by test/cluster/controller/.
import { describe, expect, it } from 'vitest';
import type { Condition, SendingDomain } from '../../../src/api/index.ts';
import { Dependencies } from '../../../src/controller/dependencies.ts';
import { WorkQueue } from '../../../src/controller/queue.ts';
import {
  changeKeys,
  KINDS,
  laneOf,
  namespaceChangeKeys,
  queuedServerKeys,
  queueKey,
  queueResult,
  secretChangeKeys,
  specOrMetaChanged,
  specRefs,
  transitionEvents,
  USAGE_LANE,
  usedServers,
  usedTargets,
  type Ours,
} from '../../../src/controller/wiring.ts';
import type { KubeObject } from '../../../src/kube/informer.ts';
import type { Namespace, Secret } from '../../../src/routing/world.ts';
import { emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

type Obj = Ours & KubeObject;
const sendingDomain = (ns: string, name: string, dkim: Record<string, unknown>): SendingDomain =>
  ({
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'SendingDomain',
    metadata: { name, namespace: ns, generation: 1 },
    spec: { domain: 'example.com', dkim: { selector: 's1', ...dkim } },
  }) as SendingDomain;

/** A Dependencies index as the controller fills it: each object's spec refs. */
function indexOf(...objs: Ours[]): Dependencies {
  const deps = new Dependencies();
  for (const o of objs) deps.set(queueKey(o.kind, o), specRefs(o.kind, o));
  return deps;
}
const of = (deps: Dependencies) => (ref: string) => deps.dependents(ref);
/** The same object as the informer hands it on our own status write: only status differs. */
const statusWritten = <T extends Ours>(o: T, status: Record<string, unknown>): T => ({ ...o, status }) as T;

describe('queue keys and lanes', () => {
  it('keys objects by kind, namespace and name', () => {
    expect(queueKey('SmtpTarget', { metadata: { namespace: 'mail', name: 'relay' } })).toBe('SmtpTarget/mail/relay');
    expect(queueKey('EmailServer', { metadata: { name: 'cluster-wide' } })).toBe('EmailServer//cluster-wide');
    expect(KINDS).toEqual(['SmtpTarget', 'EmailServer', 'SenderIdentity', 'SendingDomain']);
  });

  it('reconciles targets, then servers and sending domains, then identities, then usage counts', async () => {
    expect(['SmtpTarget/a/b', 'EmailServer/a/b', 'SendingDomain/a/b', 'SenderIdentity/a/b'].map(laneOf)).toEqual([0, 1, 1, 2]);
    const queue = new WorkQueue({ workers: 1, baseRetryMs: 10, maxRetryMs: 10, lane: laneOf });
    const order: string[] = [];
    // Queued while the worker is busy with the first key, newest kinds first.
    let release!: () => void;
    const busy = new Promise<void>((r) => (release = r));
    queue.start(
      async (key) => {
        order.push(key);
        if (key === 'SenderIdentity/mail/first') await busy;
        return {};
      },
      () => {},
    );
    queue.add('SenderIdentity/mail/first');
    await new Promise((r) => setTimeout(r, 5));
    queue.add('EmailServer/mail/counted', USAGE_LANE);
    queue.add('SenderIdentity/mail/app');
    queue.add('SendingDomain/mail/example');
    queue.add('EmailServer/mail/ses');
    queue.add('SmtpTarget/mail/relay');
    release();
    await new Promise((r) => setTimeout(r, 20));
    await queue.shutdown();
    expect(order).toEqual([
      'SenderIdentity/mail/first',
      'SmtpTarget/mail/relay',
      'SendingDomain/mail/example',
      'EmailServer/mail/ses',
      'SenderIdentity/mail/app',
      'EmailServer/mail/counted',
    ]);
  });

  it('retries a failed reconcile with backoff and re-checks a good one after its interval', () => {
    expect(queueResult({ retry: true, requeueAfterMs: 600_000 })).toEqual({ retry: true });
    expect(queueResult({ retry: false, requeueAfterMs: 600_000 })).toEqual({ requeueAfterMs: 600_000 });
  });
});

describe('what an object references', () => {
  it('a target: its credentials and CA Secrets and its namespace', () => {
    const t = smtpTarget('mail', 'relay', { credentials: { secretRef: { name: 'login' } }, tls: { caSecretRef: { name: 'ca' } } } as never);
    expect(specRefs('SmtpTarget', t)).toEqual(['Secret/mail/login', 'Secret/mail/ca', 'Namespace/mail']);
    expect(specRefs('SmtpTarget', smtpTarget('mail', 'relay'))).toEqual(['Namespace/mail']);
    expect(specRefs('SmtpTarget', smtpTarget('mail', 'relay', { credentials: {}, tls: { insecureSkipVerify: true } } as never))).toEqual(['Namespace/mail']);
  });

  it('a server: every Secret, its targets, its namespace, and all namespaces when it is a platform default', () => {
    const s = emailServer('mail', 'ses', {
      sendgrid: { apiKeySecretRef: { name: 'sg' } },
      sparkpost: { apiKeySecretRef: { name: 'sp' } },
      incoming: { credentials: { secretRef: { name: 'in' } }, tls: { caSecretRef: { name: 'in-ca' } } },
      fallback: { smtpTargetRef: { name: 'backup' } },
      defaultFor: { namespaceSelector: {} },
    } as never);
    expect(specRefs('EmailServer', s)).toEqual([
      'Secret/mail/sg',
      'Secret/mail/sp',
      'Secret/mail/in',
      'Secret/mail/in-ca',
      'SmtpTarget/mail/relay',
      'SmtpTarget/mail/backup',
      'Namespace/mail',
      'Namespaces',
    ]);
    const bare = emailServer('mail', 'api', { provider: 'SendGrid', smtp: undefined, incoming: { credentials: { secretRef: { name: 'in' } } } } as never);
    expect(specRefs('EmailServer', bare)).toEqual(['Secret/mail/in', 'Namespace/mail']);
    const noCa = emailServer('mail', 'api', { provider: 'SendGrid', smtp: undefined, incoming: { credentials: { secretRef: { name: 'in' } }, tls: { insecureSkipVerify: true } } } as never);
    expect(specRefs('EmailServer', noCa)).toEqual(['Secret/mail/in', 'Namespace/mail']);
  });

  it('an identity: the server it names (in its own namespace unless told), or the defaults; and its SMTP credentials Secret', () => {
    expect(specRefs('SenderIdentity', senderIdentity('apps', 'app', { serverRef: { name: 'ses', namespace: 'mail' } }))).toEqual([
      'EmailServer/mail/ses',
      'Namespace/apps',
    ]);
    expect(specRefs('SenderIdentity', senderIdentity('apps', 'app', { serverRef: { name: 'ses' }, smtpCredentials: { secretName: 'creds' } } as never))).toEqual([
      'EmailServer/apps/ses',
      'Namespace/apps',
      'Secret/apps/creds',
    ]);
    expect(specRefs('SenderIdentity', senderIdentity('apps', 'app'))).toEqual(['DefaultServer/apps', 'PlatformDefaults', 'Namespace/apps']);
  });

  it('a sending domain: the key Secrets it reads or generates, for both selectors', () => {
    const d = sendingDomain('mail', 'example', {
      privateKeySecretRef: { name: 'key1' },
      secondary: { selector: 's2', generate: { secretName: 'key2' } },
    });
    expect(specRefs('SendingDomain', d)).toEqual(['Secret/mail/key1', 'Secret/mail/key2', 'Namespace/mail']);
    expect(specRefs('SendingDomain', sendingDomain('mail', 'example', { generate: { secretName: 'gen' } }))).toEqual(['Secret/mail/gen', 'Namespace/mail']);
  });
});

describe('what a change reconciles', () => {
  const world = new MemoryWorld();

  it('an added object is reconciled; our own status write coming back is not, but a spec, deletion, annotation or label change is', () => {
    const t = smtpTarget('mail', 'relay') as Obj;
    const deps = new Dependencies();
    expect(changeKeys('SmtpTarget', 'add', t, undefined, of(deps), world)).toMatchObject({ key: 'SmtpTarget/mail/relay', reconcile: true });
    const written = statusWritten(t, { observedGeneration: 1 });
    expect(changeKeys('SmtpTarget', 'update', written, t, of(deps), world).reconcile).toBe(false);
    const variants: Obj[] = [
      { ...written, metadata: { ...written.metadata, generation: 2 } },
      { ...written, metadata: { ...written.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } },
      { ...written, metadata: { ...written.metadata, annotations: { 'email.postmaster.dev/test-to': 'ops@example.com' } } },
      { ...written, metadata: { ...written.metadata, labels: { team: 'a' } } },
      // Someone removed our status: it is written again.
      { ...t },
    ];
    for (const v of variants) expect(changeKeys('SmtpTarget', 'update', v, written, of(deps), world).reconcile).toBe(true);
    expect(changeKeys('SmtpTarget', 'delete', t, t, of(deps), world).reconcile).toBe(false);
    expect(specOrMetaChanged(written, undefined)).toBe(true);
  });

  it("a target's change reconciles the servers sending through it, even when only its status changed", () => {
    const t = smtpTarget('mail', 'relay') as Obj;
    const other = emailServer('mail', 'other', { smtp: { targetRef: { name: 'elsewhere' } } } as never);
    const deps = indexOf(emailServer('mail', 'ses'), emailServer('mail', 'backup-user', { fallback: { smtpTargetRef: { name: 'relay' } } } as never), other);
    const change = changeKeys('SmtpTarget', 'update', statusWritten(t, { conditions: [] }), t, of(deps), world);
    expect(change.dependents.sort()).toEqual(['EmailServer/mail/backup-user', 'EmailServer/mail/ses']);
    expect(change.usage).toEqual([]);
    expect(changeKeys('SmtpTarget', 'delete', t, undefined, of(deps), world).dependents.sort()).toEqual(['EmailServer/mail/backup-user', 'EmailServer/mail/ses']);
  });

  it("a server's change reconciles the identities naming it or their namespace's default, and recounts its targets' users", () => {
    const s = emailServer('mail', 'ses', { fallback: { smtpTargetRef: { name: 'backup' } } } as never) as Obj;
    const deps = indexOf(
      senderIdentity('apps', 'named', { serverRef: { name: 'ses', namespace: 'mail' } }),
      senderIdentity('mail', 'defaulted'),
      senderIdentity('apps', 'elsewhere'),
    );
    const added = changeKeys('EmailServer', 'add', s, undefined, of(deps), world);
    expect(added.dependents).toEqual(['SenderIdentity/apps/named', 'SenderIdentity/mail/defaulted']);
    expect(added.usage).toEqual(['SmtpTarget/mail/relay', 'SmtpTarget/mail/backup']);
    // Its own status write: the identities still hear of it (they report its readiness), the counts stay.
    const written = changeKeys('EmailServer', 'update', statusWritten(s, { conditions: [] }), s, of(deps), world);
    expect(written.dependents).toEqual(['SenderIdentity/apps/named', 'SenderIdentity/mail/defaulted']);
    expect(written.usage).toEqual([]);
    // Moved to another target: both the old and the new one recount.
    const moved = { ...s, metadata: { ...s.metadata, generation: 2 }, spec: { ...s.spec, smtp: { targetRef: { name: 'new' } }, fallback: undefined } } as Obj;
    expect(changeKeys('EmailServer', 'update', moved, s, of(deps), world).usage).toEqual(['SmtpTarget/mail/new', 'SmtpTarget/mail/relay', 'SmtpTarget/mail/backup']);
    expect(changeKeys('EmailServer', 'delete', s, undefined, of(deps), world).usage).toEqual(['SmtpTarget/mail/relay', 'SmtpTarget/mail/backup']);
  });

  it('a platform default (now or before) also reconciles the identities of every namespace that name no server', () => {
    const deps = indexOf(senderIdentity('apps', 'defaulted'), senderIdentity('apps', 'named', { serverRef: { name: 'x' } }));
    const plain = emailServer('mail', 'ses') as Obj;
    const platform = emailServer('mail', 'ses', { defaultFor: { namespaceSelector: {} } } as never) as Obj;
    expect(changeKeys('EmailServer', 'update', plain, plain, of(deps), world).dependents).toEqual([]);
    expect(changeKeys('EmailServer', 'update', platform, plain, of(deps), world).dependents).toEqual(['SenderIdentity/apps/defaulted']);
    expect(changeKeys('EmailServer', 'update', plain, platform, of(deps), world).dependents).toEqual(['SenderIdentity/apps/defaulted']);
    expect(changeKeys('EmailServer', 'add', platform, undefined, of(deps), world).dependents).toEqual(['SenderIdentity/apps/defaulted']);
  });

  it("a sending domain's change reconciles the identities whose server is in its namespace", () => {
    const deps = new Dependencies();
    deps.set('SenderIdentity/apps/app', ['SendingDomains/mail']);
    deps.set('SenderIdentity/apps/other', ['SendingDomains/apps']);
    const d = sendingDomain('mail', 'example', { generate: { secretName: 'k' } }) as Obj;
    expect(changeKeys('SendingDomain', 'add', d, undefined, of(deps), world)).toEqual({
      key: 'SendingDomain/mail/example',
      reconcile: true,
      dependents: ['SenderIdentity/apps/app'],
      usage: [],
    });
  });

  it("an identity's change recounts the users of the server it resolves to now and the one it reported before", () => {
    const w = new MemoryWorld();
    w.addNamespace('apps');
    w.add(emailServer('apps', 'new'));
    const deps = new Dependencies();
    deps.set('Whatever/apps/x', ['SenderIdentity/apps/app']);
    const before = senderIdentity('apps', 'app', { serverRef: { name: 'old' } }, { status: { server: { namespace: 'apps', name: 'old', provider: 'SMTP' } } } as never) as Obj;
    const after = { ...before, metadata: { ...before.metadata, generation: 2 }, spec: { ...before.spec, serverRef: { name: 'new' } } } as Obj;
    const change = changeKeys('SenderIdentity', 'update', after, before, of(deps), w);
    expect(change).toEqual({ key: 'SenderIdentity/apps/app', reconcile: true, dependents: [], usage: ['EmailServer/apps/new', 'EmailServer/apps/old'] });
    // The status write that reports the new server: the old one recounts once more.
    const reported = statusWritten(before, { server: { namespace: 'apps', name: 'new', provider: 'SMTP' } });
    expect(changeKeys('SenderIdentity', 'update', reported, before, of(deps), w)).toMatchObject({ reconcile: false, usage: ['EmailServer/apps/new', 'EmailServer/apps/old'] });
    // A status write that keeps the server: nobody recounts.
    const same = statusWritten(before, { server: { namespace: 'apps', name: 'old', provider: 'SMTP' }, conditions: [] });
    expect(changeKeys('SenderIdentity', 'update', same, before, of(deps), w).usage).toEqual([]);
    const unreported = statusWritten(senderIdentity('apps', 'app') as Obj, { conditions: [] });
    expect(changeKeys('SenderIdentity', 'update', unreported, unreported, of(deps), w).usage).toEqual([]);
  });

  it('counts each server once, skipping identities that resolve to none', () => {
    const w = new MemoryWorld();
    w.addNamespace('apps');
    w.add(emailServer('apps', 'ses'));
    const i = senderIdentity('apps', 'app', { serverRef: { name: 'ses' } }, { status: { server: { namespace: 'apps', name: 'ses', provider: 'SMTP' } } } as never);
    expect(usedServers(w, [i, undefined, i])).toEqual(['EmailServer/apps/ses']);
    expect(usedServers(w, [senderIdentity('apps', 'lost', { serverRef: { name: 'missing' } })])).toEqual([]);
    expect(usedTargets([undefined, emailServer('mail', 'a'), emailServer('mail', 'b', { provider: 'SendGrid', smtp: undefined } as never)])).toEqual([
      'SmtpTarget/mail/relay',
    ]);
  });

  it("a referenced Secret's change reconciles its users, unless its data stayed the same", () => {
    const deps = indexOf(smtpTarget('mail', 'relay', { credentials: { secretRef: { name: 'login' } } } as never));
    const secret = (data: Record<string, string>): Secret => ({ metadata: { namespace: 'mail', name: 'login', resourceVersion: '2' }, data });
    const old = { ...secret({ password: 'YQ==' }), metadata: { namespace: 'mail', name: 'login', resourceVersion: '1' } };
    expect(secretChangeKeys('update', secret({ password: 'YQ==' }), old, of(deps))).toEqual([]);
    expect(secretChangeKeys('update', secret({ password: 'YQ==' }), undefined, of(deps))).toEqual(['SmtpTarget/mail/relay']);
    expect(secretChangeKeys('update', secret({ password: 'Yg==' }), old, of(deps))).toEqual(['SmtpTarget/mail/relay']);
    expect(secretChangeKeys('add', secret({ password: 'YQ==' }), undefined, of(deps))).toEqual(['SmtpTarget/mail/relay']);
    expect(secretChangeKeys('delete', secret({ password: 'YQ==' }), old, of(deps))).toEqual(['SmtpTarget/mail/relay']);
    const clusterScoped = new Dependencies();
    clusterScoped.set('X/a/b', ['Secret//login']);
    expect(secretChangeKeys('add', { metadata: { name: 'login' } }, undefined, of(clusterScoped))).toEqual(['X/a/b']);
  });

  it("a namespace's labels reconcile what lives in it and the platform defaults; its deletion only what lives in it", () => {
    const deps = indexOf(senderIdentity('apps', 'app'), emailServer('mail', 'platform', { defaultFor: { namespaceSelector: {} } } as never));
    const ns = (o: { labels?: Record<string, string>; deletionTimestamp?: string; phase?: string } = {}): Namespace => ({
      metadata: { name: 'apps', labels: o.labels ?? {}, ...(o.deletionTimestamp ? { deletionTimestamp: o.deletionTimestamp } : {}) },
      status: { phase: o.phase ?? 'Active' },
    });
    const base = ns();
    expect(namespaceChangeKeys('update', ns(), base, of(deps))).toEqual([]);
    // Before the namespace controller has set a phase.
    expect(namespaceChangeKeys('update', { metadata: { name: 'apps' } }, { metadata: { name: 'apps' } }, of(deps))).toEqual([]);
    expect(namespaceChangeKeys('update', ns({ labels: { team: 'a' } }), base, of(deps))).toEqual(['SenderIdentity/apps/app', 'EmailServer/mail/platform']);
    expect(namespaceChangeKeys('update', ns({ deletionTimestamp: '2026-01-01T00:00:00Z' }), base, of(deps))).toEqual(['SenderIdentity/apps/app']);
    expect(namespaceChangeKeys('update', ns({ phase: 'Terminating' }), base, of(deps))).toEqual(['SenderIdentity/apps/app']);
    expect(namespaceChangeKeys('add', base, undefined, of(deps))).toEqual(['SenderIdentity/apps/app', 'EmailServer/mail/platform']);
    expect(namespaceChangeKeys('delete', base, base, of(deps))).toEqual(['SenderIdentity/apps/app', 'EmailServer/mail/platform']);
  });

  it('a change reaches only the readers of that kind of object, never those of a namesake of another kind', () => {
    // One reader of each ref a change of "mail/x" could reach.
    const deps = new Dependencies();
    for (const ref of ['SmtpTarget/mail/x', 'EmailServer/mail/x', 'SendingDomains/mail', 'DefaultServer/mail', 'PlatformDefaults']) deps.set(`Reader/${ref}`, [ref]);
    const w = new MemoryWorld();
    w.addNamespace('mail');
    // A server an identity-like reading of anything in "mail" would find.
    w.add(emailServer('mail', 'default', { default: true } as never));
    const t = smtpTarget('mail', 'x') as Obj;
    const s = emailServer('mail', 'x', { smtp: undefined, provider: 'SendGrid' } as never) as Obj;
    const d = sendingDomain('mail', 'x', { generate: { secretName: 'k' } }) as Obj;
    expect(changeKeys('SmtpTarget', 'add', t, undefined, of(deps), w)).toMatchObject({ dependents: ['Reader/SmtpTarget/mail/x'], usage: [] });
    expect(changeKeys('EmailServer', 'add', s, undefined, of(deps), w)).toMatchObject({
      dependents: ['Reader/EmailServer/mail/x', 'Reader/DefaultServer/mail'],
      usage: [],
    });
    expect(changeKeys('SendingDomain', 'add', d, undefined, of(deps), w)).toMatchObject({ dependents: ['Reader/SendingDomains/mail'], usage: [] });
    expect(changeKeys('SendingDomain', 'update', statusWritten(d, { conditions: [] }), d, of(deps), w).usage).toEqual([]);
    const i = senderIdentity('mail', 'x') as Obj;
    expect(changeKeys('SenderIdentity', 'add', i, undefined, of(deps), w)).toMatchObject({ dependents: [], usage: ['EmailServer/mail/default'] });
    // Its own status write: the server it uses does not recount.
    expect(changeKeys('EmailServer', 'update', statusWritten(s, { conditions: [] }), s, of(deps), w).usage).toEqual([]);
  });

  it('the store coming or going reconciles the Queued servers only', () => {
    const queued = emailServer('mail', 'q', { delivery: { mode: 'Queued' } } as never);
    const direct = emailServer('mail', 'd', { delivery: { mode: 'Direct' } } as never);
    expect(queuedServerKeys([direct, queued, emailServer('mail', 'plain')])).toEqual(['EmailServer/mail/q']);
  });
});

describe('the dependency index', () => {
  it('replaces what an object reads on each reconcile, keeps it on add, and forgets it on delete', () => {
    const deps = new Dependencies();
    deps.set('EmailServer/mail/ses', ['Secret/mail/a', 'SmtpTarget/mail/relay']);
    deps.set('EmailServer/mail/other', ['Secret/mail/a']);
    expect(deps.size).toBe(2);
    expect(deps.dependents('Secret/mail/a')).toEqual(['EmailServer/mail/ses', 'EmailServer/mail/other']);
    // Re-reconciled without the Secret: its change no longer reaches the server.
    deps.set('EmailServer/mail/ses', ['SmtpTarget/mail/relay']);
    expect(deps.dependents('Secret/mail/a')).toEqual(['EmailServer/mail/other']);
    deps.add('EmailServer/mail/ses', ['Secret/mail/b']);
    expect(deps.dependents('SmtpTarget/mail/relay')).toEqual(['EmailServer/mail/ses']);
    expect(deps.dependents('Secret/mail/b')).toEqual(['EmailServer/mail/ses']);
    deps.add('EmailServer/mail/new', ['Secret/mail/b']);
    expect(deps.dependents('Secret/mail/b')).toEqual(['EmailServer/mail/ses', 'EmailServer/mail/new']);
    deps.delete('EmailServer/mail/ses');
    deps.delete('EmailServer/mail/never');
    expect(deps.dependents('SmtpTarget/mail/relay')).toEqual([]);
    expect(deps.dependents('Secret/mail/b')).toEqual(['EmailServer/mail/new']);
    expect(deps.size).toBe(2);
    deps.delete('EmailServer/mail/new');
    deps.set('EmailServer/mail/new', ['Secret/mail/c']);
    expect(deps.dependents('Secret/mail/b')).toEqual([]);
    expect(deps.size).toBe(2);
  });

  it('a ref whose last reader went is gone, and a new reader starts it afresh', () => {
    const deps = new Dependencies();
    deps.set('A/x/y', ['Secret/mail/a']);
    deps.set('A/x/y', []);
    deps.set('B/x/y', ['Secret/mail/a']);
    expect(deps.dependents('Secret/mail/a')).toEqual(['B/x/y']);
  });
});

describe('events on status changes', () => {
  const c = (type: string, status: Condition['status'], reason: string, message = `${reason} message`): Condition => ({
    type,
    status,
    reason,
    message,
    lastTransitionTime: '2026-01-01T00:00:00Z',
  });

  it('tells Ready turning True as Normal, and nothing when nothing changed', () => {
    const after = [c('Ready', 'True', 'Succeeded', 'Delivers through relay.'), c('Connected', 'True', 'Connected')];
    expect(transitionEvents([], after)).toEqual([{ type: 'Normal', reason: 'Succeeded', message: 'Delivers through relay.' }]);
    expect(transitionEvents(after, after)).toEqual([]);
    const failing = [c('Ready', 'False', 'AuthFailed'), c('Connected', 'False', 'AuthFailed'), c('SecretsResolved', 'False', 'Other')];
    expect(transitionEvents(failing, failing)).toEqual([]);
  });

  it('never tells the kstatus pair Reconciling and Stalled', () => {
    const after = [c('Ready', 'True', 'Succeeded', 'ok'), c('Reconciling', 'False', 'Done'), c('Stalled', 'False', 'Done')];
    expect(transitionEvents([], after)).toEqual([{ type: 'Normal', reason: 'Succeeded', message: 'ok' }]);
  });

  it('tells a failing condition once: in the Ready warning when it is the reason, with its own warning when it is not', () => {
    const before = [c('Ready', 'True', 'Succeeded'), c('SecretsResolved', 'True', 'Resolved'), c('Connected', 'True', 'Connected')];
    const after = [
      c('Ready', 'False', 'SecretNotFound', 'Secret "mail/login" not found.'),
      c('Stalled', 'True', 'SecretNotFound'),
      c('Reconciling', 'True', 'X'),
      c('SecretsResolved', 'False', 'SecretNotFound', 'Secret "mail/login" not found.'),
      c('Connected', 'False', 'AuthFailed', '535 denied'),
    ];
    expect(transitionEvents(before, after)).toEqual([
      { type: 'Warning', reason: 'SecretNotFound', message: 'Secret "mail/login" not found.' },
      { type: 'Warning', reason: 'AuthFailed', message: 'Connected: 535 denied' },
    ]);
  });

  it('tells a change of reason or of status alone, never a specific condition turning True or Unknown', () => {
    expect(transitionEvents([c('Ready', 'False', 'A')], [c('Ready', 'False', 'B', 'now B')])).toEqual([{ type: 'Warning', reason: 'B', message: 'now B' }]);
    expect(transitionEvents([c('Ready', 'Unknown', 'A')], [c('Ready', 'False', 'A', 'now False')])).toEqual([{ type: 'Warning', reason: 'A', message: 'now False' }]);
    expect(transitionEvents([c('Ready', 'False', 'A')], [c('Ready', 'Unknown', 'A', 'unknown')])).toEqual([{ type: 'Warning', reason: 'A', message: 'unknown' }]);
    expect(transitionEvents([c('Connected', 'False', 'X')], [c('Connected', 'True', 'Connected'), c('DnsPublished', 'Unknown', 'Checking')])).toEqual([]);
    // No Ready among them (never the case in practice): the specific warning still goes out.
    expect(transitionEvents([], [c('Connected', 'False', 'AuthFailed', 'denied')])).toEqual([{ type: 'Warning', reason: 'AuthFailed', message: 'Connected: denied' }]);
    // Ready, unchanged, already tells that reason; a Ready that is not False does not.
    expect(transitionEvents([c('Ready', 'False', 'A'), c('Connected', 'True', 'Connected')], [c('Ready', 'False', 'A'), c('Connected', 'False', 'A', 'same reason')])).toEqual([]);
    expect(transitionEvents([c('Ready', 'Unknown', 'A'), c('Connected', 'True', 'Connected')], [c('Ready', 'Unknown', 'A'), c('Connected', 'False', 'A', 'same reason')])).toEqual([
      { type: 'Warning', reason: 'A', message: 'Connected: same reason' },
    ]);
  });
});
