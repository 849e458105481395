// Who uses what: the identities that resolve to a server, the servers that send
// through a target, and the namespaces a platform default covers. Read by the
// reconcilers for status.usage and in-use protection.
import type { EmailServer, SenderIdentity, SmtpTarget } from '../api/index.ts';
import { admits } from './namespaces.ts';
import { defaultsSelecting, identityServer } from './server.ts';
import { goingAway, type World } from './world.ts';

/** Held on an EmailServer or SmtpTarget while something uses it (the PVC-protection pattern). */
export const IN_USE_FINALIZER = 'email.postmaster.dev/in-use-protection';

const same = (a: { metadata: { namespace: string; name: string } }, b: { metadata: { namespace: string; name: string } }) =>
  a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name;

/** Identities that send through `server` now, except those on their way out; sorted by namespace/name. */
export function serverUsers(world: World, server: EmailServer): SenderIdentity[] {
  // The index keeps this linear in the server's own identities, not in the cluster's (1,000 servers × 10,000 identities).
  const candidates = world.senderIdentityCandidates?.(server.metadata.namespace, server.metadata.name) ?? world.senderIdentities();
  return candidates
    .filter((identity) => !goingAway(world, identity))
    .filter((identity) => {
      const found = identityServer(world, identity).server;
      return !!found && same(found, server);
    })
    .sort((a, b) => qualified(a).localeCompare(qualified(b)));
}

export interface TargetUser {
  server: EmailServer;
  as: 'primary' | 'fallback';
}

/** Servers of the target's namespace that send through it, except those on their way out. */
export function targetUsers(world: World, target: SmtpTarget): TargetUser[] {
  const name = target.metadata.name;
  const users: TargetUser[] = [];
  for (const server of world.emailServers(target.metadata.namespace)) {
    // A server held by its own in-use protection still sends, so it still uses the target.
    if (goingAway(world, server) && !server.metadata.finalizers?.includes(IN_USE_FINALIZER)) continue;
    if (server.spec.provider === 'SMTP' && server.spec.smtp?.targetRef.name === name) users.push({ server, as: 'primary' });
    else if (server.spec.provider !== 'SMTP' && server.spec.fallback?.smtpTargetRef.name === name) users.push({ server, as: 'fallback' });
  }
  return users.sort((a, b) => a.server.metadata.name.localeCompare(b.server.metadata.name));
}

/** The namespaces a defaultFor selects, split by whether allowedNamespaces admits them. */
export function defaultForCoverage(world: World, server: EmailServer): { admitted: string[]; refused: string[] } {
  const admitted: string[] = [];
  const refused: string[] = [];
  if (!server.spec.defaultFor) return { admitted, refused };
  for (const ns of world.namespaces()) {
    const name = ns.metadata.name;
    if (!defaultsSelecting(world, name).some((s) => same(s, server))) continue;
    (admits(world, server, name) ? admitted : refused).push(name);
  }
  return { admitted: admitted.sort(), refused: refused.sort() };
}

export const qualified = (o: { metadata: { namespace: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
