// Network odds and ends for SMTP tests: a port nobody listens on, a server that
// accepts and never speaks, and a check that a test file left no sockets or timers.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createHook } from 'node:async_hooks';

/** A loopback port that was free a moment ago (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SilentServer {
  port: number;
  close(): Promise<void>;
}

/** Accepts TCP connections on 127.0.0.1 and never sends a byte. */
export function silentServer(): Promise<SilentServer> {
  return talkingServer('');
}

/** Accepts TCP connections on 127.0.0.1, sends `text` at once, then says nothing more. */
export async function talkingServer(text: string): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    socket.write(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap'] as const;

export type HandleCounts = Record<(typeof WATCHED)[number], number>;

/** How many sockets and listeners the process holds now (vitest itself talks over pipes). */
export function handleCounts(): HandleCounts {
  const all = process.getActiveResourcesInfo();
  return Object.fromEntries(WATCHED.map((kind) => [kind, all.filter((r) => r === kind).length])) as HandleCounts;
}

// Not TLSWRAP: its destroy comes only with garbage collection; the TCP handle under it tells.
const TRACKED = new Set(['TCPWRAP', 'TCPSERVERWRAP', 'Timeout']);

export interface ResourceTracker {
  /** Sockets, listeners and ref'ed timers created since start() and still alive, with where they were made. */
  alive(): string[];
  stop(): void;
}

/**
 * Records every socket, listener and timer created from now on, so a test file
 * can assert that it left none behind. getActiveResourcesInfo() alone cannot tell
 * our timers from vitest's, which come and go.
 */
export function trackResources(): ResourceTracker {
  const live = new Map<number, { type: string; resource: unknown; where: string }>();
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (!TRACKED.has(type)) return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 40;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      const where = stack.split('\n').find((l) => l.includes('/work/') && !l.includes('node_modules') && !l.includes('smtp-sockets')) ?? '';
      live.set(asyncId, { type, resource, where: where.trim() });
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  return {
    alive: () =>
      [...live.values()]
        .filter(({ type, resource }) => type !== 'Timeout' || (resource as { hasRef?(): boolean }).hasRef?.() === true)
        .map(({ type, where }) => `${type} ${where}`),
    stop: () => hook.disable(),
  };
}

/**
 * Waits (up to `ms`) for sockets and timers to be gone, then returns the counts
 * and the tracker's survivors for a test to assert on. Closing is asynchronous
 * at the libuv level, so a moment's grace is fair; a leak is not.
 */
export async function settledResources(
  baseline: HandleCounts,
  tracker: ResourceTracker,
  ms = 2000,
): Promise<{ handles: HandleCounts; alive: string[] }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const handles = handleCounts();
    const alive = tracker.alive();
    const clean = WATCHED.every((k) => handles[k] <= baseline[k]) && alive.length === 0;
    if (clean || Date.now() > deadline) return { handles, alive };
    await new Promise((resolve) => setTimeout(resolve, 10).unref());
  }
}
