// A real Redis-protocol server for tests (redis-server from Debian, standing in for
// Valkey): a private instance on a free loopback port, its own directory, a
// password, the append-only file on (appendfsync always, so a restart keeps every
// acknowledged write) and noeviction as BullMQ requires. stop() and start() keep
// the port and the data, so a test can take the store away and bring it back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import type { KeyPair } from './smtp-certs.ts';

export interface RedisServer {
  port: number;
  password: string;
  /** redis://127.0.0.1:PORT/0 (no password: it goes in POSTMASTER_REDIS_PASSWORD). */
  url: string;
  /** The operator's environment for this store. */
  env: Record<string, string>;
  start(): Promise<void>;
  /** SIGTERM: redis-server rewrites nothing and exits; the AOF keeps what was acknowledged. */
  stop(): Promise<void>;
  /** SIGKILL, as a lost node would. */
  kill(): Promise<void>;
  /** Runs one command over a fresh connection (RESP), returns the raw reply text. */
  command(...args: string[]): Promise<string>;
  /** stop() and remove the data directory. */
  destroy(): Promise<void>;
}

export interface RedisOptions {
  appendfsync?: 'always' | 'everysec';
  /** Serve TLS only (rediss://) with this certificate; `ca` is what clients trust. */
  tls?: { server: KeyPair; ca: string };
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer & { caFile?: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'postmaster-redis-'));
  const files = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  const tlsArgs = opts.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', files('server.pem', opts.tls.server.cert),
       '--tls-key-file', files('server.key', opts.tls.server.key), '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const caFile = opts.tls ? files('ca.pem', opts.tls.ca) : undefined;
  const scheme = opts.tls ? 'rediss' : 'redis';
  const password = `test-${Math.random().toString(36).slice(2)}`;
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    if (child) return;
    const args = [
      ...tlsArgs,
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--requirepass', password,
      '--appendonly', 'yes',
      '--appendfsync', opts.appendfsync ?? 'always',
      '--save', '',
      '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no',
      '--logfile', '',
    ];
    output = '';
    const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    p.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const reap = () => p.kill('SIGKILL');
    process.once('exit', reap);
    p.once('exit', () => {
      process.removeListener('exit', reap);
      if (child === p) child = undefined;
    });
    child = p;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}: ${output}`);
      try {
        // Loading the AOF answers LOADING; ready once PING is PONG.
        if ((await command('PING')).startsWith('+PONG')) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    const p = child;
    if (!p) return;
    child = undefined;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  function command(...args: string[]): Promise<string> {
    const encode = (parts: string[]) => `*${parts.length}\r\n${parts.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    return new Promise((resolve, reject) => {
      const socket = opts.tls ? tlsConnect({ port, host: '127.0.0.1', ca: opts.tls.ca, servername: 'localhost' }) : connect(port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(5000, () => socket.destroy(new Error('redis command timed out')));
      socket.on('error', reject);
      socket.on('data', (c: Buffer) => {
        reply += c.toString();
        // The AUTH reply comes first; the command's reply follows it.
        const auth = reply.indexOf('\r\n');
        if (auth < 0) return;
        const rest = reply.slice(auth + 2);
        if (complete(rest)) {
          socket.end();
          resolve(rest);
        }
      });
      socket.write(encode(['AUTH', password]) + encode(args));
    });
  }

  await start();
  return {
    port,
    password,
    url: `${scheme}://127.0.0.1:${port}/0`,
    env: {
      POSTMASTER_REDIS_URL: `${scheme}://127.0.0.1:${port}/0`,
      POSTMASTER_REDIS_PASSWORD: password,
      ...(caFile ? { POSTMASTER_REDIS_TLS_CA_FILE: caFile } : {}),
    },
    ...(caFile ? { caFile } : {}),
    start,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    command,
    async destroy() {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether `text` holds one whole RESP reply (simple, error, integer, bulk or a flat array). */
function complete(text: string): boolean {
  if (!text.includes('\r\n')) return false;
  const kind = text[0];
  if (kind === '+' || kind === '-' || kind === ':') return true;
  const n = Number(text.slice(1, text.indexOf('\r\n')));
  if (kind === '$') return n < 0 || Buffer.byteLength(text) >= text.indexOf('\r\n') + 2 + n + 2;
  if (kind === '*') return n <= 0 || text.split('\r\n').length - 1 >= 1 + n * 2;
  return true;
}
