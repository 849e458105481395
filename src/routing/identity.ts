// "Where does mail for this identity go?": the identity as the controller last
// judged it, the server it may use, and that server's routes, from the caches
// alone, so every replica answers without asking the API server.
import { findCondition, READY, type EmailServer, type SenderIdentity, type SenderIdentityStatus } from '../api/index.ts';
import type { DkimSigning, SenderRoute } from '../providers/types.ts';
import type { RoutingOptions } from './api-account.ts';
import { fallbackRoute, serverRoute } from './route.ts';
import { identityServer } from './server.ts';
import { signingFor } from './signing.ts';
import type { IdentitySource, World } from './world.ts';

/** Everything the doors need to know about an identity. */
export interface ResolvedIdentity {
  identity: SenderIdentity;
  server?: EmailServer;
  /** Ready as the controller last observed; when false, `reason`/`message` say why. */
  ready: boolean;
  reason?: string;
  message?: string;
  /** Where mail leaves (Secrets resolved); absent when it cannot be resolved now. */
  primary?: SenderRoute;
  /** The server's fallback SmtpTarget, for API providers. */
  fallback?: SenderRoute;
  /** The keys mail leaving through SMTP (primary or fallback) is DKIM-signed with: a SendingDomain of the server's namespace. */
  dkim?: DkimSigning;
}

/** undefined: no such SenderIdentity in that namespace. */
export function resolveIdentity(world: World & IdentitySource, namespace: string, name: string, opts: RoutingOptions): ResolvedIdentity | undefined {
  const identity = world.senderIdentity(namespace, name);
  if (!identity) return undefined;
  const ready = findCondition(identity.status?.conditions, READY);
  const resolved: ResolvedIdentity = { identity, ready: ready?.status === 'True' };
  if (ready && ready.status !== 'True') {
    resolved.reason = ready.reason;
    resolved.message = ready.message;
  } else if (!ready) {
    resolved.reason = 'NotReconciled';
    resolved.message = `SenderIdentity "${namespace}/${name}" has not been reconciled yet.`;
  }
  const server = identityServer(world, identity).server;
  if (!server) return resolved;
  resolved.server = server;
  const primary = serverRoute(world, server, opts).route;
  if (primary) resolved.primary = primary;
  const fallback = fallbackRoute(world, server);
  if (fallback) resolved.fallback = fallback;
  const dkim = signingFor(world, server.metadata.namespace, identity.spec.email)?.dkim;
  if (dkim) resolved.dkim = dkim;
  return resolved;
}

/** What the send endpoint adds to an identity's status: how workloads reach it, and its generated credentials. */
export interface IdentityExtras {
  endpoint?: SenderIdentityStatus['endpoint'];
  smtpCredentialsSecret?: string;
  /** Why the generated SMTP credentials Secret could not be written. */
  credentialsProblem?: string;
}
