// The connection-test cache as reconcilers use it: a result serves its object until
// the interval (less the requeue jitter) passes or its inputs change; objects with the
// same test share one run while it is in flight and for half a second after.
import { describe, expect, it } from 'vitest';
import { observe, TestCache } from '../../../src/controller/tester.ts';
import type { CheckResult } from '../../../src/providers/types.ts';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

/** A test that counts its runs and answers what it is told. */
function probe(answer: () => CheckResult = () => ({ ok: true, transient: false, reason: 'Connected', message: 'ok' })) {
  const p = { runs: 0, test: async () => (p.runs++, answer()) };
  return p;
}

describe('TestCache', () => {
  it('serves a result until 85% of the interval passed, then tests again', async () => {
    const cache = new TestCache();
    const p = probe();
    const first = await cache.run('SmtpTarget/mail/relay/connect', { host: 'a' }, 10 * MIN, T0, p.test);
    expect(first).toEqual({ result: { ok: true, transient: false, reason: 'Connected', message: 'ok' }, at: T0, fresh: true });
    const cached = await cache.run('SmtpTarget/mail/relay/connect', { host: 'a' }, 10 * MIN, T0 + 8 * MIN, p.test);
    expect(cached).toEqual({ result: { ok: true, transient: false, reason: 'Connected', message: 'ok' }, at: T0, fresh: false });
    expect(p.runs).toBe(1);
    const due = await cache.run('SmtpTarget/mail/relay/connect', { host: 'a' }, 10 * MIN, T0 + 9 * MIN, p.test);
    expect(due).toMatchObject({ at: T0 + 9 * MIN, fresh: true });
    expect(p.runs).toBe(2);
  });

  it('tests again at once when the inputs changed (a Secret rotated)', async () => {
    const cache = new TestCache();
    const p = probe();
    await cache.run('SmtpTarget/mail/relay/connect', { password: 'a' }, 10 * MIN, T0, p.test);
    const after = await cache.run('SmtpTarget/mail/relay/connect', { password: 'b' }, 10 * MIN, T0 + MIN, p.test);
    expect(after.fresh).toBe(true);
    expect(p.runs).toBe(2);
  });

  it('does not keep a transient failure: the next reconcile tests again', async () => {
    const cache = new TestCache();
    let n = 0;
    const p = probe(() => (++n === 1 ? { ok: false, transient: true, reason: 'Timeout', message: 'timed out' } : { ok: true, transient: false, reason: 'Connected', message: 'ok' }));
    await cache.run('k/connect', { host: 'a' }, 10 * MIN, T0, p.test);
    const next = await cache.run('k/connect', { host: 'a' }, 10 * MIN, T0 + MIN, p.test);
    expect(next).toMatchObject({ result: { ok: true }, fresh: true });
    // A terminal failure is kept like a success.
    const cache2 = new TestCache();
    const q = probe(() => ({ ok: false, transient: false, reason: 'AuthFailed', message: '535' }));
    await cache2.run('k/connect', { host: 'a' }, 10 * MIN, T0, q.test);
    expect(await cache2.run('k/connect', { host: 'a' }, 10 * MIN, T0 + MIN, q.test)).toMatchObject({ fresh: false, result: { reason: 'AuthFailed' } });
    expect(q.runs).toBe(1);
  });

  it('objects with the same test share one run in flight and its result for half a second, not longer', async () => {
    const cache = new TestCache();
    const p = probe();
    const [a, b] = await Promise.all([
      cache.run('SmtpTarget/mail/one/connect', { host: 'relay' }, 10 * MIN, T0, p.test),
      cache.run('SmtpTarget/mail/two/connect', { host: 'relay' }, 10 * MIN, T0, p.test),
    ]);
    expect(p.runs).toBe(1);
    expect(a.result).toEqual(b.result);
    expect(b).toMatchObject({ at: T0, fresh: true });
    const soon = await cache.run('SmtpTarget/mail/three/connect', { host: 'relay' }, 10 * MIN, T0 + 400, p.test);
    expect(soon).toEqual({ result: { ok: true, transient: false, reason: 'Connected', message: 'ok' }, at: T0, fresh: true });
    expect(p.runs).toBe(1);
    await cache.run('SmtpTarget/mail/four/connect', { host: 'relay' }, 10 * MIN, T0 + 600, p.test);
    expect(p.runs).toBe(2);
    // A different kind of test with the same inputs is its own run.
    await cache.run('EmailServer/mail/one/incoming', { host: 'relay' }, 10 * MIN, T0 + 600, p.test);
    expect(p.runs).toBe(3);
  });

  it('a run still in flight is shared however long it takes, while other results are swept', async () => {
    const cache = new TestCache();
    let finish!: (r: CheckResult) => void;
    let slowRuns = 0;
    const slow = () => (slowRuns++, new Promise<CheckResult>((r) => (finish = r)));
    const first = cache.run('SmtpTarget/mail/slow/connect', { host: 'slow' }, 10 * MIN, T0, slow);
    // Another test finishes much later, which sweeps old shared results.
    await cache.run('SmtpTarget/mail/other/connect', { host: 'other' }, 10 * MIN, T0 + 10_000, probe().test);
    const second = cache.run('SmtpTarget/mail/slow2/connect', { host: 'slow' }, 10 * MIN, T0 + 10_000, slow);
    finish({ ok: true, transient: false, reason: 'Connected', message: 'slow but fine' });
    expect((await first).result).toMatchObject({ message: 'slow but fine' });
    expect((await second).result).toMatchObject({ message: 'slow but fine' });
    expect(slowRuns).toBe(1);
  });

  it('a run that throws is not shared: the next one tries again', async () => {
    const cache = new TestCache();
    let n = 0;
    const flaky = async (): Promise<CheckResult> => {
      if (++n === 1) throw new Error('socket hang up');
      return { ok: true, transient: false, reason: 'Connected', message: 'ok' };
    };
    await expect(cache.run('a/connect', { host: 'x' }, 10 * MIN, T0, flaky)).rejects.toThrow('socket hang up');
    expect(await cache.run('b/connect', { host: 'x' }, 10 * MIN, T0, flaky)).toMatchObject({ result: { ok: true }, fresh: true });
    expect(n).toBe(2);
  });

  it("forgetting a deleted object's tests makes a namesake test afresh, and keeps the others", async () => {
    const cache = new TestCache();
    const p = probe();
    await cache.run('SmtpTarget/mail/relay/connect', { host: 'a' }, 10 * MIN, T0, p.test);
    await cache.run('SmtpTarget/mail/relay2/connect', { host: 'b' }, 10 * MIN, T0, p.test);
    cache.forget('SmtpTarget/mail/relay/');
    expect(await cache.run('SmtpTarget/mail/relay/connect', { host: 'a' }, 10 * MIN, T0 + MIN, p.test)).toMatchObject({ fresh: true });
    expect(await cache.run('SmtpTarget/mail/relay2/connect', { host: 'b' }, 10 * MIN, T0 + MIN, p.test)).toMatchObject({ fresh: false });
    expect(p.runs).toBe(3);
  });

  it('maps results onto conditions', () => {
    expect(observe('Connected', undefined, 'smtp.example.com:587')).toMatchObject({
      status: 'Unknown',
      reason: 'NoTestRun',
      message: 'No test of smtp.example.com:587 has run: connection testing is not enabled.',
    });
    expect(observe('Connected', { ok: false, transient: true, reason: 'Timeout', message: 't' }, 'x')).toMatchObject({ status: 'False', severity: 'transient' });
    expect(observe('Connected', { ok: false, transient: false, reason: 'AuthFailed', message: 'a' }, 'x')).toMatchObject({ status: 'False', severity: 'terminal' });
  });
});
