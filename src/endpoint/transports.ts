// One Transport per route, kept open between messages (pooled SMTP connections,
// keep-alive API agents). A route is known by a hash of everything in it, Secret
// values included (only the hash is kept), so a rotated password or API key makes
// a new transport; the old one is closed once the sends using it are done.
import { transportFor } from '../providers/transports.ts';
import type { SenderRoute, Transport } from '../providers/types.ts';
import { fingerprint } from '../store/hash.ts';

export type TransportFactory = (route: SenderRoute) => Transport;

export const defaultTransportFactory: TransportFactory = transportFor;

interface Slot {
  hash: string;
  transport: Transport;
  users: number;
  lastUsed: number;
}

export interface Lease {
  transport: Transport;
  release(): void;
}

export interface TransportCacheOptions {
  create?: TransportFactory;
  /** Close a transport nobody used for this long (its server may be gone). Default 30 min. */
  idleMs?: number;
  now?: () => number;
  /** Told when closing a retired transport fails; never given secrets. */
  onCloseError?: (err: unknown) => void;
}

export class TransportCache {
  readonly #slots = new Map<string, Slot>();
  /** Replaced or idle transports, closed when their last user releases them. */
  readonly #retired = new Set<Slot>();
  readonly #closing = new Set<Promise<void>>();
  readonly #create: TransportFactory;
  readonly #idleMs: number;
  readonly #now: () => number;
  readonly #onCloseError: (err: unknown) => void;
  #closed = false;

  constructor(opts: TransportCacheOptions = {}) {
    this.#create = opts.create ?? defaultTransportFactory;
    this.#idleMs = opts.idleMs ?? 30 * 60_000;
    this.#now = opts.now ?? Date.now;
    this.#onCloseError = opts.onCloseError ?? (() => undefined);
  }

  /**
   * The transport for `route` in `slot` (e.g. "ns/server/primary"), created or
   * replaced as needed. Call release() when the send is over.
   */
  acquire(slotKey: string, route: SenderRoute): Lease {
    if (this.#closed) throw new Error('transport cache is closed');
    const now = this.#now();
    this.#sweep(now);
    const hash = fingerprint(route);
    let slot = this.#slots.get(slotKey);
    if (slot && slot.hash !== hash) {
      this.#retire(slot);
      slot = undefined;
    }
    if (!slot) {
      slot = { hash, transport: this.#create(route), users: 0, lastUsed: now };
      this.#slots.set(slotKey, slot);
    }
    const s = slot;
    s.users++;
    s.lastUsed = now;
    let released = false;
    return {
      transport: s.transport,
      release: () => {
        if (released) return;
        released = true;
        s.users--;
        s.lastUsed = this.#now();
        if (s.users === 0 && this.#retired.has(s)) this.#closeNow(s);
      },
    };
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Closes every transport once its sends are done. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const slot of this.#slots.values()) this.#retire(slot);
    this.#slots.clear();
    while (this.#retired.size || this.#closing.size) {
      if (this.#closing.size) await Promise.all([...this.#closing]);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  #retire(slot: Slot): void {
    for (const [key, s] of this.#slots) if (s === slot) this.#slots.delete(key);
    this.#retired.add(slot);
    if (slot.users === 0) this.#closeNow(slot);
  }

  #closeNow(slot: Slot): void {
    this.#retired.delete(slot);
    const p = slot.transport
      .close()
      .catch((err: unknown) => this.#onCloseError(err))
      .finally(() => this.#closing.delete(p));
    this.#closing.add(p);
  }

  #sweep(now: number): void {
    for (const slot of this.#slots.values()) {
      if (slot.users === 0 && now - slot.lastUsed > this.#idleMs) this.#retire(slot);
    }
  }
}
