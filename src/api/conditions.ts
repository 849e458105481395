// The kstatus condition types every kind carries, and how to find one: the
// part of the status contract that readers of status (the doors, the CLI) share
// with the reconcilers that write it.
import type { Condition } from './common.ts';

export const READY = 'Ready';
export const RECONCILING = 'Reconciling';
export const STALLED = 'Stalled';

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
