import { describe, expect, it } from 'vitest';
import { failed, ok, setCondition, summarize, unknown } from '../../../src/controller/conditions.ts';

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
