// Which EmailServer an identity's mail goes through: the one it names, else its
// namespace's own default, else the one platform default (defaultFor) whose
// selector matches its namespace, and only where that server admits the namespace.
import type { EmailServer, SenderIdentity } from '../api/index.ts';
import { admits, selectorMatches } from './namespaces.ts';
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
  /** The server the identity expects, by name: what spec.serverRef names (even when missing), or the default found. */
  expected?: { namespace: string; name: string };
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
    ...(found.expected ? { expected: found.expected } : {}),
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
    const expected = { namespace: serverNs, name: ref.name };
    if (!server) {
      return {
        expected,
        reason: ServerLookupReason.ServerNotFound,
        message: `EmailServer "${serverNs}/${ref.name}" not found; it may have been deleted. Create it or point spec.serverRef elsewhere.`,
        waiting: true,
      };
    }
    return { server, expected, reason: ServerLookupReason.Resolved, message: `Uses EmailServer "${serverNs}/${ref.name}".`, waiting: false };
  }
  const defaults = world.emailServers(ns).filter((s) => s.spec.default === true);
  if (defaults.length === 0) return platformDefault(world, ns);
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
    expected: { namespace: ns, name: server.metadata.name },
    reason: ServerLookupReason.Resolved,
    message: `Uses the namespace default EmailServer "${ns}/${server.metadata.name}".`,
    waiting: false,
  };
}

/** The servers whose defaultFor selects namespace `ns`, admitted there or not. */
export function defaultsSelecting(world: World, ns: string): EmailServer[] {
  const labels = world.namespace(ns)?.metadata.labels ?? {};
  return world.emailServers().filter((s) => s.spec.defaultFor && selectorMatches(s.spec.defaultFor.namespaceSelector, labels));
}

/** A namespace without a default of its own: the one platform default that selects and admits it. */
function platformDefault(world: World, ns: string): ServerLookup {
  const defaults = defaultsSelecting(world, ns).filter((s) => admits(world, s, ns));
  const named = (s: EmailServer) => `"${s.metadata.namespace}/${s.metadata.name}"`;
  if (defaults.length === 0) {
    return {
      reason: ServerLookupReason.NoDefaultServer,
      message:
        `spec.serverRef is not set, namespace "${ns}" has no EmailServer with default: true, ` +
        "and no EmailServer's defaultFor selects it.",
      waiting: true,
    };
  }
  if (defaults.length > 1) {
    const names = defaults.map(named).sort().join(' and ');
    return {
      reason: ServerLookupReason.MultipleDefaultServers,
      message:
        `spec.serverRef is not set and ${defaults.length} EmailServers are the default for namespace "${ns}" (${names}): ` +
        'narrow their defaultFor.namespaceSelector, give the namespace its own default, or set spec.serverRef.',
      waiting: false,
    };
  }
  const server = defaults[0]!;
  return {
    server,
    expected: { namespace: server.metadata.namespace, name: server.metadata.name },
    reason: ServerLookupReason.Resolved,
    message: `Uses EmailServer ${named(server)}, the default for namespace "${ns}" (defaultFor).`,
    waiting: false,
  };
}
