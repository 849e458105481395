import { kubectl } from './kubectl.ts';

export interface ConditionView {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Reads an object with kubectl, as a user would. */
export async function getObject<T = Record<string, unknown>>(kind: string, ns: string, name: string): Promise<T | undefined> {
  const r = await kubectl(['get', kind, name, '-n', ns, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
}

export async function getCondition(kind: string, ns: string, name: string, type: string): Promise<ConditionView | undefined> {
  const obj = await getObject<{ status?: { conditions?: ConditionView[] } }>(kind, ns, name);
  return obj?.status?.conditions?.find((c) => c.type === type);
}

/** Polls until `check` passes; the last failure explains a timeout. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 20_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
