// Which EmailServer an identity's mail goes through: the one it names, or its
// namespace's single default, and only where that server admits the namespace.
import type { EmailServer, SenderIdentity } from '../api/index.ts';
import { admits } from './namespaces.ts';
import type { World } from './world.ts';

export const ServerLookupReason = {
  ServerNotFound: 'EmailServerNotFound',
  NoDefaultServer: 'NoDefaultServer',
  MultipleDefaultServers: 'MultipleDefaultServers',
  NotAllowed: 'NamespaceNotAllowed',
  Resolved: 'ServerResolved',
} as const;

export interface ServerLookup {
  /** Absent when no server may be used; `reason` and `message` say why. */
  server?: EmailServer;
  reason: string;
  /** A sentence a person can act on. */
  message: string;
  /** When no server: true if another object appearing can fix it, false if only a spec change can. */
  waiting: boolean;
}

/** The identity's EmailServer, if it has one it may use. */
export function identityServer(world: World, identity: SenderIdentity): ServerLookup {
  const found = findServer(world, identity);
  const ns = identity.metadata.namespace;
  const server = found.server;
  if (!server || admits(world, server, ns)) return found;
  const from = server.spec.allowedNamespaces?.from ?? 'Same';
  return {
    reason: ServerLookupReason.NotAllowed,
    message:
      `EmailServer "${server.metadata.namespace}/${server.metadata.name}" does not admit namespace "${ns}" ` +
      `(allowedNamespaces.from is ${from}); ask its owners to allow it.`,
    waiting: false,
  };
}

/** The named server, or the namespace's single default; admission is not checked here. */
function findServer(world: World, identity: SenderIdentity): ServerLookup {
  const ns = identity.metadata.namespace;
  const ref = identity.spec.serverRef;
  if (ref) {
    const serverNs = ref.namespace ?? ns;
    const server = world.emailServer(serverNs, ref.name);
    if (!server) {
      return {
        reason: ServerLookupReason.ServerNotFound,
        message: `EmailServer "${serverNs}/${ref.name}" not found; it may have been deleted. Create it or point spec.serverRef elsewhere.`,
        waiting: true,
      };
    }
    return { server, reason: ServerLookupReason.Resolved, message: `Uses EmailServer "${serverNs}/${ref.name}".`, waiting: false };
  }
  const defaults = world.emailServers(ns).filter((s) => s.spec.default === true);
  if (defaults.length === 0) {
    return {
      reason: ServerLookupReason.NoDefaultServer,
      message: `spec.serverRef is not set and namespace "${ns}" has no EmailServer with default: true.`,
      waiting: true,
    };
  }
  if (defaults.length > 1) {
    const names = defaults.map((s) => `"${s.metadata.name}"`).sort().join(', ');
    return {
      reason: ServerLookupReason.MultipleDefaultServers,
      message: `spec.serverRef is not set and namespace "${ns}" has ${defaults.length} default EmailServers (${names}): keep default: true on one, or set spec.serverRef.`,
      waiting: false,
    };
  }
  const server = defaults[0]!;
  return {
    server,
    reason: ServerLookupReason.Resolved,
    message: `Uses the namespace default EmailServer "${ns}/${server.metadata.name}".`,
    waiting: false,
  };
}
