// The read-only view of the cluster that reconcilers and doors both read:
// what the informer caches hold, behind an interface tests can fill by hand.
import type { EmailServer, SenderIdentity, SmtpTarget } from '../api/index.ts';
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
  emailServers(namespace: string): EmailServer[];
  namespace(name: string): Namespace | undefined;
}

/** The doors also look identities up; reconcilers get theirs from the work queue. */
export interface IdentitySource {
  senderIdentity(namespace: string, name: string): SenderIdentity | undefined;
}

/** Keys of what a resolution read, so a change of any of them reconciles its reader again. */
export const refKey = {
  secret: (ns: string, name: string) => `Secret/${ns}/${name}`,
  smtpTarget: (ns: string, name: string) => `SmtpTarget/${ns}/${name}`,
  emailServer: (ns: string, name: string) => `EmailServer/${ns}/${name}`,
  /** Identities that use "the namespace's default server" depend on every server there. */
  defaultServer: (ns: string) => `DefaultServer/${ns}`,
  namespace: (name: string) => `Namespace/${name}`,
};
