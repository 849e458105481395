// Idempotency-Key store: replay, conflicts, concurrent duplicates, failures, TTL and bounds.
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../../src/store/hash.ts';
import { MemoryIdempotency as IdempotencyStore } from '../../../src/store/memory-idempotency.ts';
import { IdempotencyConflict } from '../../../src/store/types.ts';

describe('MemoryIdempotency', () => {
  it('returns the first result for the same key and fingerprint', async () => {
    const store = new IdempotencyStore();
    let runs = 0;
    const attempt = async () => ++runs;
    expect(await store.run('caller', 'k', 'f', attempt)).toEqual({ result: 1, replayed: false });
    expect(await store.run('caller', 'k', 'f', attempt)).toEqual({ result: 1, replayed: true });
    expect(runs).toBe(1);
  });

  it('refuses the same key with another fingerprint, also while the first runs', async () => {
    const store = new IdempotencyStore();
    let release!: () => void;
    const first = store.run('c', 'k', 'f1', () => new Promise<number>((r) => (release = () => r(1))));
    const err = await store.run('c', 'k', 'f2', async () => 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdempotencyConflict);
    release();
    await first;
    await expect(store.run('c', 'k', 'f2', async () => 2)).rejects.toBeInstanceOf(IdempotencyConflict);
  });

  it('lets a concurrent duplicate wait for the first outcome, success or failure', async () => {
    const store = new IdempotencyStore();
    let fail!: (e: Error) => void;
    const first = store.run('c', 'k', 'f', () => new Promise<string>((_, reject) => (fail = reject)));
    const second = store.run('c', 'k', 'f', async () => 'never');
    fail(new Error('upstream down'));
    await expect(first).rejects.toThrow('upstream down');
    await expect(second).rejects.toThrow('upstream down');
    // Failures are not remembered: the key is free again.
    expect(await store.run('c', 'k', 'f', async () => 'sent')).toEqual({ result: 'sent', replayed: false });
  });

  it('scopes keys, expires them after the TTL and stays bounded', async () => {
    let now = 0;
    const store = new IdempotencyStore({ ttlMs: 1_000, maxEntries: 3, now: () => now });
    await store.run('a', 'k', 'f', async () => 1);
    expect((await store.run('b', 'k', 'f', async () => 2)).result).toBe(2);
    now += 1_001;
    expect(await store.run('a', 'k', 'f', async () => 3)).toEqual({ result: 3, replayed: false });
    for (let i = 0; i < 10; i++) await store.run('a', `k${i}`, 'f', async () => i);
    expect(store.size).toBeLessThanOrEqual(3);
  });

  it('fingerprints values independently of key order, Buffers by content', () => {
    expect(fingerprint({ a: 1, b: [Buffer.from('x')] })).toBe(fingerprint({ b: [Buffer.from('x')], a: 1 }));
    expect(fingerprint({ a: Buffer.from('x') })).not.toBe(fingerprint({ a: Buffer.from('y') }));
    expect(fingerprint({ a: 1, b: undefined })).toBe(fingerprint({ a: 1 }));
  });
});

describe('MemoryIdempotency bounds, as a retrying caller sees them', () => {
  const replayed = async (store: IdempotencyStore, key: string) => (await store.run('c', key, 'f', async () => `sent ${key} again`)).replayed;

  it('past the bound, drops expired records first, then the oldest, and never a running attempt', async () => {
    let now = 0;
    const store = new IdempotencyStore({ ttlMs: 1_000, maxEntries: 2, now: () => now });
    await store.run('c', 'old', 'f', async () => 1);
    now = 900;
    await store.run('c', 'fresh', 'f', async () => 2);
    now = 1_100;
    // "old" has expired: it goes, "fresh" stays.
    await store.run('c', 'third', 'f', async () => 3);
    expect(store.size).toBe(2);
    expect(await replayed(store, 'fresh')).toBe(true);
    expect(await replayed(store, 'third')).toBe(true);
    // Nothing expired: the oldest finished record goes; the running attempt stays and still answers its duplicate.
    let release!: (v: string) => void;
    const running = store.run('c', 'running', 'f', () => new Promise<string>((r) => (release = r)));
    await store.run('c', 'fourth', 'f', async () => 4);
    expect(await replayed(store, 'fresh')).toBe(false);
    const duplicate = store.run('c', 'running', 'f', async () => 'second send');
    release('first send');
    expect(await running).toEqual({ result: 'first send', replayed: false });
    expect(await duplicate).toEqual({ result: 'first send', replayed: true });
  });

  it('a record is replayed until its TTL has passed, not a moment longer', async () => {
    let now = 0;
    const store = new IdempotencyStore({ ttlMs: 1_000, now: () => now });
    await store.run('c', 'k', 'f', async () => 'first');
    now = 999;
    expect(await store.run('c', 'k', 'f', async () => 'second')).toEqual({ result: 'first', replayed: true });
    now = 1_000;
    expect(await store.run('c', 'k', 'f', async () => 'second')).toEqual({ result: 'second', replayed: false });
    // The TTL counts from when the attempt finished, not when it started.
    let finish!: () => void;
    const slow = store.run('c', 'slow', 'f', () => new Promise<string>((r) => (finish = () => r('done'))));
    now = 5_000;
    finish();
    await slow;
    now = 5_999;
    expect(await store.run('c', 'slow', 'f', async () => 'again')).toEqual({ result: 'done', replayed: true });
    // An expired record with another fingerprint is no conflict: the key is free.
    now = 7_000;
    expect(await store.run('c', 'slow', 'other', async () => 'new body')).toEqual({ result: 'new body', replayed: false });
  });
});

describe('MemoryIdempotency bounds, by age and by expiry', () => {
  const replayed = async (store: IdempotencyStore, key: string) => (await store.run('c', key, 'f', async () => `sent ${key} again`)).replayed;

  it('drops an expired record before an older live one, from the moment it expires', async () => {
    let now = 0;
    const store = new IdempotencyStore({ ttlMs: 1_000, maxEntries: 2, now: () => now });
    // "slow" starts first but finishes later, so it expires after "quick".
    let finish!: () => void;
    const slow = store.run('c', 'slow', 'f', () => new Promise<string>((r) => (finish = () => r('slow'))));
    await store.run('c', 'quick', 'f', async () => 'quick');
    now = 500;
    finish();
    await slow;
    now = 1_000;
    await store.run('c', 'new', 'f', async () => 'new');
    // "quick" expired at 1 000 and went; the older "slow" is still replayed.
    expect(await replayed(store, 'slow')).toBe(true);
  });

  it('a key used again after it expired counts as new: the oldest live record is the one dropped', async () => {
    let now = 0;
    const store = new IdempotencyStore({ ttlMs: 1_000, maxEntries: 2, now: () => now });
    await store.run('c', 'a', 'f', async () => 'a');
    now = 500;
    await store.run('c', 'b', 'f', async () => 'b');
    now = 1_100;
    await store.run('c', 'a', 'f', async () => 'a again');
    now = 1_200;
    await store.run('c', 'c', 'f', async () => 'c');
    expect(store.size).toBe(2);
    expect(await replayed(store, 'a')).toBe(true);
  });

  it('drops no more than it must to keep the bound', async () => {
    const store = new IdempotencyStore({ maxEntries: 2, now: () => 0 });
    await store.run('c', 'one', 'f', async () => 1);
    await store.run('c', 'two', 'f', async () => 2);
    await store.run('c', 'three', 'f', async () => 3);
    expect(await store.run('c', 'three', 'f', async () => 0)).toEqual({ result: 3, replayed: true });
    expect(await store.run('c', 'two', 'f', async () => 0)).toEqual({ result: 2, replayed: true });
  });
});

describe('fingerprints tell values apart by kind', () => {
  it('a Buffer is not the object of its bytes, and an array is not the object of its indices', () => {
    expect(fingerprint(Buffer.from('x'))).not.toBe(fingerprint({ 0: 120 }));
    expect(fingerprint(Buffer.from('x'))).toBe(fingerprint(Buffer.from('x')));
    expect(fingerprint(['a', 'b'])).not.toBe(fingerprint({ 0: 'a', 1: 'b' }));
    expect(fingerprint(['a', 'b'])).not.toBe(fingerprint(['b', 'a']));
  });
});
