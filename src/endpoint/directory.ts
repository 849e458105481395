// Identities, their servers and routes, read from the caches through the
// routing layer, and the check of generated SMTP logins.
import { timingSafeEqual } from 'node:crypto';
import type { RoutingOptions } from '../routing/api-account.ts';
import { resolveIdentity } from '../routing/identity.ts';
import type { IdentitySource, World } from '../routing/world.ts';
import { parseSmtpUsername, PASSWORD_KEY } from './credentials.ts';
import type { Directory } from './types.ts';

export function createDirectory(world: World & IdentitySource, opts: RoutingOptions): Directory {
  return {
    resolve: (namespace, name) => resolveIdentity(world, namespace, name, opts),

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
