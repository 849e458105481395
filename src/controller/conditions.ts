// Pure functions over status conditions, with Flux / kstatus semantics:
// lastTransitionTime moves only when status flips; Ready summarises;
// Reconciling while work is under way; Stalled when only a change can help.
import { findCondition, READY, RECONCILING, STALLED, type Condition, type ConditionStatus } from '../api/index.ts';

/** Referenced objects (targets, servers) exist and may be used. Shared by the kinds that reference. */
export const REFERENCES_RESOLVED = 'ReferencesResolved';

/** How a specific condition weighs in the Ready summary. */
export type Severity =
  /** True and fine. */
  | 'ok'
  /** Failed; retrying later may help (timeouts, 5xx). */
  | 'transient'
  /** Failed; only a change of spec or Secret can help. */
  | 'terminal'
  /** Waiting on something else (a referenced object not Ready yet). */
  | 'waiting'
  /** Not known and not gating Ready (no test ran, feature not configured). */
  | 'info';

export interface Observation {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  severity: Severity;
}

export const ok = (type: string, reason: string, message: string): Observation => ({
  type,
  status: 'True',
  reason,
  message,
  severity: 'ok',
});

export const failed = (
  type: string,
  reason: string,
  message: string,
  severity: 'transient' | 'terminal' | 'waiting' = 'terminal',
): Observation => ({ type, status: 'False', reason, message, severity });

export const unknown = (type: string, reason: string, message: string, severity: Severity = 'info'): Observation => ({
  type,
  status: 'Unknown',
  reason,
  message,
  severity,
});

/** Sets one condition, keeping lastTransitionTime unless the status changed. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>,
  generation: number,
  now: Date,
): Condition[] {
  const previous = findCondition(conditions, next.type);
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z');
  const condition: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    lastTransitionTime,
    observedGeneration: generation,
  };
  return [...conditions.filter((c) => c.type !== next.type), condition];
}

export function removeCondition(conditions: readonly Condition[], type: string): Condition[] {
  return conditions.filter((c) => c.type !== type);
}

/**
 * Computes the full condition list from a reconcile's observations: the
 * specific conditions as observed, plus Ready, Reconciling and Stalled.
 * Ready is True only when nothing gating failed; its reason and message are
 * those of the first observation that holds it back.
 */
export function summarize(
  previous: readonly Condition[],
  observations: readonly Observation[],
  readyMessage: string,
  generation: number,
  now: Date,
): Condition[] {
  // Conditions this reconcile did not mention are dropped: a feature turned off loses its condition.
  const managed = new Set([...observations.map((o) => o.type), READY, RECONCILING, STALLED]);
  let conditions: Condition[] = previous.filter((c) => managed.has(c.type));
  for (const o of observations) {
    conditions = setCondition(conditions, o, generation, now);
  }
  const blocker =
    observations.find((o) => o.severity === 'terminal') ??
    observations.find((o) => o.severity === 'transient') ??
    observations.find((o) => o.severity === 'waiting');

  if (!blocker) {
    conditions = setCondition(conditions, { type: READY, status: 'True', reason: 'Succeeded', message: readyMessage }, generation, now);
    conditions = removeCondition(removeCondition(conditions, RECONCILING), STALLED);
  } else if (blocker.severity === 'terminal') {
    conditions = setCondition(conditions, { type: READY, status: 'False', reason: blocker.reason, message: blocker.message }, generation, now);
    conditions = setCondition(conditions, { type: STALLED, status: 'True', reason: blocker.reason, message: blocker.message }, generation, now);
    conditions = removeCondition(conditions, RECONCILING);
  } else {
    const reconcilingReason = blocker.severity === 'transient' ? 'RetryingAfterFailure' : 'WaitingForDependency';
    conditions = setCondition(conditions, { type: READY, status: 'False', reason: blocker.reason, message: blocker.message }, generation, now);
    conditions = setCondition(
      conditions,
      { type: RECONCILING, status: 'True', reason: reconcilingReason, message: blocker.message },
      generation,
      now,
    );
    conditions = removeCondition(conditions, STALLED);
  }
  return order(conditions);
}

/** Ready first, then the kstatus pair, then specific conditions by name: a stable order keeps diffs quiet. */
function order(conditions: Condition[]): Condition[] {
  const rank = (t: string) => (t === READY ? 0 : t === RECONCILING ? 1 : t === STALLED ? 2 : 3);
  return [...conditions].sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}
