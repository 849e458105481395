// Identities by the server they name, and those that name none (they take a
// default): who uses a server is then found among its own identities, not by
// resolving every identity in the cluster for every server reconcile.
import type { SenderIdentity } from '../api/index.ts';
import type { Informer, KubeObject } from '../kube/informer.ts';

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class IdentityIndex {
  private readonly byServer = new Map<string, Set<string>>();
  private readonly unnamed = new Set<string>();
  private readonly informer: Informer<SenderIdentity & KubeObject>;

  constructor(informer: Informer<SenderIdentity & KubeObject>) {
    this.informer = informer;
    informer.onChange((event, obj, old) => {
      if (old) this.remove(old);
      else if (event === 'delete') this.remove(obj);
      if (event !== 'delete') this.add(obj);
    });
  }

  /** Identities naming `ns/name` as their server, plus every identity naming none. */
  candidates(ns: string, name: string): SenderIdentity[] {
    const keys = [...(this.byServer.get(`${ns}/${name}`) ?? []), ...this.unnamed];
    const found: SenderIdentity[] = [];
    for (const key of keys) {
      const slash = key.indexOf('/');
      const identity = this.informer.get(key.slice(0, slash), key.slice(slash + 1));
      if (identity) found.push(identity);
    }
    return found;
  }

  private serverKey(identity: SenderIdentity): string | undefined {
    const ref = identity.spec.serverRef;
    return ref ? `${ref.namespace ?? identity.metadata.namespace}/${ref.name}` : undefined;
  }

  private add(identity: SenderIdentity): void {
    const server = this.serverKey(identity);
    if (!server) {
      this.unnamed.add(keyOf(identity));
      return;
    }
    let set = this.byServer.get(server);
    if (!set) this.byServer.set(server, (set = new Set()));
    set.add(keyOf(identity));
  }

  private remove(identity: SenderIdentity): void {
    const server = this.serverKey(identity);
    if (!server) {
      this.unnamed.delete(keyOf(identity));
      return;
    }
    const set = this.byServer.get(server);
    set?.delete(keyOf(identity));
    if (set?.size === 0) this.byServer.delete(server);
  }
}
