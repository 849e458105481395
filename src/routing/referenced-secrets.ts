// The data of the Secrets our objects reference, and of no others. The Secrets
// informer holds metadata only (a cluster has tens of thousands of Secrets:
// Helm releases, tokens, certificates); this store fetches each referenced
// Secret in full, re-fetches it when its resourceVersion moves, and forgets it
// when nothing references it any more. Reads stay synchronous map look-ups, so
// the doors are as fast as with a full cache.
import type { Logger } from 'pino';
import type { EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
import { errorText, slim, type InformerEvent, type InformerHandler, type KubeObject } from '../kube/informer.ts';
import { isNotFound, objectPath, type KubeClient } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
import type { Secret } from './world.ts';

const RETRY_MS = 1000;

/** The Secret names an object's spec references (its own namespace). */
export type SecretUser = 'SmtpTarget' | 'EmailServer' | 'SenderIdentity' | 'SendingDomain';

export function secretNames(kind: SecretUser, obj: KubeObject): string[] {
  const names: (string | undefined)[] = [];
  if (kind === 'SmtpTarget') {
    const { spec } = obj as SmtpTarget;
    const oauth2 = spec.credentials?.oauth2;
    names.push(spec.credentials?.secretRef?.name, spec.tls?.caSecretRef?.name);
    names.push(oauth2?.microsoft?.secretRef.name, oauth2?.google?.secretRef.name, oauth2?.refreshToken?.secretRef.name);
  } else if (kind === 'EmailServer') {
    const { spec } = obj as EmailServer;
    names.push(spec.sendgrid?.apiKeySecretRef.name, spec.sparkpost?.apiKeySecretRef.name, spec.microsoftGraph?.app.secretRef.name);
    names.push(spec.incoming?.credentials.secretRef?.name, spec.incoming?.tls?.caSecretRef?.name);
  } else if (kind === 'SendingDomain') {
    // The DKIM keys: the send path signs with them, the reconciler checks them.
    const { dkim } = (obj as SendingDomain).spec;
    for (const key of [dkim, dkim.secondary]) names.push(key?.privateKeySecretRef?.name, key?.generate?.secretName);
  } else {
    // The generated SMTP credentials: the SMTP door checks logins against them.
    names.push((obj as SenderIdentity).spec.smtpCredentials?.secretName);
  }
  return [...new Set(names.filter((n): n is string => !!n))];
}

export class ReferencedSecrets {
  private readonly data = new Map<string, Secret>();
  /** Secret key -> keys of the objects that reference it. */
  private readonly users = new Map<string, Set<string>>();
  /** Object key -> the Secret keys it references. */
  private readonly uses = new Map<string, string[]>();
  /** Fetches in flight; a key in `again` changed meanwhile and is fetched once more. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly handlers: InformerHandler<Secret>[] = [];
  private idle: { promise: Promise<void>; resolve: () => void } | undefined;
  private stopped = false;
  private readonly client: KubeClient;
  private readonly meta: { get(ns: string, name: string): Secret | undefined; hasSynced(): boolean };
  private readonly log: Logger;

  constructor(client: KubeClient, meta: ReferencedSecrets['meta'], log: Logger) {
    this.client = client;
    this.meta = meta;
    this.log = log.child({ component: 'referenced-secrets' });
  }

  get(ns: string, name: string): Secret | undefined {
    return this.data.get(`${ns}/${name}`);
  }

  /** How many Secrets have their data cached (metrics, tests). */
  get size(): number {
    return this.data.size;
  }

  /** Fetches in flight: a replica is not ready to serve until its referenced Secrets arrived. */
  get fetching(): number {
    return this.inFlight.size;
  }

  onChange(handler: InformerHandler<Secret>): void {
    this.handlers.push(handler);
  }

  /** Records what one object references now (none: it is gone). */
  setUses(objectKey: string, ns: string, names: string[]): void {
    const next = names.map((n) => `${ns}/${n}`);
    const before = this.uses.get(objectKey) ?? [];
    if (next.length === 0) this.uses.delete(objectKey);
    else this.uses.set(objectKey, next);
    for (const key of next) {
      let set = this.users.get(key);
      if (!set) this.users.set(key, (set = new Set()));
      const fresh = set.size === 0;
      set.add(objectKey);
      if (!fresh || this.data.has(key)) continue;
      const [sns = '', sname = ''] = key.split('/');
      // Known absent: fetched when the metadata watch sees it appear.
      if (this.meta.hasSynced() && !this.meta.get(sns, sname)) continue;
      this.fetch(key);
    }
    for (const key of before) {
      if (next.includes(key)) continue;
      const set = this.users.get(key);
      set?.delete(objectKey);
      if (set && set.size === 0) {
        this.users.delete(key);
        // Nobody reads it any more: keep no copy of its values.
        this.data.delete(key);
      }
    }
  }

  /** A metadata event of the Secrets informer. */
  onMeta(event: InformerEvent, secret: Secret): void {
    const key = `${secret.metadata.namespace ?? ''}/${secret.metadata.name}`;
    if (!this.users.has(key)) return;
    if (event === 'delete') {
      const old = this.data.get(key);
      this.data.delete(key);
      if (old) this.emit('delete', old);
      return;
    }
    if (this.data.get(key)?.metadata.resourceVersion === secret.metadata.resourceVersion) return;
    this.fetch(key);
  }

  /** Resolves once no fetch is in flight (or after `maxMs`): reconciles read settled data. */
  settled(maxMs = 5000): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    if (!this.idle) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.idle = { promise, resolve };
    }
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((r) => (timer = setTimeout(r, maxMs)));
    return Promise.race([this.idle.promise, cap]).finally(() => clearTimeout(timer));
  }

  stop(): void {
    this.stopped = true;
  }

  private fetch(key: string): void {
    if (this.inFlight.has(key)) {
      this.again.add(key);
      return;
    }
    const run = this.load(key).finally(() => {
      this.inFlight.delete(key);
      if (this.again.delete(key) && this.users.has(key)) this.fetch(key);
      if (this.inFlight.size === 0 && this.idle) {
        this.idle.resolve();
        this.idle = undefined;
      }
    });
    this.inFlight.set(key, run);
  }

  private async load(key: string): Promise<void> {
    const [ns = '', name = ''] = key.split('/');
    while (!this.stopped && this.users.has(key)) {
      try {
        const secret = slim(await this.client.get<Secret>(objectPath(resources.secret, ns, name)));
        if (!this.users.has(key)) return;
        const old = this.data.get(key);
        this.data.set(key, secret);
        if (!old) this.emit('add', secret);
        else if (JSON.stringify(old.data) !== JSON.stringify(secret.data) || old.type !== secret.type) this.emit('update', secret, old);
        return;
      } catch (err) {
        if (isNotFound(err)) {
          const old = this.data.get(key);
          this.data.delete(key);
          if (old) this.emit('delete', old);
          return;
        }
        this.log.warn({ secret: key, err: errorText(err), retryInMs: RETRY_MS }, 'fetching a referenced Secret failed; retrying');
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private emit(event: InformerEvent, obj: Secret, old?: Secret): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.log.error({ err: errorText(err) }, 'secret handler failed');
      }
    }
  }
}
