// Token buckets: burst, refill, Retry-After from the bucket, all-or-nothing across limits.
import { describe, expect, it } from 'vitest';
import { MemoryRateLimits } from '../../../src/store/memory-ratelimit.ts';

const limit = (messagesPerMinute: number, burst?: number) => ({ messagesPerMinute, ...(burst ? { burst } : {}) });

describe('MemoryRateLimits', () => {
  it('allows a burst (default: messagesPerMinute), then refuses with the wait for one token', () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now });
    const req = [{ key: 'i', what: 'identity', limit: limit(6) }];
    for (let i = 0; i < 6; i++) expect(rl.takeNow(req)).toEqual({ ok: true });
    expect(rl.takeNow(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 10 });
    now += 4_000;
    expect(rl.takeNow(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 6 });
    now += 6_000;
    expect(rl.takeNow(req)).toEqual({ ok: true });
  });

  it('never refills past the burst', () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now });
    const req = [{ key: 'i', what: 'identity', limit: limit(60, 2) }];
    now += 3_600_000;
    expect(rl.takeNow(req).ok).toBe(true);
    expect(rl.takeNow(req).ok).toBe(true);
    expect(rl.takeNow(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 1 });
  });

  it('takes from every limit or from none, and names the one that waits longest', () => {
    const rl = new MemoryRateLimits({ now: () => 0 });
    const server = { key: 's', what: 'server', limit: limit(1) };
    const a = { key: 'a', what: 'identity a', limit: limit(120, 1) };
    expect(rl.takeNow([server, a]).ok).toBe(true);
    // a is empty (0.5 s to refill) and the server is empty (60 s): the server's wait is the answer.
    expect(rl.takeNow([server, a])).toEqual({ ok: false, what: 'server', retryAfterSeconds: 60 });
    // b's refusal left the server untouched, so b alone is fine.
    const b = { key: 'b', what: 'identity b', limit: limit(1) };
    expect(rl.takeNow([b]).ok).toBe(true);
  });

  it('ignores absent limits and follows a changed spec', () => {
    const rl = new MemoryRateLimits({ now: () => 0 });
    expect(rl.takeNow([{ key: 'x', what: 'x', limit: undefined }]).ok).toBe(true);
    expect(rl.size).toBe(0);
    const req = (l: ReturnType<typeof limit>) => [{ key: 'i', what: 'identity', limit: l }];
    expect(rl.takeNow(req(limit(100))).ok).toBe(true);
    // Lowered to 1 a minute: what is left is cut to the new burst.
    expect(rl.takeNow(req(limit(1))).ok).toBe(true);
    expect(rl.takeNow(req(limit(1)))).toMatchObject({ ok: false, retryAfterSeconds: 60 });
  });

  it('drops full buckets when there are too many', () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now, maxBuckets: 10 });
    for (let i = 0; i < 50; i++) {
      rl.takeNow([{ key: `k${i}`, what: 'k', limit: limit(60) }]);
      now += 1_000;
    }
    expect(rl.size).toBeLessThanOrEqual(11);
  });
});

describe('MemoryRateLimits, the refill and Retry-After a caller sees', () => {
  it('refills at messagesPerMinute and rounds Retry-After up to whole seconds, at least 1', () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now });
    const req = [{ key: 'i', what: 'identity', limit: limit(40, 1) }];
    expect(rl.takeNow(req).ok).toBe(true);
    // One token per 1.5 s: Retry-After 2 (not 1), then 1 once 0.6 s passed.
    expect(rl.takeNow(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 2 });
    now = 600;
    expect(rl.takeNow(req)).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 1 });
    now = 1_499;
    expect(rl.takeNow(req).ok).toBe(false);
    now = 1_500;
    expect(rl.takeNow(req).ok).toBe(true);
    const fast = [{ key: 'f', what: 'fast', limit: limit(6000, 1) }];
    expect(rl.takeNow(fast).ok).toBe(true);
    expect(rl.takeNow(fast)).toEqual({ ok: false, what: 'fast', retryAfterSeconds: 1 });
  });

  it('a raised limit keeps what was spent, and refills at the new rate', () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now });
    const req = (l: ReturnType<typeof limit>) => [{ key: 'i', what: 'identity', limit: l }];
    expect(rl.takeNow(req(limit(60, 1))).ok).toBe(true);
    // Raised to a burst of 3: still nothing left until a token refills.
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(false);
    now = 1_000;
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(true);
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(false);
    now = 4_000;
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(true);
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(true);
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(true);
    expect(rl.takeNow(req(limit(60, 3))).ok).toBe(false);
  });

  it('past the bound, drops only buckets that refilled, so a spent one still refuses', async () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now, maxBuckets: 2 });
    const spent = [{ key: 'spent', what: 'spent', limit: limit(1) }];
    expect(rl.takeNow(spent).ok).toBe(true);
    for (let i = 0; i < 5; i++) rl.takeNow([{ key: `k${i}`, what: 'k', limit: limit(60, 1) }]);
    now = 1_000;
    rl.takeNow([{ key: 'trigger', what: 'k', limit: limit(60, 1) }]);
    expect(rl.size).toBeLessThanOrEqual(3);
    expect(rl.takeNow(spent)).toMatchObject({ ok: false, what: 'spent' });
    expect(await rl.take(spent)).toMatchObject({ ok: false, retryAfterSeconds: 59 });
  });
});

describe('MemoryRateLimits, which limit a refusal names and when a spec changes', () => {
  it('names the limit that waits longest wherever it stands, the first one on a tie', () => {
    const rl = new MemoryRateLimits({ now: () => 0 });
    const fast = { key: 'fast', what: 'fast', limit: limit(120, 1) };
    const slow = { key: 'slow', what: 'slow', limit: limit(1) };
    expect(rl.takeNow([fast, slow]).ok).toBe(true);
    expect(rl.takeNow([fast, slow])).toEqual({ ok: false, what: 'slow', retryAfterSeconds: 60 });
    const twin = { key: 'twin', what: 'twin', limit: limit(1) };
    expect(rl.takeNow([twin]).ok).toBe(true);
    expect(rl.takeNow([slow, twin])).toEqual({ ok: false, what: 'slow', retryAfterSeconds: 60 });
    expect(rl.takeNow([twin, slow])).toEqual({ ok: false, what: 'twin', retryAfterSeconds: 60 });
  });

  it('a changed rate with the same burst refills at the new rate', () => {
    let now = 0;
    const rl = new MemoryRateLimits({ now: () => now });
    const req = (l: ReturnType<typeof limit>) => [{ key: 'i', what: 'identity', limit: l }];
    expect(rl.takeNow(req(limit(60, 1))).ok).toBe(true);
    now = 1_000;
    expect(rl.takeNow(req(limit(6, 1))).ok).toBe(true);
    now = 2_000;
    expect(rl.takeNow(req(limit(6, 1)))).toEqual({ ok: false, what: 'identity', retryAfterSeconds: 9 });
  });

  it('past the bound, a bucket spent a while ago that has not refilled still refuses', () => {
    let now = 30_000;
    const rl = new MemoryRateLimits({ now: () => now, maxBuckets: 1 });
    const spent = [{ key: 'spent', what: 'spent', limit: limit(1) }];
    expect(rl.takeNow(spent).ok).toBe(true);
    now = 31_000;
    rl.takeNow([{ key: 'other', what: 'k', limit: limit(60, 1) }]);
    expect(rl.takeNow(spent)).toMatchObject({ ok: false, what: 'spent' });
  });
});
