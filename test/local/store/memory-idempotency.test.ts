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
