// What the operator says about its Redis store, against a real redis-server: the
// credentials it accepts (URL or flags, ACL users), the database it uses, what it
// reports about the append-only file (and when the server will not tell), the log
// lines an operator reads, and TLS by host name with a private CA.
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnection } from '../../../src/store/redis-connection.ts';
import { redisStore, type StateStore } from '../../../src/store/store.ts';
import type { StoreStatus } from '../../../src/store/types.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { eventually } from '../../support/wait.ts';

let redis: RedisServer;
const closing: { close(): Promise<unknown> }[] = [];
const log = pino({ level: 'silent' });

function recorder(): { log: pino.Logger; lines: () => { level: number; msg: string; store?: string; err?: string }[] } {
  const raw: string[] = [];
  return {
    log: pino({ level: 'info' }, { write: (l: string) => void raw.push(l) }),
    lines: () => raw.map((l) => JSON.parse(l) as { level: number; msg: string; store?: string; err?: string }),
  };
}

async function up(store: { status(): StoreStatus }): Promise<StoreStatus> {
  await eventually(async () => expect(store.status().up).toBe(true), 5000, 20);
  return store.status();
}

/** Up, and the server's append-only settings read (that follows the connection by a round trip or two). */
async function settled(store: { status(): StoreStatus }, expected: StoreStatus | Record<string, unknown>, match = false): Promise<StoreStatus> {
  await eventually(async () => (match ? expect(store.status()).toMatchObject(expected) : expect(store.status()).toEqual(expected)), 5000, 20);
  return store.status();
}

function keep<T extends { close(): Promise<unknown> }>(s: T): T {
  closing.push(s);
  return s;
}

beforeAll(async () => {
  redis = await startRedis({ appendfsync: 'everysec' });
  // An ACL user that may run the store's commands but not read the configuration.
  await redis.command('ACL', 'SETUSER', 'relay', 'on', '>relay p@ss', '~*', '&*', '+@all', '-config');
  // And one that may not even read INFO.
  await redis.command('ACL', 'SETUSER', 'blind', 'on', '>blind', '~*', '&*', '+@all', '-config', '-info');
});

afterAll(async () => {
  for (const s of closing) await s.close();
  await redis?.destroy();
});

describe('credentials', () => {
  it('takes user and password from the URL, percent-decoded, or from the flags', async () => {
    const fromUrl = keep(redisStore({ url: `redis://relay:${encodeURIComponent('relay p@ss')}@127.0.0.1:${redis.port}/0`, log }));
    expect((await up(fromUrl)).up).toBe(true);
    expect(await fromUrl.rateLimits.take([{ key: 'acl/url', what: 'x', limit: { messagesPerMinute: 1 } }])).toEqual({ ok: true });

    const fromFlags = keep(redisStore({ url: redis.url, username: 'relay', password: 'relay p@ss', log }));
    expect((await up(fromFlags)).up).toBe(true);

    // The default user with only a password in the URL.
    const defaultUser = keep(redisStore({ url: `redis://:${redis.password}@127.0.0.1:${redis.port}/0`, log }));
    expect((await up(defaultUser)).up).toBe(true);

    // The flags win over the URL.
    const flagsWin = keep(redisStore({ url: `redis://nobody:wrong@127.0.0.1:${redis.port}/0`, username: 'relay', password: 'relay p@ss', log }));
    expect((await up(flagsWin)).up).toBe(true);
  });

  it('stays down with a wrong password, and says so once in the log without the password', async () => {
    const rec = recorder();
    const wrong = keep(redisStore({ url: redis.url, password: 'not-the-password', log: rec.log }));
    await new Promise((r) => setTimeout(r, 500));
    expect(wrong.status()).toEqual({
      store: 'redis',
      up: false,
      appendonly: 'unknown',
      description: `Redis at 127.0.0.1:${redis.port} (append-only file not readable), unreachable now`,
    });
    // Never up: no "reachable" line, and no "unreachable" one either (there was no transition).
    expect(rec.lines().map((l) => l.msg)).toEqual([]);
  });
});

describe('what it reports about the server', () => {
  it('reads appendonly and appendfsync, and logs "reachable" once with that description', async () => {
    const rec = recorder();
    const store = keep(redisStore({ url: redis.url, password: redis.password, log: rec.log }));
    await settled(store, {
      store: 'redis',
      up: true,
      appendonly: 'yes',
      appendfsync: 'everysec',
      description: `Redis at 127.0.0.1:${redis.port} (appendonly yes, appendfsync everysec)`,
    });
    // The server lists the connection by name.
    expect(await redis.command('CLIENT', 'LIST')).toMatch(/ name=postmaster /);
    expect(rec.lines()).toEqual([
      expect.objectContaining({ level: 30, msg: 'the store is reachable', store: `Redis at 127.0.0.1:${redis.port} (appendonly yes, appendfsync everysec)` }),
    ]);
  });

  it('says appendfsync is unknown when CONFIG is forbidden, and the file unreadable when INFO is too', async () => {
    const noConfig = keep(redisStore({ url: redis.url, username: 'relay', password: 'relay p@ss', log }));
    const s1 = await settled(noConfig, { store: 'redis', up: true, appendonly: 'yes', description: `Redis at 127.0.0.1:${redis.port} (appendonly yes)` });
    expect('appendfsync' in s1).toBe(false);

    const blind = keep(redisStore({ url: redis.url, username: 'blind', password: 'blind', log }));
    await settled(blind, {
      store: 'redis',
      up: true,
      appendonly: 'unknown',
      description: `Redis at 127.0.0.1:${redis.port} (append-only file not readable)`,
    });
  });

  it('says appendonly no for a server without the append-only file', async () => {
    const plain = await startRedis();
    try {
      expect(await plain.command('CONFIG', 'SET', 'appendonly', 'no')).toBe('+OK\r\n');
      const store = keep(redisStore({ url: plain.url, password: plain.password, log }));
      await settled(store, {
        store: 'redis',
        up: true,
        appendonly: 'no',
        appendfsync: 'always',
        description: `Redis at 127.0.0.1:${plain.port} (appendonly no, appendfsync always)`,
      });
    } finally {
      await plain.destroy();
    }
  });

  it('names port 6379 when the URL has none, and uses the database the URL names', async () => {
    const noPort = new RedisConnection({ url: 'redis://127.0.0.1', log, commandTimeoutMs: 100 });
    expect(noPort.status().description).toMatch(/^Redis at 127\.0\.0\.1:6379 \(/);
    noPort.client.disconnect();

    const db3 = keep(redisStore({ url: redis.url.replace(/\/0$/, '/3'), password: redis.password, log }));
    await up(db3);
    await db3.rateLimits.take([{ key: 'in-db-3', what: 'x', limit: { messagesPerMinute: 5 } }]);
    const look = new Redis({ port: redis.port, password: redis.password, db: 3 });
    const look0 = new Redis({ port: redis.port, password: redis.password, db: 0 });
    try {
      expect(await look.hget('postmaster:ratelimit:in-db-3', 'tokens')).toBe('4');
      expect(await look0.exists('postmaster:ratelimit:in-db-3')).toBe(0);
    } finally {
      look.disconnect();
      look0.disconnect();
    }
  });
});

describe('an outage, as the log and the listeners tell it', () => {
  it('warns once when the store goes, says reachable when it is back; a removed listener hears nothing', { timeout: 20_000 }, async () => {
    const server = await startRedis();
    try {
      const rec = recorder();
      const conn = keep(new RedisConnection({ url: server.url, password: server.password, log: rec.log }));
      await settled(conn, { up: true, description: `Redis at 127.0.0.1:${server.port} (appendonly yes, appendfsync always)` }, true);
      const heard: boolean[] = [];
      const removed: boolean[] = [];
      conn.onChange((s) => heard.push(s.up));
      const off = conn.onChange((s) => removed.push(s.up));
      off();
      await server.stop();
      await eventually(async () => expect(conn.status().up).toBe(false), 5000, 20);
      // While it is away a command fails at once (no offline queue), so callers fall back without waiting.
      const asked = Date.now();
      await expect(conn.client.get('anything')).rejects.toThrow();
      expect(Date.now() - asked).toBeLessThan(500);
      // Several failed reconnects, one warning.
      await new Promise((r) => setTimeout(r, 700));
      await server.start();
      const started = Date.now();
      await eventually(async () => expect(heard).toEqual([false, true]), 5000, 20);
      // Reconnects back off by 100 ms steps: after a short outage it is back well within 2 s.
      expect(Date.now() - started).toBeLessThan(1500);
      expect(removed).toEqual([]);
      const lines = rec.lines();
      expect(lines.map((l) => [l.level, l.msg])).toEqual([
        [30, 'the store is reachable'],
        [40, 'the store is unreachable'],
        [30, 'the store is reachable'],
      ]);
      expect(lines[1]).toMatchObject({ store: `127.0.0.1:${server.port}` });
      expect(JSON.stringify(lines)).not.toContain(server.password);
    } finally {
      await server.destroy();
    }
  });

  it('gives up a command after its timeout: a stalled store falls back to this replica', { timeout: 20_000 }, async () => {
    const conn = keep(new RedisConnection({ url: redis.url, password: redis.password, log, commandTimeoutMs: 150 }));
    await up(conn);
    const { RedisRateLimits } = await import('../../../src/store/redis-ratelimit.ts');
    const failures: unknown[] = [];
    const limits = new RedisRateLimits(conn.client, { onUnavailable: (e) => failures.push(e) });
    expect(await redis.command('CLIENT', 'PAUSE', '1500', 'ALL')).toBe('+OK\r\n');
    const started = Date.now();
    expect(await limits.take([{ key: 'paused', what: 'x', limit: { messagesPerMinute: 1 } }])).toEqual({ ok: true });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(failures).toHaveLength(1);
    expect(String(failures[0])).toMatch(/timed out/i);
    await new Promise((r) => setTimeout(r, 1600));
  });

  it('after close, hears nothing more, warns of nothing, and a second close does no harm', async () => {
    const rec = recorder();
    const conn = new RedisConnection({ url: redis.url, password: redis.password, log: rec.log });
    await settled(conn, { up: true, description: `Redis at 127.0.0.1:${redis.port} (appendonly yes, appendfsync everysec)` }, true);
    const heard: boolean[] = [];
    conn.onChange((s) => heard.push(s.up));
    await conn.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(heard).toEqual([]);
    expect(conn.status().up).toBe(false);
    expect(rec.lines().map((l) => l.msg)).toEqual(['the store is reachable']);
    await conn.close();
  });
});

describe('over TLS by host name', () => {
  let secure: Awaited<ReturnType<typeof startRedis>>;
  const stores: StateStore[] = [];
  beforeAll(async () => {
    const { testPki } = await import('../../support/smtp-certs.ts');
    const pki = testPki();
    secure = await startRedis({ tls: { server: pki.server, ca: pki.ca } });
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await secure?.destroy();
  });

  it('verifies the certificate against the name in the URL with the CA file', async () => {
    const byName = redisStore({ url: `rediss://localhost:${secure.port}/0`, password: secure.password, caFile: secure.caFile!, log });
    stores.push(byName);
    await settled(byName, { up: true, description: `Redis at localhost:${secure.port} (appendonly yes, appendfsync always)` }, true);

    // Plain redis:// to a TLS-only port never comes up.
    const plain = redisStore({ url: `redis://127.0.0.1:${secure.port}/0`, password: secure.password, log });
    stores.push(plain);
    await new Promise((r) => setTimeout(r, 500));
    expect(plain.status().up).toBe(false);
  });
});
