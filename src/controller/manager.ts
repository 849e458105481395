// Wires the cache's change events, the work queue and the three reconcilers together:
// events -> queue keys -> reconcile -> one status patch -> events and requeue.
import type { Logger } from 'pino';
import type { Condition, EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
import { READY, RECONCILING, STALLED } from '../api/index.ts';
import type { EventRecorder } from '../kube/events.ts';
import { errorText, type Informer, type KubeObject } from '../kube/informer.ts';
import type { KubeClient } from '../kube/rest.ts';
import { ourResource, type OurKind } from '../kube/resources.ts';
import { setFinalizer } from '../kube/finalizers.ts';
import { collectionPath, KubeError } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
import { patchStatus } from '../kube/status.ts';
import type { Metrics } from '../metrics.ts';
import { createTxtLookup, type TxtLookup } from '../providers/dkim/dns.ts';
import type { ConnectionTester } from '../providers/tester.ts';
import type { RoutingOptions } from '../routing/api-account.ts';
import type { ClusterCache } from '../routing/cache.ts';
import type { IdentityExtras } from '../routing/identity.ts';
import { identityServer } from '../routing/server.ts';
import { IN_USE_FINALIZER } from '../routing/usage.ts';
import { refKey, type Secret } from '../routing/world.ts';
import { Dependencies } from './dependencies.ts';
import { reconcileEmailServer } from './emailserver.ts';
import { WorkQueue, type ProcessResult, type QueueOptions } from './queue.ts';
import { reconcileSenderIdentity } from './senderidentity.ts';
import { reconcileSendingDomain } from './sendingdomain.ts';
import { reconcileSmtpTarget, type ReconcileContext, type ReconcileOutput } from './smtptarget.ts';
import { TestCache } from './tester.ts';
import type { StateStore } from '../store/store.ts';

export interface ControllerOptions {
  queue: QueueOptions;
  routing: RoutingOptions;
  /** The send endpoint's state store: Queued EmailServers report it in DeliveryReady. Default: in memory. */
  store?: Pick<StateStore, 'status' | 'onChange'>;
}

export interface ControllerHooks {
  /** Extra status an identity carries (the send endpoint's address, generated credentials). */
  identityExtras?: (identity: SenderIdentity) => Promise<IdentityExtras>;
}

type Ours = SmtpTarget | EmailServer | SenderIdentity | SendingDomain;
const KINDS = ['SmtpTarget', 'EmailServer', 'SenderIdentity', 'SendingDomain'] as const;

/** The last lane: counting users waits until the objects themselves are reconciled. */
const USAGE_LANE = 3;

/** Targets before servers and sending domains before identities: what is referenced settles before what references it. */
function laneOf(key: string): number {
  if (key.startsWith('SmtpTarget/')) return 0;
  return key.startsWith('EmailServer/') || key.startsWith('SendingDomain/') ? 1 : 2;
}

export class Controller {
  private readonly cache: ClusterCache;
  private readonly deps = new Dependencies();
  private readonly tests = new TestCache();
  private queue: WorkQueue | undefined;
  private readonly client: KubeClient;
  private readonly opts: ControllerOptions;
  private readonly tester: ConnectionTester;
  private readonly recorder: EventRecorder;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly hooks: ControllerHooks;
  private readonly dns: TxtLookup;

  constructor(deps: {
    client: KubeClient;
    cache: ClusterCache;
    options: ControllerOptions;
    tester: ConnectionTester;
    recorder: EventRecorder;
    metrics: Metrics;
    log: Logger;
    hooks?: ControllerHooks;
    /** Where SendingDomains' DNS records are looked up; default: the system resolver. */
    dns?: TxtLookup;
  }) {
    this.client = deps.client;
    this.opts = deps.options;
    this.tester = deps.tester;
    this.recorder = deps.recorder;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.hooks = deps.hooks ?? {};
    this.dns = deps.dns ?? createTxtLookup();
    this.cache = deps.cache;
    this.wireEvents();
  }

  /** Starts reconciling (when elected); the returned function stops it. */
  startReconciling(): () => Promise<void> {
    const queue = new WorkQueue({ lane: laneOf, ...this.opts.queue });
    this.queue = queue;
    queue.start(
      (key) => this.process(key),
      (key, err) => this.log.error({ key, err: errorText(err) }, 'reconcile failed'),
    );
    for (const kind of KINDS) {
      for (const o of this.informerFor(kind).list()) queue.add(queueKey(kind, o));
    }
    const depth = setInterval(() => this.metrics.queueDepth.set(queue.depth), 1000);
    depth.unref();
    return async () => {
      clearInterval(depth);
      if (this.queue === queue) this.queue = undefined;
      await queue.shutdown();
    };
  }

  private informerFor(kind: OurKind): Informer<Ours & KubeObject> {
    const { smtpTargetInformer, emailServerInformer, senderIdentityInformer, sendingDomainInformer } = this.cache;
    const map = { SmtpTarget: smtpTargetInformer, EmailServer: emailServerInformer, SenderIdentity: senderIdentityInformer, SendingDomain: sendingDomainInformer };
    return map[kind] as Informer<Ours & KubeObject>;
  }

  private enqueue(keys: Iterable<string>): void {
    for (const k of keys) this.queue?.add(k);
  }

  /**
   * For status.usage: queued behind everything else, so identities arriving by
   * the thousand make one reconcile of their server, not one each.
   */
  private enqueueSoon(keys: Iterable<string>): void {
    for (const k of keys) this.queue?.add(k, USAGE_LANE);
  }

  private wireEvents(): void {
    for (const kind of KINDS) {
      this.informerFor(kind).onChange((event, obj, old) => {
        const ns = obj.metadata.namespace;
        const key = queueKey(kind, obj);
        if (event === 'delete') {
          this.deps.delete(key);
          this.tests.forget(`${key}/`);
          this.queue?.forget(key);
        } else if (event === 'add' || specOrMetaChanged(obj, old)) {
          // Our own status writes come back as updates: they need no reconcile of the object itself.
          this.queue?.add(key);
        }
        const ref = kind === 'SmtpTarget' ? refKey.smtpTarget(ns, obj.metadata.name) : refKey.emailServer(ns, obj.metadata.name);
        if (kind === 'SmtpTarget' || kind === 'EmailServer') this.enqueue(this.deps.dependents(ref));
        // Identities report which SendingDomain of their server's namespace signs their mail.
        if (kind === 'SendingDomain') this.enqueue(this.deps.dependents(refKey.sendingDomains(ns)));
        if (kind === 'EmailServer') this.enqueue(this.deps.dependents(refKey.defaultServer(ns)));
        if (kind === 'EmailServer' && (defaultsFor(obj) || defaultsFor(old))) this.enqueue(this.deps.dependents(refKey.platformDefaults()));
        // Usage: servers count the identities that resolve to them, targets the servers that send through them.
        const moved = event !== 'update' || specOrMetaChanged(obj, old) || serverOf(obj) !== serverOf(old);
        if (moved && kind === 'SenderIdentity') this.enqueueSoon(this.usedServers([obj as SenderIdentity, old as SenderIdentity | undefined]));
        if (moved && kind === 'EmailServer') this.enqueueSoon(usedTargets([obj as EmailServer, old as EmailServer | undefined]));
      });
    }
    // The store coming or going changes what Queued servers can promise.
    this.opts.store?.onChange(() => {
      for (const server of this.cache.emailServerInformer.list()) {
        if (server.spec.delivery?.mode === 'Queued') this.queue?.add(queueKey('EmailServer', server));
      }
    });
    this.cache.onSecretChange((event, secret, old) => {
      if (event === 'update' && JSON.stringify(secret.data) === JSON.stringify(old?.data)) return;
      this.enqueue(this.deps.dependents(refKey.secret(secret.metadata.namespace ?? '', secret.metadata.name)));
    });
    this.cache.namespaceInformer.onChange((event, ns, old) => {
      const labelsChanged = JSON.stringify(ns.metadata.labels) !== JSON.stringify(old?.metadata.labels);
      // A namespace being deleted releases the in-use protection of what is in it.
      const leaving = ns.metadata.deletionTimestamp !== old?.metadata.deletionTimestamp || ns.status?.phase !== old?.status?.phase;
      if (event === 'update' && !labelsChanged && !leaving) return;
      this.enqueue(this.deps.dependents(refKey.namespace(ns.metadata.name)));
      if (event !== 'update' || labelsChanged) this.enqueue(this.deps.dependents(refKey.anyNamespace()));
    });
  }

  /** Queue keys of the servers these identities use now or used when last reconciled. */
  private usedServers(identities: (SenderIdentity | undefined)[]): string[] {
    const keys = new Set<string>();
    for (const identity of identities) {
      if (!identity) continue;
      const now = identityServer(this.cache, identity).server;
      if (now) keys.add(queueKey('EmailServer', now));
      const before = identity.status?.server;
      if (before) keys.add(`EmailServer/${before.namespace}/${before.name}`);
    }
    return [...keys];
  }

  private async process(key: string): Promise<ProcessResult> {
    const [kind, ns, name] = key.split('/') as [OurKind, string, string];
    const obj = this.informerFor(kind).get(ns, name);
    if (!obj) return {};
    // The data of a Secret just referenced may be on its way: read it, not a transient "not found".
    await this.cache.secretsSettled();
    // Known from the spec alone: registered before the reconcile, so a change that
    // lands while it runs (a server turning Ready) still requeues it afterwards.
    this.deps.add(key, specRefs(kind, obj));
    const started = performance.now();
    const ctx: ReconcileContext = { world: this.cache, tester: this.tester, tests: this.tests, now: new Date() };
    let out: ReconcileOutput<Record<string, unknown>>;
    try {
      out = (await this.reconcile(kind, obj, ctx)) as ReconcileOutput<Record<string, unknown>>;
    } catch (err) {
      this.metrics.reconcileTotal.inc({ kind, result: 'error' });
      throw err;
    } finally {
      this.metrics.reconcileDuration.observe({ kind }, (performance.now() - started) / 1000);
    }
    this.deps.set(key, [...specRefs(kind, obj), ...out.refs]);
    this.log.debug({ key, retry: out.retry, ms: Math.round(performance.now() - started) }, 'reconciled');
    const previous = obj.status as Record<string, unknown> | undefined;
    const informer = this.informerFor(kind);
    const written = await patchStatus(this.client, ourResource[kind], ns, name, previous, out.status);
    if (written) {
      informer.observe(written as unknown as Ours & KubeObject);
      this.recordTransitions(obj, (previous?.conditions ?? []) as Condition[], out.status.conditions as Condition[]);
    }
    // The finalizer last: removing it may let the object go at once. It is the only metadata we write.
    if (out.protect !== undefined) {
      const latest = informer.get(ns, name) ?? obj;
      const patched = await setFinalizer(this.client, ourResource[kind], latest, IN_USE_FINALIZER, out.protect);
      if (patched) informer.observe(patched as unknown as Ours & KubeObject);
    }
    for (const e of out.events ?? []) this.recorder.post(obj as Ours & KubeObject, e.type, e.reason, e.message);
    this.metrics.reconcileTotal.inc({ kind, result: out.retry ? 'retry' : 'success' });
    return out.retry ? { retry: true } : { requeueAfterMs: out.requeueAfterMs };
  }

  private reconcile(kind: OurKind, obj: Ours, ctx: ReconcileContext): Promise<ReconcileOutput<unknown>> {
    switch (kind) {
      case 'SmtpTarget':
        return reconcileSmtpTarget(obj as SmtpTarget, ctx);
      case 'EmailServer':
        return reconcileEmailServer(obj as EmailServer, ctx, this.opts.routing, this.opts.store);
      case 'SendingDomain':
        return reconcileSendingDomain(obj as SendingDomain, ctx, { dns: this.dns, createSecret: (s) => this.createSecret(s) });
      case 'SenderIdentity': {
        const identity = obj as SenderIdentity;
        return (this.hooks.identityExtras?.(identity) ?? Promise.resolve({})).then((extras) =>
          reconcileSenderIdentity(identity, ctx, this.opts.routing, extras),
        );
      }
    }
  }

  /** Creates a Secret (a generated DKIM key); false when one of that name exists, which is never overwritten. */
  private async createSecret(secret: Secret): Promise<boolean> {
    try {
      await this.client.request('POST', collectionPath(resources.secret, secret.metadata.namespace ?? ''), { body: secret });
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.status === 409) return false;
      throw err;
    }
  }

  /**
   * An event per transition: every change of Ready (Normal when True, Warning
   * when not), and a Warning for each specific condition that turns False.
   */
  private recordTransitions(obj: Ours, before: Condition[], after: Condition[]): void {
    const ready = after.find((c) => c.type === READY);
    for (const c of after) {
      if (c.type === RECONCILING || c.type === STALLED) continue;
      const prev = before.find((p) => p.type === c.type);
      if (prev && prev.status === c.status && prev.reason === c.reason) continue;
      if (c.type !== READY && c.status !== 'False') continue;
      // The Ready event already tells this one.
      if (c.type !== READY && ready?.status === 'False' && ready.reason === c.reason) continue;
      const type = c.status === 'True' ? 'Normal' : 'Warning';
      const message = c.type === READY ? c.message : `${c.type}: ${c.message}`;
      this.recorder.post(obj as Ours & KubeObject, type, c.reason, message);
    }
  }
}

/** What an object references by its spec: Secrets, targets, servers. */
function specRefs(kind: OurKind, obj: Ours): string[] {
  const ns = obj.metadata.namespace;
  const secret = (name: string | undefined) => (name ? [refKey.secret(ns, name)] : []);
  switch (kind) {
    case 'SmtpTarget': {
      const { spec } = obj as SmtpTarget;
      // The namespace: its deletion releases in-use protection.
      return [...secret(spec.credentials?.secretRef?.name), ...secret(spec.tls?.caSecretRef?.name), refKey.namespace(ns)];
    }
    case 'EmailServer': {
      const { spec } = obj as EmailServer;
      return [
        ...secret(spec.sendgrid?.apiKeySecretRef.name),
        ...secret(spec.sparkpost?.apiKeySecretRef.name),
        ...secret(spec.incoming?.credentials.secretRef.name),
        ...secret(spec.incoming?.tls?.caSecretRef?.name),
        ...(spec.smtp ? [refKey.smtpTarget(ns, spec.smtp.targetRef.name)] : []),
        ...(spec.fallback ? [refKey.smtpTarget(ns, spec.fallback.smtpTargetRef.name)] : []),
        refKey.namespace(ns),
        // A platform default reports which namespaces it serves: any namespace's labels matter.
        ...(spec.defaultFor ? [refKey.anyNamespace()] : []),
      ];
    }
    case 'SenderIdentity': {
      const { spec } = obj as SenderIdentity;
      const server = spec.serverRef
        ? refKey.emailServer(spec.serverRef.namespace ?? ns, spec.serverRef.name)
        : refKey.defaultServer(ns);
      const platform = spec.serverRef ? [] : [refKey.platformDefaults()];
      return [server, ...platform, refKey.namespace(ns), ...secret(spec.smtpCredentials?.secretName)];
    }
    case 'SendingDomain': {
      const { dkim } = (obj as SendingDomain).spec;
      const names = [dkim, ...(dkim.secondary ? [dkim.secondary] : [])].map((k) => k.privateKeySecretRef?.name ?? k.generate?.secretName);
      return [...names.flatMap(secret), refKey.namespace(ns)];
    }
  }
}

export function queueKey(kind: OurKind, o: { metadata: { namespace?: string; name: string } }): string {
  return `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Whether a server is (or was) a platform default: its changes reach identities of other namespaces. */
function defaultsFor(obj: KubeObject | undefined): boolean {
  return !!(obj as EmailServer | undefined)?.spec?.defaultFor;
}

/** The server an identity's status names, as ns/name. */
function serverOf(obj: KubeObject | undefined): string | undefined {
  const s = (obj as SenderIdentity | undefined)?.status?.server;
  return s ? `${s.namespace}/${s.name}` : undefined;
}

/** Queue keys of the targets these servers send through (primary or fallback). */
function usedTargets(servers: (EmailServer | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const s of servers) {
    if (!s) continue;
    for (const name of [s.spec.smtp?.targetRef.name, s.spec.fallback?.smtpTargetRef.name]) {
      if (name) keys.add(`SmtpTarget/${s.metadata.namespace}/${name}`);
    }
  }
  return [...keys];
}

function specOrMetaChanged(obj: KubeObject, old: KubeObject | undefined): boolean {
  if (!old) return true;
  return (
    obj.metadata.generation !== old.metadata.generation ||
    obj.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
    JSON.stringify(obj.metadata.annotations) !== JSON.stringify(old.metadata.annotations) ||
    JSON.stringify(obj.metadata.labels) !== JSON.stringify(old.metadata.labels) ||
    // Someone removed or rewrote our status: write it again.
    JSON.stringify((obj as { status?: unknown }).status) === undefined
  );
}
