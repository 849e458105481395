import { describe, expect, it } from 'vitest';
import { failed, ok, setCondition, summarize, unknown } from '../../../src/controller/conditions.ts';
import { observe, TestCache } from '../../../src/controller/tester.ts';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');

describe('setCondition', () => {
  it('keeps lastTransitionTime while the status stays, moves it when the status flips', () => {
    let c = setCondition([], { type: 'Connected', status: 'True', reason: 'Connected', message: 'a' }, 1, t0);
    c = setCondition(c, { type: 'Connected', status: 'True', reason: 'Connected', message: 'b' }, 2, t1);
    expect(c).toEqual([
      { type: 'Connected', status: 'True', reason: 'Connected', message: 'b', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 },
    ]);
    c = setCondition(c, { type: 'Connected', status: 'False', reason: 'Timeout', message: 'c' }, 2, t1);
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });
});

describe('summarize (kstatus)', () => {
  it('is Ready with neither Reconciling nor Stalled when all is well', () => {
    const c = summarize([], [ok('SecretsResolved', 'SecretsResolved', 'fine'), unknown('Connected', 'NoTestRun', 'no test')], 'all good', 3, t0);
    expect(c.map((x) => [x.type, x.status, x.reason])).toEqual([
      ['Ready', 'True', 'Succeeded'],
      ['Connected', 'Unknown', 'NoTestRun'],
      ['SecretsResolved', 'True', 'SecretsResolved'],
    ]);
    expect(c.every((x) => x.observedGeneration === 3)).toBe(true);
  });

  it('is Stalled when only a change can help', () => {
    const c = summarize([], [failed('SecretsResolved', 'SecretNotFound', 'Secret "ns/x" not found')], 'x', 1, t0);
    const byType = Object.fromEntries(c.map((x) => [x.type, x]));
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'SecretNotFound', message: 'Secret "ns/x" not found' });
    expect(byType.Stalled).toMatchObject({ status: 'True', reason: 'SecretNotFound' });
    expect(byType.Reconciling).toBeUndefined();
  });

  it('is Reconciling, not Stalled, on a transient failure', () => {
    const c = summarize([], [failed('Connected', 'Timeout', 'no answer', 'transient')], 'x', 1, t0);
    const byType = Object.fromEntries(c.map((x) => [x.type, x]));
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'Timeout' });
    expect(byType.Reconciling).toMatchObject({ status: 'True', reason: 'RetryingAfterFailure' });
    expect(byType.Stalled).toBeUndefined();
  });

  it('prefers the terminal blocker and clears Stalled once fixed, keeping Ready transition time honest', () => {
    const broken = summarize(
      [],
      [failed('Connected', 'Timeout', 't', 'transient'), failed('SecretsResolved', 'SecretKeyNotFound', 'k')],
      'x',
      1,
      t0,
    );
    expect(broken.find((c) => c.type === 'Ready')?.reason).toBe('SecretKeyNotFound');
    const fixed = summarize(broken, [ok('SecretsResolved', 'SecretsResolved', 'ok')], 'fine', 2, t1);
    expect(fixed.map((c) => c.type)).toEqual(['Ready', 'SecretsResolved']);
    expect(fixed[0]).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:05:00Z' });
  });
});

describe('the condition list users see', () => {
  it('Ready first, then Reconciling and Stalled, then the rest by name', () => {
    const c = summarize([], [ok('Zeta', 'Z', 'z'), failed('Alpha', 'Timeout', 'a', 'transient'), ok('Beta', 'B', 'b')], 'x', 1, t0);
    expect(c.map((x) => x.type)).toEqual(['Ready', 'Reconciling', 'Alpha', 'Beta', 'Zeta']);
    const stalled = summarize([], [ok('Zeta', 'Z', 'z'), failed('Alpha', 'Bad', 'a')], 'x', 1, t0);
    expect(stalled.map((x) => x.type)).toEqual(['Ready', 'Stalled', 'Alpha', 'Zeta']);
  });

  it('drops a condition no longer observed (a feature turned off), keeps foreign ones out', () => {
    const before = summarize([], [ok('IncomingConnected', 'Connected', 'imap ok'), ok('SecretsResolved', 'SecretsResolved', 's')], 'x', 1, t0);
    const after = summarize(before, [ok('SecretsResolved', 'SecretsResolved', 's')], 'x', 2, t1);
    expect(after.map((c) => c.type)).toEqual(['Ready', 'SecretsResolved']);
    // Ready keeps its transition time across reconciles that do not flip it.
    expect(after[0]).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 2 });
  });

  it('times are whole seconds, as kubectl and kstatus expect', () => {
    const c = setCondition([], { type: 'Connected', status: 'True', reason: 'Connected', message: 'a' }, 1, new Date('2026-01-01T00:00:00.987Z'));
    expect(c[0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });

  it('a waiting observation: Reconciling WaitingForDependency; Unknown and info do not hold Ready back', () => {
    const c = summarize([], [failed('ReferencesResolved', 'SmtpTargetNotFound', 'not there', 'waiting'), unknown('Connected', 'NoTestRun', 'n')], 'x', 1, t0);
    const byType = Object.fromEntries(c.map((x) => [x.type, x]));
    expect(byType.Ready).toMatchObject({ status: 'False', reason: 'SmtpTargetNotFound', message: 'not there' });
    expect(byType.Reconciling).toMatchObject({ status: 'True', reason: 'WaitingForDependency', message: 'not there' });
    expect(byType.Stalled).toBeUndefined();
    const fine = summarize([], [unknown('Connected', 'NoTestRun', 'n'), { ...failed('DmarcPublished', 'DmarcMissing', 'd'), severity: 'info' }], 'all good', 1, t0);
    expect(fine[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'Succeeded', message: 'all good' });
  });
});

describe('a connection test result as a condition', () => {
  it('passed, failed for good, failed for now, or inconclusive', () => {
    expect(observe('Connected', { ok: true, reason: 'Connected', message: 'm', transient: false }, 'x')).toMatchObject({ status: 'True', severity: 'ok' });
    expect(observe('Connected', { ok: false, reason: 'AuthenticationFailed', message: 'm', transient: false }, 'x')).toMatchObject({ status: 'False', severity: 'terminal' });
    expect(observe('Connected', { ok: false, reason: 'Timeout', message: 'm', transient: true }, 'x')).toMatchObject({ status: 'False', severity: 'transient' });
    expect(observe('Verified', { ok: false, unknown: true, reason: 'VerificationUnsupported', message: 'm', transient: false }, 'x')).toEqual({
      type: 'Verified',
      status: 'Unknown',
      reason: 'VerificationUnsupported',
      message: 'm',
      severity: 'info',
    });
  });
});

describe('how often a server sees connection tests', () => {
  it('again at 85% of the interval, not before; at once after a transient failure, not after a permanent one', async () => {
    const cache = new TestCache();
    let runs = 0;
    const pass = async () => (++runs, { ok: true, reason: 'Connected', message: 'm', transient: false });
    await cache.run('SmtpTarget/a/t/connect', { h: 1 }, 100_000, 0, pass);
    await cache.run('SmtpTarget/a/t/connect', { h: 1 }, 100_000, 84_999, pass);
    expect(runs).toBe(1);
    await cache.run('SmtpTarget/a/t/connect', { h: 1 }, 100_000, 85_000, pass);
    expect(runs).toBe(2);

    let failures = 0;
    const flaky = (transient: boolean) => async () => (++failures, { ok: false, reason: 'Timeout', message: 'm', transient });
    await cache.run('SmtpTarget/a/u/connect', { h: 2 }, 100_000, 0, flaky(true));
    await cache.run('SmtpTarget/a/u/connect', { h: 2 }, 100_000, 10, flaky(true));
    expect(failures).toBe(2);
    await cache.run('SmtpTarget/a/v/connect', { h: 3 }, 100_000, 1_000, flaky(false));
    await cache.run('SmtpTarget/a/v/connect', { h: 3 }, 100_000, 1_010, flaky(false));
    expect(failures).toBe(3);
  });

  it('another object with the same test shares a result younger than half a second, not one that old', async () => {
    const cache = new TestCache();
    let runs = 0;
    const pass = async () => (++runs, { ok: true, reason: 'Connected', message: 'm', transient: false });
    await cache.run('SmtpTarget/a/t1/connect', { h: 1 }, 100_000, 10_000, pass);
    await cache.run('SmtpTarget/b/t2/connect', { h: 1 }, 100_000, 10_499, pass);
    expect(runs).toBe(1);
    await cache.run('SmtpTarget/c/t3/connect', { h: 1 }, 100_000, 10_500, pass);
    expect(runs).toBe(2);
    // A short interval narrows the window too: 85% of 400 ms.
    await cache.run('SmtpTarget/d/t4/connect', { h: 9 }, 400, 20_000, pass);
    await cache.run('SmtpTarget/e/t5/connect', { h: 9 }, 400, 20_340, pass);
    expect(runs).toBe(4);
  });

  it('a test that throws is not shared: the next object runs it again', async () => {
    const cache = new TestCache();
    let runs = 0;
    const boom = async () => {
      runs++;
      throw new Error('tester crashed');
    };
    await expect(cache.run('SmtpTarget/a/t1/connect', { h: 1 }, 100_000, 0, boom)).rejects.toThrow('tester crashed');
    await expect(cache.run('SmtpTarget/b/t2/connect', { h: 1 }, 100_000, 10, boom)).rejects.toThrow('tester crashed');
    expect(runs).toBe(2);
  });
});

describe('summarize keeps transition times', () => {
  it('a specific condition that stays True keeps the time it became True', () => {
    const first = summarize([], [ok('Connected', 'Connected', 'a')], 'fine', 1, t0);
    const again = summarize(first, [ok('Connected', 'Connected', 'b')], 'fine', 1, t1);
    expect(again.find((c) => c.type === 'Connected')).toMatchObject({ message: 'b', lastTransitionTime: '2026-01-01T00:00:00Z' });
    expect(again.find((c) => c.type === 'Ready')).toMatchObject({ lastTransitionTime: '2026-01-01T00:00:00Z' });
  });
});
