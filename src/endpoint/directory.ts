// Identities, their servers and routes, read from the controller's caches:
// every replica can answer without asking the API server.
import { timingSafeEqual } from 'node:crypto';
import { findCondition, READY } from '../controller/conditions.ts';
import type { EmailServerOptions } from '../controller/emailserver.ts';
import { admits, findServer, senderRoute } from '../controller/senderidentity.ts';
import { resolveSmtpTarget } from '../controller/endpoints.ts';
import type { SenderRoute } from '../controller/tester.ts';
import type { World } from '../controller/world.ts';
import type { SenderIdentity } from '../api/index.ts';
import { parseSmtpUsername, PASSWORD_KEY } from './credentials.ts';
import type { Directory, ResolvedIdentity } from './types.ts';

export interface IdentitySource {
  senderIdentity(namespace: string, name: string): SenderIdentity | undefined;
}

export function createDirectory(world: World & IdentitySource, opts: EmailServerOptions): Directory {
  return {
    resolve(namespace, name) {
      const identity = world.senderIdentity(namespace, name);
      if (!identity) return undefined;
      const ready = findCondition(identity.status?.conditions, READY);
      const found = findServer(world, identity);
      const server = found.server && admits(world, found.server, namespace) ? found.server : undefined;
      const resolved: ResolvedIdentity = { identity, ready: ready?.status === 'True' };
      if (ready && ready.status !== 'True') {
        resolved.reason = ready.reason;
        resolved.message = ready.message;
      } else if (!ready) {
        resolved.reason = 'NotReconciled';
        resolved.message = `SenderIdentity "${namespace}/${name}" has not been reconciled yet.`;
      }
      if (!server) return resolved;
      resolved.server = server;
      const primary = senderRoute(world, server, opts).route;
      if (primary) resolved.primary = primary;
      const fallbackName = server.spec.provider !== 'SMTP' ? server.spec.fallback?.smtpTargetRef.name : undefined;
      const target = fallbackName ? world.smtpTarget(server.metadata.namespace, fallbackName) : undefined;
      const endpoint = target ? resolveSmtpTarget(world, target).endpoint : undefined;
      if (endpoint) resolved.fallback = { provider: 'SMTP', endpoint } satisfies SenderRoute;
      return resolved;
    },

    smtpLogin(username, password) {
      const parsed = parseSmtpUsername(username);
      if (!parsed) return undefined;
      const identity = world.senderIdentity(parsed.namespace, parsed.identity);
      const secretName = identity?.spec.smtpCredentials?.secretName;
      if (!identity || !secretName) return undefined;
      const stored = world.secret(parsed.namespace, secretName)?.data?.[PASSWORD_KEY];
      if (!stored) return undefined;
      const expected = Buffer.from(stored, 'base64');
      const given = Buffer.from(password, 'utf8');
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
      return parsed;
    },
  };
}
