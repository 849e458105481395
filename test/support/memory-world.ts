// A World filled by hand: what the informer caches would hold, for local tests of
// the routing layer, the reconcilers and the doors' resolution.
import type { EmailServer, SenderIdentity, SendingDomain, SmtpTarget } from '../../src/api/index.ts';
import type { IdentitySource, Namespace, Secret, World } from '../../src/routing/world.ts';

export const b64 = (s: string) => Buffer.from(s).toString('base64');

export class MemoryWorld implements World, IdentitySource {
  secrets = new Map<string, Secret>();
  targets = new Map<string, SmtpTarget>();
  servers = new Map<string, EmailServer>();
  namespaceMap = new Map<string, Namespace>();
  identities = new Map<string, SenderIdentity>();
  domains: SendingDomain[] = [];
  secret = (ns: string, n: string) => this.secrets.get(`${ns}/${n}`);
  smtpTarget = (ns: string, n: string) => this.targets.get(`${ns}/${n}`);
  emailServer = (ns: string, n: string) => this.servers.get(`${ns}/${n}`);
  emailServers = (ns?: string) => [...this.servers.values()].filter((s) => ns === undefined || s.metadata.namespace === ns);
  namespace = (n: string) => this.namespaceMap.get(n);
  namespaces = () => [...this.namespaceMap.values()];
  senderIdentities = () => [...this.identities.values()];
  senderIdentity = (ns: string, n: string) => this.identities.get(`${ns}/${n}`);
  sendingDomains = (ns: string) => this.domains.filter((d) => d.metadata.namespace === ns);
  addSecret(ns: string, name: string, data: Record<string, string>) {
    this.secrets.set(`${ns}/${name}`, {
      metadata: { name, namespace: ns },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    });
  }
  addNamespace(name: string, labels: Record<string, string> = {}, extra: Partial<Namespace> = {}) {
    this.namespaceMap.set(name, { metadata: { name, labels }, ...extra });
  }
  add(obj: EmailServer | SmtpTarget | SenderIdentity) {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    if (obj.kind === 'EmailServer') this.servers.set(key, obj);
    else if (obj.kind === 'SmtpTarget') this.targets.set(key, obj);
    else this.identities.set(key, obj);
  }
}

export function emailServer(ns: string, name: string, spec: Partial<EmailServer['spec']> = {}, extra: Partial<EmailServer> = {}): EmailServer {
  return {
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'EmailServer',
    metadata: { name, namespace: ns, generation: 1 },
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, ...spec } as EmailServer['spec'],
    ...extra,
  };
}

export function smtpTarget(ns: string, name: string, spec: Partial<SmtpTarget['spec']> = {}, extra: Partial<SmtpTarget> = {}): SmtpTarget {
  return {
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'SmtpTarget',
    metadata: { name, namespace: ns, generation: 1 },
    spec: { host: 'smtp.example.com', port: 587, security: 'STARTTLS', ...spec },
    ...extra,
  };
}

export function senderIdentity(ns: string, name: string, spec: Partial<SenderIdentity['spec']> = {}, extra: Partial<SenderIdentity> = {}): SenderIdentity {
  return {
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'SenderIdentity',
    metadata: { name, namespace: ns, generation: 1 },
    spec: { email: `${name}@example.com`, ...spec },
    ...extra,
  };
}
