// Connection tests as the reconcilers see them: results mapped onto
// conditions, remembered between reconciles, and a tester that runs none.
import { createHash } from 'node:crypto';
import type { ConnectionTester } from '../providers/tester.ts';
import type { CheckResult } from '../providers/types.ts';
import { failed, ok, unknown, type Observation } from './conditions.ts';

export const noTester: ConnectionTester = {
  smtp: async () => undefined,
  provider: async () => undefined,
  mailbox: async () => undefined,
  verifySender: async () => undefined,
  graph: async () => undefined,
};

export const NO_TEST_RUN = 'NoTestRun';

/** How long a finished run serves other objects with the same test: a bulk apply, not a check interval. */
const SHARE_WINDOW_MS = 500;

/** Maps a check result onto a condition observation. */
export function observe<F>(type: string, result: CheckResult<F> | undefined, what: string): Observation {
  if (!result) return unknown(type, NO_TEST_RUN, `No test of ${what} has run: connection testing is not enabled.`);
  if (result.ok) return ok(type, result.reason, result.message);
  if (result.unknown) return unknown(type, result.reason, result.message);
  return failed(type, result.reason, result.message, result.transient ? 'transient' : 'terminal');
}

/**
 * Remembers the last result of each test with a hash of its inputs (Secret
 * values included, so only the hash is kept), so a reconcile re-tests only
 * when the inputs changed or the interval passed. Objects that run the same
 * test (the same endpoint and credentials, the same sender on the same route)
 * share one run while it is in flight (and its result for half a second): a
 * hundred targets on one relay applied together cost one connection test,
 * while an object created later is tested afresh.
 */
export class TestCache {
  private readonly entries = new Map<string, { hash: string; at: number; result: unknown }>();
  /** By kind of test and hash of inputs: the latest run, finished or in flight. */
  private readonly shared = new Map<string, { at: number; result?: unknown; running?: Promise<unknown> }>();
  private sweptAt = 0;

  async run<R>(
    key: string,
    inputs: unknown,
    intervalMs: number,
    now: number,
    test: () => Promise<R>,
  ): Promise<{ result: R; at: number; fresh: boolean }> {
    const hash = createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
    const cached = this.entries.get(key);
    const failedTransiently = isTransientFailure(cached?.result);
    // Requeues come back after the interval ±10% jitter: a result counts as due a little early,
    // so a requeue that lands at 0.9× the interval re-tests instead of waiting a whole interval more.
    if (cached && cached.hash === hash && now - cached.at < intervalMs * 0.85 && !failedTransiently) {
      return { result: cached.result as R, at: cached.at, fresh: false };
    }
    const { result, at } = await this.runShared(`${key.slice(key.lastIndexOf('/') + 1)}/${hash}`, intervalMs, now, test);
    this.entries.set(key, { hash, at, result });
    return { result, at, fresh: true };
  }

  /** One run per test kind and inputs at a time; a finished one serves others for the same window. */
  private async runShared<R>(sharedKey: string, intervalMs: number, now: number, test: () => Promise<R>): Promise<{ result: R; at: number }> {
    const hit = this.shared.get(sharedKey);
    if (hit?.running) return { result: (await hit.running) as R, at: hit.at };
    // Only a result of the same moment: a new object is tested, not told what another found minutes ago.
    if (hit && now - hit.at < Math.min(SHARE_WINDOW_MS, intervalMs * 0.85) && !isTransientFailure(hit.result)) {
      return { result: hit.result as R, at: hit.at };
    }
    const entry: { at: number; result?: unknown; running?: Promise<unknown> } = { at: now };
    const running = test();
    entry.running = running;
    this.shared.set(sharedKey, entry);
    try {
      entry.result = await running;
    } catch (err) {
      this.shared.delete(sharedKey);
      throw err;
    } finally {
      delete entry.running;
    }
    this.sweep(now);
    return { result: entry.result as R, at: now };
  }

  /** Drops shared results too old to serve anyone (at most every few seconds). */
  private sweep(now: number): void {
    if (now - this.sweptAt < 5 * SHARE_WINDOW_MS) return;
    this.sweptAt = now;
    for (const [k, v] of this.shared) if (!v.running && now - v.at > SHARE_WINDOW_MS) this.shared.delete(k);
  }

  /** Drops the results of `prefix`'s tests (an object deleted): a namesake created later is tested afresh. */
  forget(prefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }
}

function isTransientFailure(result: unknown): boolean {
  const r = result as CheckResult | undefined;
  return !!r && r.ok === false && r.transient === true;
}
