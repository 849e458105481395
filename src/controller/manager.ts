// Wires the cache's change events, the work queue and the three reconcilers together:
// events -> queue keys -> reconcile -> one status patch -> events and requeue.
import type { Logger } from 'pino';
import type { Condition, EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
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
import { IN_USE_FINALIZER } from '../routing/usage.ts';
import type { Secret } from '../routing/world.ts';
import { Dependencies } from './dependencies.ts';
import { reconcileEmailServer } from './emailserver.ts';
import { WorkQueue, type ProcessResult, type QueueOptions } from './queue.ts';
import { reconcileSenderIdentity } from './senderidentity.ts';
import { reconcileSendingDomain } from './sendingdomain.ts';
import { reconcileSmtpTarget, type ReconcileContext, type ReconcileOutput } from './smtptarget.ts';
import { TestCache } from './tester.ts';
import type { StateStore } from '../store/store.ts';
import {
  changeKeys,
  KINDS,
  laneOf,
  namespaceChangeKeys,
  queuedServerKeys,
  queueKey,
  queueResult,
  secretChangeKeys,
  specRefs,
  transitionEvents,
  USAGE_LANE,
  type Ours,
} from './wiring.ts';

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
    const dependentsOf = (ref: string) => this.deps.dependents(ref);
    for (const kind of KINDS) {
      this.informerFor(kind).onChange((event, obj, old) => {
        if (event === 'delete') {
          const key = queueKey(kind, obj);
          this.deps.delete(key);
          this.tests.forget(`${key}/`);
          this.queue?.forget(key);
        }
        const change = changeKeys(kind, event, obj, old, dependentsOf, this.cache);
        if (change.reconcile) this.queue?.add(change.key);
        this.enqueue(change.dependents);
        this.enqueueSoon(change.usage);
      });
    }
    // The store coming or going changes what Queued servers can promise.
    this.opts.store?.onChange(() => this.enqueue(queuedServerKeys(this.cache.emailServerInformer.list())));
    this.cache.onSecretChange((event, secret, old) => this.enqueue(secretChangeKeys(event, secret, old, dependentsOf)));
    this.cache.namespaceInformer.onChange((event, ns, old) => this.enqueue(namespaceChangeKeys(event, ns, old, dependentsOf)));
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
    return queueResult(out);
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

  private recordTransitions(obj: Ours, before: Condition[], after: Condition[]): void {
    for (const e of transitionEvents(before, after)) this.recorder.post(obj as Ours & KubeObject, e.type, e.reason, e.message);
  }
}
