// The informer caches behind World: our three kinds, the Secrets they may
// reference and the Namespaces whose labels admit them. One per process; the
// controller reconciles from it and the doors route from it.
import type { Logger } from 'pino';
import type { EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
import { Informer, type KubeObject } from '../kube/informer.ts';
import type { KubeClient } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
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
  readonly secretInformer: Informer<Secret>;
  readonly namespaceInformer: Informer<Namespace>;

  constructor(client: KubeClient, opts: CacheOptions, log: Logger) {
    const informerOpts = { namespaces: opts.namespaces, resyncMs: opts.resyncMs, watchTimeoutSeconds: opts.watchTimeoutSeconds };
    this.smtpTargetInformer = new Informer(client, resources.smtpTarget, informerOpts, log);
    this.emailServerInformer = new Informer(client, resources.emailServer, informerOpts, log);
    this.senderIdentityInformer = new Informer(client, resources.senderIdentity, informerOpts, log);
    this.sendingDomainInformer = new Informer(client, resources.sendingDomain, informerOpts, log);
    this.secretInformer = new Informer(client, resources.secret, { ...informerOpts, fieldSelector: SECRET_FIELD_SELECTOR }, log);
    // Namespace labels decide allowedNamespaces selectors; namespaces are cluster-scoped.
    this.namespaceInformer = new Informer(client, resources.namespace, { ...informerOpts, namespaces: [] }, log);
  }

  secret = (ns: string, name: string) => this.secretInformer.get(ns, name);
  smtpTarget = (ns: string, name: string) => this.smtpTargetInformer.get(ns, name);
  emailServer = (ns: string, name: string) => this.emailServerInformer.get(ns, name);
  emailServers = (ns?: string) => this.emailServerInformer.list(ns);
  namespace = (name: string) => this.namespaceInformer.get('', name);
  namespaces = () => this.namespaceInformer.list();
  senderIdentities = () => this.senderIdentityInformer.list();
  senderIdentity = (ns: string, name: string) => this.senderIdentityInformer.get(ns, name);
  sendingDomains = (ns: string) => this.sendingDomainInformer.list(ns);

  start(): void {
    for (const i of this.informers()) i.start();
  }

  hasSynced(): boolean {
    return this.informers().every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.stop()));
  }

  private informers(): Informer<KubeObject>[] {
    return [this.smtpTargetInformer, this.emailServerInformer, this.senderIdentityInformer, this.sendingDomainInformer, this.secretInformer, this.namespaceInformer] as Informer<KubeObject>[];
  }
}
