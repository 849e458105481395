// The transports kept open between messages: one per route slot, reused while the
// route stays the same, replaced when anything in it changes (a rotated password),
// closed when idle, and closed only once the sends using them are done.
import { describe, expect, it } from 'vitest';
import { TransportCache } from '../../../src/endpoint/transports.ts';
import type { SenderRoute, Transport } from '../../../src/providers/types.ts';

const route = (password = 'one'): SenderRoute => ({
  provider: 'SMTP',
  endpoint: { host: 'relay.example.com', port: 25, security: 'None' },
  auth: { username: 'u', password },
} as SenderRoute);

function world(opts: { idleMs?: number; failClose?: boolean; closeMs?: number } = {}) {
  let clock = 1_000_000;
  let n = 0;
  const made: string[] = [];
  const closed: string[] = [];
  const closeErrors: unknown[] = [];
  const cache = new TransportCache({
    create: () => {
      const name = `t${++n}`;
      made.push(name);
      return {
        kind: 'SMTP',
        send: async () => ({ messageId: name }),
        close: async () => {
          if (opts.closeMs) await new Promise((r) => setTimeout(r, opts.closeMs));
          closed.push(name);
          if (opts.failClose) throw new Error(`cannot close ${name}`);
        },
      } as Transport;
    },
    now: () => clock,
    ...(opts.idleMs !== undefined ? { idleMs: opts.idleMs } : {}),
    onCloseError: (err) => closeErrors.push(err),
  });
  const id = async (l: { transport: Transport }) => (await l.transport.send({} as never)).messageId;
  return { cache, made, closed, closeErrors, id, advance: (ms: number) => (clock += ms) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('the transport cache', () => {
  it('reuses the transport of a slot while its route stays the same; each slot has its own', async () => {
    const w = world();
    const a = w.cache.acquire('team/relay/primary', route());
    a.release();
    const b = w.cache.acquire('team/relay/primary', route());
    const c = w.cache.acquire('team/relay/fallback', route());
    expect(await w.id(a)).toBe('t1');
    expect(await w.id(b)).toBe('t1');
    expect(await w.id(c)).toBe('t2');
    expect(w.cache.size).toBe(2);
    expect(w.closed).toEqual([]);
  });

  it('a changed route gets a new transport; the old one closes once its last send is done', async () => {
    const w = world();
    const busy = w.cache.acquire('s', route('one'));
    const fresh = w.cache.acquire('s', route('two'));
    expect(await w.id(fresh)).toBe('t2');
    expect(w.cache.size).toBe(1);
    await settle();
    expect(w.closed).toEqual([]);
    busy.release();
    busy.release(); // a second release changes nothing
    await settle();
    expect(w.closed).toEqual(['t1']);
    fresh.release();
    await settle();
    expect(w.closed).toEqual(['t1']);
  });

  it('a replaced transport in use by two sends closes after both; releasing one twice does not count as the other', async () => {
    const w = world();
    const a = w.cache.acquire('s', route('one'));
    const b = w.cache.acquire('s', route('one'));
    w.cache.acquire('s', route('two'));
    a.release();
    a.release();
    await settle();
    expect(w.closed).toEqual([]);
    b.release();
    await settle();
    expect(w.closed).toEqual(['t1']);
  });

  it('close() resolves only once every transport has finished closing', async () => {
    const w = world({ closeMs: 30 });
    w.cache.acquire('a', route()).release();
    w.cache.acquire('b', route()).release();
    await w.cache.close();
    expect(w.closed.sort()).toEqual(['t1', 't2']);
  });

  it('a replaced transport nobody uses is closed at once', async () => {
    const w = world();
    w.cache.acquire('s', route('one')).release();
    w.cache.acquire('s', route('two'));
    await settle();
    expect(w.closed).toEqual(['t1']);
  });

  it('an idle transport (unused longer than idleMs) is closed and replaced at the next acquire', async () => {
    const w = world({ idleMs: 1000 });
    w.cache.acquire('s', route()).release();
    w.advance(1000);
    const same = w.cache.acquire('s', route());
    expect(await w.id(same)).toBe('t1');
    same.release();
    w.advance(1001);
    const next = w.cache.acquire('s', route());
    expect(await w.id(next)).toBe('t2');
    await settle();
    expect(w.closed).toEqual(['t1']);
  });

  it('a transport in use is never idle, however long the send takes', async () => {
    const w = world({ idleMs: 1000 });
    const long = w.cache.acquire('s', route());
    w.advance(5000);
    const other = w.cache.acquire('s', route());
    expect(await w.id(other)).toBe('t1');
    await settle();
    expect(w.closed).toEqual([]);
    long.release();
    other.release();
  });

  it('idle time counts from the last release, not the acquire', async () => {
    const w = world({ idleMs: 1000 });
    const l = w.cache.acquire('s', route());
    w.advance(900);
    l.release();
    w.advance(900);
    expect(await w.id(w.cache.acquire('s', route()))).toBe('t1');
  });

  it('the default idle time is 30 minutes', async () => {
    const w = world();
    w.cache.acquire('s', route()).release();
    w.advance(30 * 60_000);
    const kept = w.cache.acquire('s', route());
    expect(await w.id(kept)).toBe('t1');
    kept.release();
    w.cache.acquire('x', route()).release();
    w.advance(30 * 60_000 + 1);
    w.cache.acquire('y', route());
    await settle();
    expect(w.closed).toEqual(['t1', 't2']);
  });

  it('close() waits for sends in flight, closes everything, and refuses new acquires', async () => {
    const w = world();
    const busy = w.cache.acquire('a', route());
    w.cache.acquire('b', route()).release();
    let done = false;
    const closing = w.cache.close().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(w.closed).toEqual(['t2']);
    expect(w.cache.size).toBe(0);
    expect(() => w.cache.acquire('c', route())).toThrow('transport cache is closed');
    busy.release();
    await closing;
    expect(w.closed).toEqual(['t2', 't1']);
  });

  it('a transport that fails to close is reported, and close() still finishes', async () => {
    const w = world({ failClose: true });
    w.cache.acquire('a', route()).release();
    await w.cache.close();
    expect(w.closeErrors.map((e) => (e as Error).message)).toEqual(['cannot close t1']);
  });
});
