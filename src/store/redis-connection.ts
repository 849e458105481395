// One connection to Valkey/Redis for the store's own commands, and the options the
// queue's connections are made from. Commands fail fast while the server is away
// (no offline queue, a command timeout), so a send never hangs on the store: the
// callers decide what an outage means (Direct mode goes on per replica, Queued
// mode refuses). What the server says about its append-only file is read on every
// (re)connect, for the DeliveryReady condition and the store_info metric.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { AppendOnly, StoreStatus } from './types.ts';

export interface RedisConnectionOptions {
  /** redis://host:port/db or rediss:// (TLS). */
  url: string;
  username?: string;
  password?: string;
  /** PEM CA bundle for rediss:// with a private CA. */
  caFile?: string;
  /** Milliseconds before a command to the store is given up. Default 2000. */
  commandTimeoutMs?: number;
  log: Logger;
}

export class RedisConnection {
  /** For the store's commands (idempotency, rate limits, adding to the queue). */
  readonly client: Redis;
  /** For BullMQ's workers: they block and retry on their own. */
  readonly workerOptions: RedisOptions;
  readonly #address: string;
  readonly #log: Logger;
  #appendonly: AppendOnly = 'unknown';
  #appendfsync: string | undefined;
  #wasUp = false;
  #lastError: string | undefined;
  readonly #listeners = new Set<(status: StoreStatus) => void>();

  constructor(opts: RedisConnectionOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`--redis-url: "${url.protocol}" is not redis: or rediss:`);
    this.#address = `${url.hostname}:${url.port || 6379}`;
    this.#log = opts.log;
    const db = Number(url.pathname.slice(1) || 0);
    const base: RedisOptions = {
      host: url.hostname,
      port: Number(url.port || 6379),
      db,
      ...(opts.username ?? url.username ? { username: opts.username ?? decodeURIComponent(url.username) } : {}),
      ...(opts.password ?? url.password ? { password: opts.password ?? decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:'
        ? {
            tls: {
              // SNI takes names only; an IP address is verified against the certificate's IP SANs.
              ...(isIP(url.hostname) ? {} : { servername: url.hostname }),
              ...(opts.caFile ? { ca: readFileSync(opts.caFile, 'utf8') } : {}),
            },
          }
        : {}),
      connectionName: 'postmaster',
      // Back off to 2 s between reconnects, forever: the store comes back, we follow.
      retryStrategy: (times) => Math.min(times * 100, 2000),
    };
    this.workerOptions = { ...base, maxRetriesPerRequest: null };
    this.client = new Redis({
      ...base,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      lazyConnect: false,
    });
    this.client.on('ready', () => void this.#connected());
    this.client.on('error', (err: Error) => {
      this.#lastError = err.message;
      this.#changed();
    });
    this.client.on('close', () => this.#changed());
  }

  get up(): boolean {
    return this.client.status === 'ready';
  }

  status(): StoreStatus {
    const fsync = this.#appendfsync ? `, appendfsync ${this.#appendfsync}` : '';
    const aof = this.#appendonly === 'unknown' ? 'append-only file not readable' : `appendonly ${this.#appendonly}${fsync}`;
    return {
      store: 'redis',
      up: this.up,
      appendonly: this.#appendonly,
      ...(this.#appendfsync ? { appendfsync: this.#appendfsync } : {}),
      description: `Redis at ${this.#address} (${aof})${this.up ? '' : ', unreachable now'}`,
    };
  }

  /** Called on every change of reachability. */
  onChange(listener: (status: StoreStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    // Closing is no outage: no warning for the connection we end.
    this.#wasUp = false;
    await this.client.quit().catch(() => this.client.disconnect());
  }

  async #connected(): Promise<void> {
    try {
      const info = await this.client.info('persistence');
      const enabled = /^aof_enabled:(\d)/m.exec(info)?.[1];
      this.#appendonly = enabled === undefined ? 'unknown' : enabled === '1' ? 'yes' : 'no';
    } catch {
      this.#appendonly = 'unknown';
    }
    try {
      // Managed services often forbid CONFIG: then appendfsync stays unknown.
      const reply = (await this.client.config('GET', 'appendfsync')) as string[];
      this.#appendfsync = reply[1] || undefined;
    } catch {
      this.#appendfsync = undefined;
    }
    if (!this.#wasUp) this.#log.info({ store: this.status().description }, 'the store is reachable');
    this.#changed();
  }

  #changed(): void {
    const up = this.up;
    if (up === this.#wasUp) return;
    this.#wasUp = up;
    // ioredis reports each failed reconnect, and a server that shuts down closes the connection
    // before any error: one log line per outage, at the transition, whichever event brings it.
    if (!up) this.#log.warn({ store: this.#address, ...(this.#lastError ? { err: this.#lastError } : {}) }, 'the store is unreachable');
    const status = this.status();
    for (const l of this.#listeners) l(status);
  }
}
