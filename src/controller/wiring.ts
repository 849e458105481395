// The decisions the Controller (manager.ts) makes, as pure functions: which queue
// keys a change enqueues and in which lane, what each object references, which
// events a status change tells, and what the work queue does after a reconcile.
import type { Condition, EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
import { READY, RECONCILING, STALLED } from '../api/index.ts';
import type { EventType } from '../kube/events.ts';
import type { InformerEvent, KubeObject } from '../kube/informer.ts';
import type { OurKind } from '../kube/resources.ts';
import { identityServer } from '../routing/server.ts';
import { refKey, type Namespace, type Secret, type World } from '../routing/world.ts';
import type { ProcessResult } from './queue.ts';

export type Ours = SmtpTarget | EmailServer | SenderIdentity | SendingDomain;
export const KINDS = ['SmtpTarget', 'EmailServer', 'SenderIdentity', 'SendingDomain'] as const;

/** The last lane: counting users waits until the objects themselves are reconciled. */
export const USAGE_LANE = 3;

/** Targets before servers and sending domains before identities: what is referenced settles before what references it. */
export function laneOf(key: string): number {
  if (key.startsWith('SmtpTarget/')) return 0;
  return key.startsWith('EmailServer/') || key.startsWith('SendingDomain/') ? 1 : 2;
}

export function queueKey(kind: OurKind, o: { metadata: { namespace?: string; name: string } }): string {
  return `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Dependents of a ref (Dependencies.dependents). */
export type DependentsOf = (ref: string) => string[];

export interface ChangeKeys {
  /** The changed object's own key. */
  key: string;
  /** Whether the object itself is reconciled: our own status writes come back as updates and need none; a delete needs none. */
  reconcile: boolean;
  /** What reads the changed object: queued in their own lanes. */
  dependents: string[];
  /** Whose status.usage counts the object: queued in USAGE_LANE. */
  usage: string[];
}

/** What a change of one of our objects enqueues. */
export function changeKeys(
  kind: OurKind,
  event: InformerEvent,
  obj: Ours & KubeObject,
  old: (Ours & KubeObject) | undefined,
  dependentsOf: DependentsOf,
  world: World,
): ChangeKeys {
  const ns = obj.metadata.namespace;
  const key = queueKey(kind, obj);
  const reconcile = event !== 'delete' && (event === 'add' || specOrMetaChanged(obj, old));
  const dependents: string[] = [];
  if (kind === 'SmtpTarget') dependents.push(...dependentsOf(refKey.smtpTarget(ns, obj.metadata.name)));
  if (kind === 'EmailServer') dependents.push(...dependentsOf(refKey.emailServer(ns, obj.metadata.name)));
  // Identities report which SendingDomain of their server's namespace signs their mail.
  if (kind === 'SendingDomain') dependents.push(...dependentsOf(refKey.sendingDomains(ns)));
  if (kind === 'EmailServer') dependents.push(...dependentsOf(refKey.defaultServer(ns)));
  if (kind === 'EmailServer' && (defaultsFor(obj) || defaultsFor(old))) dependents.push(...dependentsOf(refKey.platformDefaults()));
  // Usage: servers count the identities that resolve to them, targets the servers that send through them.
  const moved = event !== 'update' || specOrMetaChanged(obj, old) || serverOf(obj) !== serverOf(old);
  let usage: string[] = [];
  if (moved && kind === 'SenderIdentity') usage = usedServers(world, [obj as SenderIdentity, old as SenderIdentity | undefined]);
  if (moved && kind === 'EmailServer') usage = usedTargets([obj as EmailServer, old as EmailServer | undefined]);
  return { key, reconcile, dependents, usage };
}

/** What a referenced Secret's change enqueues: nothing when its data stayed the same. */
export function secretChangeKeys(event: InformerEvent, secret: Secret, old: Secret | undefined, dependentsOf: DependentsOf): string[] {
  if (event === 'update' && JSON.stringify(secret.data) === JSON.stringify(old?.data)) return [];
  return dependentsOf(refKey.secret(secret.metadata.namespace ?? '', secret.metadata.name));
}

/** What a namespace's change enqueues: labels decide selectors, and a namespace being deleted releases in-use protection. */
export function namespaceChangeKeys(event: InformerEvent, ns: Namespace, old: Namespace | undefined, dependentsOf: DependentsOf): string[] {
  const labelsChanged = JSON.stringify(ns.metadata.labels) !== JSON.stringify(old?.metadata.labels);
  const leaving = ns.metadata.deletionTimestamp !== old?.metadata.deletionTimestamp || ns.status?.phase !== old?.status?.phase;
  if (event === 'update' && !labelsChanged && !leaving) return [];
  const keys = [...dependentsOf(refKey.namespace(ns.metadata.name))];
  if (event !== 'update' || labelsChanged) keys.push(...dependentsOf(refKey.anyNamespace()));
  return keys;
}

/** The store coming or going changes what Queued servers can promise: their keys. */
export function queuedServerKeys(servers: readonly EmailServer[]): string[] {
  return servers.filter((s) => s.spec.delivery?.mode === 'Queued').map((s) => queueKey('EmailServer', s));
}

/** Queue keys of the servers these identities use now or used when last reconciled. */
export function usedServers(world: World, identities: (SenderIdentity | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const identity of identities) {
    if (!identity) continue;
    const now = identityServer(world, identity).server;
    if (now) keys.add(queueKey('EmailServer', now));
    const before = identity.status?.server;
    if (before) keys.add(`EmailServer/${before.namespace}/${before.name}`);
  }
  return [...keys];
}

/** What an object references by its spec: Secrets, targets, servers. */
export function specRefs(kind: OurKind, obj: Ours): string[] {
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
export function usedTargets(servers: (EmailServer | undefined)[]): string[] {
  const keys = new Set<string>();
  for (const s of servers) {
    if (!s) continue;
    for (const name of [s.spec.smtp?.targetRef.name, s.spec.fallback?.smtpTargetRef.name]) {
      if (name) keys.add(`SmtpTarget/${s.metadata.namespace}/${name}`);
    }
  }
  return [...keys];
}

/** Whether an update is more than our own status write coming back. */
export function specOrMetaChanged(obj: KubeObject, old: KubeObject | undefined): boolean {
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

export interface EventToPost {
  type: EventType;
  reason: string;
  message: string;
}

/**
 * An event per transition: every change of Ready (Normal when True, Warning
 * when not), and a Warning for each specific condition that turns False.
 */
export function transitionEvents(before: readonly Condition[], after: readonly Condition[]): EventToPost[] {
  const events: EventToPost[] = [];
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
    events.push({ type, reason: c.reason, message });
  }
  return events;
}

/** What the work queue does after a reconcile: retry with backoff, or re-check after the interval. */
export function queueResult(out: { retry: boolean; requeueAfterMs: number }): ProcessResult {
  return out.retry ? { retry: true } : { requeueAfterMs: out.requeueAfterMs };
}
