// The read-only view of the cluster that reconcilers and doors both read:
// what the informer caches hold, behind an interface tests can fill by hand.
import type { EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../api/index.ts';
import type { KubeObject } from '../kube/informer.ts';

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface Namespace extends KubeObject {
  status?: { phase?: string };
}

export interface World {
  secret(namespace: string, name: string): Secret | undefined;
  smtpTarget(namespace: string, name: string): SmtpTarget | undefined;
  emailServer(namespace: string, name: string): EmailServer | undefined;
  /** The servers of one namespace, or of every watched namespace when none is given. */
  emailServers(namespace?: string): EmailServer[];
  namespace(name: string): Namespace | undefined;
  namespaces(): Namespace[];
  /** Every watched identity: who uses a server is counted from them. */
  senderIdentities(): SenderIdentity[];
  /** The SendingDomains of one namespace (absent: none are watched). */
  sendingDomains?(namespace: string): SendingDomain[];
  /**
   * Only the identities that could resolve to this server: those naming it and
   * those naming none (a default). Optional: without it, every identity is checked.
   */
  senderIdentityCandidates?(serverNamespace: string, serverName: string): SenderIdentity[];
}

/** The doors also look one identity up by name. */
export interface IdentitySource {
  senderIdentity(namespace: string, name: string): SenderIdentity | undefined;
}

/** Whether an object (or its namespace) is on its way out: it no longer counts as a user of anything. */
export function goingAway(world: World, obj: { metadata: { namespace?: string; deletionTimestamp?: string } }): boolean {
  if (obj.metadata.deletionTimestamp) return true;
  const ns = obj.metadata.namespace ? world.namespace(obj.metadata.namespace) : undefined;
  return !!ns && (!!ns.metadata.deletionTimestamp || ns.status?.phase === 'Terminating');
}

/** Keys of what a resolution read, so a change of any of them reconciles its reader again. */
export const refKey = {
  secret: (ns: string, name: string) => `Secret/${ns}/${name}`,
  smtpTarget: (ns: string, name: string) => `SmtpTarget/${ns}/${name}`,
  emailServer: (ns: string, name: string) => `EmailServer/${ns}/${name}`,
  /** Identities that use "the namespace's default server" depend on every server there. */
  defaultServer: (ns: string) => `DefaultServer/${ns}`,
  namespace: (name: string) => `Namespace/${name}`,
  /** Identities' signing depends on every SendingDomain of their server's namespace. */
  sendingDomains: (ns: string) => `SendingDomains/${ns}`,
  /** Identities naming no server may get a platform default (defaultFor) from any namespace. */
  platformDefaults: () => 'PlatformDefaults',
  /** Servers with defaultFor report which namespaces they are the default of. */
  anyNamespace: () => 'Namespaces',
};
