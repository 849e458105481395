// Postfix's smtp-sink on loopback, as its own process: the far end of every path
// measured, so no sink ever shares an event loop or a core budget with a relay.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { closedPort } from '../../test/support/smtp-sockets.ts';

export interface Sink {
  port: number;
  process: ChildProcess;
  /** Messages received so far (only with `count`: smtp-sink -c). */
  delivered(): number;
  /** Resolves once `n` messages were received, or rejects after `ms`. */
  waitForDelivered(n: number, ms: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `smtp-sink -u postfix 127.0.0.1:PORT 1000`; with `count`, also -c, whose running
 * counters ("... mesg=N") are read from its stdout to count what arrived.
 */
export async function startSmtpSink(opts: { count?: boolean } = {}): Promise<Sink> {
  const port = await closedPort();
  const args = [...(opts.count ? ['-c'] : []), '-u', 'postfix', `127.0.0.1:${port}`, '1000'];
  const child = spawn('/usr/sbin/smtp-sink', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  let delivered = 0;
  let tail = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('latin1')).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    if (all.length > 0) delivered = Number(all[all.length - 1]![1]);
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  try {
    await waitForGreeting(port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`smtp-sink did not start: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  return {
    port,
    process: child,
    delivered: () => delivered,
    async waitForDelivered(n, ms) {
      const deadline = Date.now() + ms;
      while (delivered < n) {
        if (Date.now() > deadline) throw new Error(`smtp-sink on ${port} received ${delivered} of ${n} messages after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Resolves once a server on 127.0.0.1:port answers with a 220 greeting. */
export async function waitForGreeting(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const greeting = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let data = '';
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString();
        if (data.includes('\n')) socket.end('QUIT\r\n');
      });
      socket.on('error', () => undefined);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(data);
      });
    });
    if (greeting.startsWith('220 ')) return;
    if (Date.now() > deadline) throw new Error(`no SMTP greeting on 127.0.0.1:${port} after ${ms} ms (got ${JSON.stringify(greeting)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
