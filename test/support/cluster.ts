// Builds (once, cached) and starts the real kube-apiserver of test/apiserver.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const repo = join(import.meta.dirname, '..', '..');

export interface Cluster {
  kubeconfig: string;
  server: string;
  dataDir: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Path of the apiserver binary, building it on first use (minutes) and reusing the cache after. */
export async function buildApiServer(): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [join(repo, 'test', 'apiserver', 'build.sh')], {
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, GOTOOLCHAIN: 'local' },
  }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`building the test API server failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  const path = stdout.trim().split('\n').pop();
  if (!path) throw new Error('test/apiserver/build.sh printed no binary path');
  return path;
}

export interface StartOptions {
  dataDir?: string;
  port?: number;
  /** Forward the server's stderr (noisy) instead of keeping only its tail for errors. */
  verbose?: boolean;
}

/**
 * Starts an API server. The harness picks etcd's ports by probing for free ones, and
 * under a busy parallel suite another process can take one before etcd binds it:
 * that start is retried, a few times.
 */
export async function startCluster(opts: StartOptions = {}): Promise<Cluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt >= 4 || !/address already in use/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function startOnce(opts: StartOptions): Promise<Cluster> {
  const binary = await buildApiServer();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'postmaster-apiserver-'));
  const args = ['--data-dir', dataDir, '--port', String(opts.port ?? 0)];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Never outlive the process that started it, even when that one dies of an error.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (opts.verbose) process.stderr.write(chunk);
    stderrTail = (stderrTail + chunk.toString()).slice(-8000);
  });
  const ready = await new Promise<{ kubeconfig: string; server: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`API server not ready after 120s:\n${stderrTail}`)), 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`API server exited with ${code} before it was ready:\n${stderrTail}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^READY kubeconfig=(\S+) server=(\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ kubeconfig: m[1]!, server: m[2]! });
      }
    });
  });
  const port = Number(new URL(ready.server).port);
  return {
    ...ready,
    dataDir,
    port,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
