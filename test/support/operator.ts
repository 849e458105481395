// Runs the operator as users run it: `node src/main.ts` with flags, as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './ports.ts';

const repo = join(import.meta.dirname, '..', '..');

export interface Operator {
  process: ChildProcess;
  healthPort: number;
  httpPort: number;
  smtpPort: number;
  /** Everything it logged (JSON lines), for assertions and for failures. */
  logs(): string;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface OperatorOptions {
  kubeconfig: string;
  namespaces: string[];
  leaseNamespace?: string;
  identity?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
  /** Wait for /readyz (default true). */
  waitReady?: boolean;
  /** Entry point (default src/main.ts); the benchmark runs the compiled dist/main.js, as the image does. */
  main?: string;
  /** Node flags before the entry point (the image's ENTRYPOINT has some). */
  nodeArgs?: string[];
}

export async function startOperator(opts: OperatorOptions): Promise<Operator> {
  const [healthPort, httpPort, smtpPort] = [await freePort(), await freePort(), await freePort()];
  const args = [
    ...(opts.nodeArgs ?? []),
    opts.main ?? join(repo, 'src', 'main.ts'),
    `--kubeconfig=${opts.kubeconfig}`,
    `--namespaces=${opts.namespaces.join(',')}`,
    `--health-port=${healthPort}`,
    `--http-port=${httpPort}`,
    `--smtp-port=${smtpPort}`,
    '--bind-address=127.0.0.1',
    `--leader-election-namespace=${opts.leaseNamespace ?? opts.namespaces[0]}`,
    `--identity=${opts.identity ?? `op-${healthPort}`}`,
    '--log-level=debug',
    ...(opts.extraArgs ?? []),
  ];
  // process.execPath is the Node the tests run on: the pinned one under npm scripts.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  // Never outlive the process that started it, even when that one dies of an error.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const op: Operator = {
    process: child,
    healthPort,
    httpPort,
    smtpPort,
    logs: () => output,
    async metric(name, labels = {}) {
      const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) total += Number(m[3]);
      }
      return total;
    },
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
  if (opts.waitReady ?? true) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}:\n${output}`);
      try {
        if ((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`operator not ready after 30s:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return op;
}
