// Who uses a server or target, as status shows it, and in-use protection: the
// finalizer is held while something uses the object (the PVC-protection
// pattern), so a delete waits and says who still uses it.
import type { Namespace } from '../routing/world.ts';
import { failed, ok, type Observation } from './conditions.ts';

/** `disabled` on an object deletes it at once even while in use. */
export const IN_USE_PROTECTION_ANNOTATION = 'email.postmaster.dev/in-use-protection';
export const DELETION_ALLOWED = 'DeletionAllowed';
export const DEFAULT_FOR = 'DefaultFor';
/** How many user names status and messages list before "and N more". */
export const MAX_NAMES = 10;

export interface Protected {
  kind: string;
  metadata: { namespace: string; name: string; deletionTimestamp?: string; annotations?: Record<string, string> };
}

export interface Protection {
  /** Whether the in-use finalizer should be on the object. */
  hold: boolean;
  /**
   * Set while a delete waits for users to go. Reported, not gating: the object
   * still delivers for its users meanwhile, which is what the protection is for.
   */
  observation?: Observation;
  /** The same sentence, for the front of the Ready message. */
  note?: string;
}

export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES).join(', ');
  return names.length > MAX_NAMES ? `${shown} and ${names.length - MAX_NAMES} more` : shown;
}

/**
 * Holds while users remain, unless the annotation disables it or the object's
 * namespace is being deleted (a namespace deletion must always complete).
 */
export function inUseProtection(obj: Protected, namespace: Namespace | undefined, users: readonly string[], usersAre: string, move: string): Protection {
  const disabled = obj.metadata.annotations?.[IN_USE_PROTECTION_ANNOTATION] === 'disabled';
  const namespaceGoing = !!namespace && (!!namespace.metadata.deletionTimestamp || namespace.status?.phase === 'Terminating');
  const hold = users.length > 0 && !disabled && !namespaceGoing;
  if (!obj.metadata.deletionTimestamp || !hold) return { hold };
  const message =
    `${obj.kind} "${obj.metadata.namespace}/${obj.metadata.name}" is being deleted but ${users.length} ${usersAre} still use${users.length === 1 ? 's' : ''} it ` +
    `(${listNames(users)}); it goes away once they ${move} or are deleted, or at once with the annotation ` +
    `${IN_USE_PROTECTION_ANNOTATION}=disabled.`;
  return { hold, observation: { ...failed(DELETION_ALLOWED, 'InUse', message), severity: 'info' }, note: `${message} `};
}

/** The DefaultFor condition: which namespaces a platform default serves, and which its allowedNamespaces leaves out. */
export function defaultForObservation(coverage: { admitted: string[]; refused: string[] }): Observation {
  if (coverage.refused.length > 0) {
    return {
      ...failed(
        DEFAULT_FOR,
        'DefaultForNotAllowed',
        `defaultFor.namespaceSelector selects namespaces allowedNamespaces does not admit (${listNames(coverage.refused)}): ` +
          'they do not get this server as their default; widen allowedNamespaces or narrow the selector.',
      ),
      // Reported, not gating: the server still works for the namespaces it admits.
      severity: 'info',
    };
  }
  if (coverage.admitted.length === 0) return ok(DEFAULT_FOR, 'NoNamespaceSelected', 'defaultFor.namespaceSelector selects no namespace yet.');
  return ok(DEFAULT_FOR, 'DefaultForNamespaces', `The default for ${coverage.admitted.length} namespaces: ${listNames(coverage.admitted)}.`);
}
