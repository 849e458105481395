// The SecretsResolved condition, from what the routing layer found.
import type { ResolvedSecrets } from '../routing/secrets.ts';
import { failed, ok, type Observation } from './conditions.ts';

export const SECRETS_RESOLVED = 'SecretsResolved';

export function secretsObservation(resolved: ResolvedSecrets): Observation {
  return resolved.ok
    ? ok(SECRETS_RESOLVED, resolved.reason, resolved.message)
    : failed(SECRETS_RESOLVED, resolved.reason, resolved.message);
}
