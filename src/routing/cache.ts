// The informer caches behind World: our three kinds, the Secrets they may
// reference and the Namespaces whose labels admit them. One per process; the
// controller reconciles from it and the doors route from it. Secrets are
// watched as metadata only; the data of those our objects reference is
// fetched and followed by ReferencedSecrets.
import type { Logger } from 'pino';
import type { EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
import { Informer, type InformerHandler, type KubeObject } from '../kube/informer.ts';
import type { KubeClient } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
import { IdentityIndex } from './identity-index.ts';
import { ReferencedSecrets, secretNames, type SecretUser } from './referenced-secrets.ts';
import type { IdentitySource, Namespace, Secret, World } from './world.ts';

export interface CacheOptions {
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  resyncMs: number;
  watchTimeoutSeconds: number;
}

/** Helm release and legacy token Secrets are never referenced and can be large: not cached. */
export const SECRET_FIELD_SELECTOR = 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token';

export class ClusterCache implements World, IdentitySource {
  readonly smtpTargetInformer: Informer<SmtpTarget & KubeObject>;
  readonly emailServerInformer: Informer<EmailServer & KubeObject>;
  readonly senderIdentityInformer: Informer<SenderIdentity & KubeObject>;
  readonly sendingDomainInformer: Informer<SendingDomain & KubeObject>;
  /** Metadata only: names and resourceVersions, never values. */
  readonly secretInformer: Informer<Secret>;
  readonly namespaceInformer: Informer<Namespace>;
  readonly referencedSecrets: ReferencedSecrets;
  private readonly identityIndex: IdentityIndex;
  private synced = false;

  constructor(client: KubeClient, opts: CacheOptions, log: Logger) {
    const informerOpts = { namespaces: opts.namespaces, resyncMs: opts.resyncMs, watchTimeoutSeconds: opts.watchTimeoutSeconds };
    this.smtpTargetInformer = new Informer(client, resources.smtpTarget, informerOpts, log);
    this.emailServerInformer = new Informer(client, resources.emailServer, informerOpts, log);
    this.senderIdentityInformer = new Informer(client, resources.senderIdentity, informerOpts, log);
    this.sendingDomainInformer = new Informer(client, resources.sendingDomain, informerOpts, log);
    this.secretInformer = new Informer(
      client,
      resources.secret,
      { ...informerOpts, fieldSelector: SECRET_FIELD_SELECTOR, metadataOnly: true, transform: bareMetadata },
      log,
    );
    this.referencedSecrets = new ReferencedSecrets(client, this.secretInformer, log);
    this.secretInformer.onChange((event, secret) => this.referencedSecrets.onMeta(event, secret));
    // Registered before anyone else's handlers: a fetch is in flight before a reconcile is queued.
    const follow = (kind: SecretUser) => (event: string, obj: KubeObject) => {
      const key = `${kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
      this.referencedSecrets.setUses(key, obj.metadata.namespace ?? '', event === 'delete' ? [] : secretNames(kind, obj));
    };
    this.identityIndex = new IdentityIndex(this.senderIdentityInformer);
    this.smtpTargetInformer.onChange(follow('SmtpTarget'));
    this.emailServerInformer.onChange(follow('EmailServer'));
    this.senderIdentityInformer.onChange(follow('SenderIdentity'));
    this.sendingDomainInformer.onChange(follow('SendingDomain'));
    // Namespace labels decide allowedNamespaces selectors; namespaces are cluster-scoped.
    this.namespaceInformer = new Informer(client, resources.namespace, { ...informerOpts, namespaces: [] }, log);
  }

  secret = (ns: string, name: string) => this.referencedSecrets.get(ns, name);

  /** Changes of referenced Secrets' data (fetched, changed, deleted). */
  onSecretChange(handler: InformerHandler<Secret>): void {
    this.referencedSecrets.onChange(handler);
  }

  /** Resolves once the referenced Secrets' data in flight has arrived (bounded). */
  secretsSettled(): Promise<void> {
    return this.referencedSecrets.settled();
  }
  smtpTarget = (ns: string, name: string) => this.smtpTargetInformer.get(ns, name);
  emailServer = (ns: string, name: string) => this.emailServerInformer.get(ns, name);
  emailServers = (ns?: string) => this.emailServerInformer.list(ns);
  namespace = (name: string) => this.namespaceInformer.get('', name);
  namespaces = () => this.namespaceInformer.list();
  senderIdentities = () => this.senderIdentityInformer.list();
  senderIdentity = (ns: string, name: string) => this.senderIdentityInformer.get(ns, name);
  sendingDomains = (ns: string) => this.sendingDomainInformer.list(ns);
  senderIdentityCandidates = (ns: string, name: string) => this.identityIndex.candidates(ns, name);

  start(): void {
    for (const i of this.informers()) i.start();
  }

  /** Every informer listed, and the data of the Secrets they reference fetched once (the doors read it). */
  hasSynced(): boolean {
    this.synced ||= this.informers().every((i) => i.hasSynced()) && this.referencedSecrets.fetching === 0;
    return this.synced;
  }

  async stop(): Promise<void> {
    this.referencedSecrets.stop();
    await Promise.all(this.informers().map((i) => i.stop()));
  }

  private informers(): Informer<KubeObject>[] {
    return [this.smtpTargetInformer, this.emailServerInformer, this.senderIdentityInformer, this.sendingDomainInformer, this.secretInformer, this.namespaceInformer] as Informer<KubeObject>[];
  }
}

/** Of an unreferenced Secret only what tells it apart: a few dozen bytes, however large its data. */
function bareMetadata(s: Secret): Secret {
  const { name, namespace, uid, resourceVersion } = s.metadata;
  return { metadata: { name, ...(namespace ? { namespace } : {}), ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) } };
}
