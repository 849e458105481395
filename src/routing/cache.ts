// The informer caches behind World: our three kinds, the Secrets they may
// reference and the Namespaces whose labels admit them. One per process; the
// controller reconciles from it and the doors route from it.
import type { Logger } from 'pino';
import type { EmailServer, SenderIdentity, SmtpTarget } from '../api/index.ts';
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
  readonly smtpTargets: Informer<SmtpTarget & KubeObject>;
  readonly emailServersInformer: Informer<EmailServer & KubeObject>;
  readonly senderIdentities: Informer<SenderIdentity & KubeObject>;
  readonly secrets: Informer<Secret>;
  readonly namespaces: Informer<Namespace>;

  constructor(client: KubeClient, opts: CacheOptions, log: Logger) {
    const informerOpts = { namespaces: opts.namespaces, resyncMs: opts.resyncMs, watchTimeoutSeconds: opts.watchTimeoutSeconds };
    this.smtpTargets = new Informer(client, resources.smtpTarget, informerOpts, log);
    this.emailServersInformer = new Informer(client, resources.emailServer, informerOpts, log);
    this.senderIdentities = new Informer(client, resources.senderIdentity, informerOpts, log);
    this.secrets = new Informer(client, resources.secret, { ...informerOpts, fieldSelector: SECRET_FIELD_SELECTOR }, log);
    // Namespace labels decide allowedNamespaces selectors; namespaces are cluster-scoped.
    this.namespaces = new Informer(client, resources.namespace, { ...informerOpts, namespaces: [] }, log);
  }

  secret = (ns: string, name: string) => this.secrets.get(ns, name);
  smtpTarget = (ns: string, name: string) => this.smtpTargets.get(ns, name);
  emailServer = (ns: string, name: string) => this.emailServersInformer.get(ns, name);
  emailServers = (ns: string) => this.emailServersInformer.list(ns);
  namespace = (name: string) => this.namespaces.get('', name);
  senderIdentity = (ns: string, name: string) => this.senderIdentities.get(ns, name);

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
    return [this.smtpTargets, this.emailServersInformer, this.senderIdentities, this.secrets, this.namespaces] as Informer<KubeObject>[];
  }
}
