// A real DNS server for tests: dnsmasq on 127.0.0.1 (UDP and TCP on a free port),
// serving only the TXT records given, authoritative for nothing else (no upstream,
// no /etc/hosts). dnsmasq reads TXT records only at start, so setting new ones
// restarts it on the same port; stop() leaves the port closed (lookups fail).
import { spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { freePort } from './ports.ts';

export interface TxtRecords {
  /** Name -> the strings of one TXT record (each at most 255 bytes). */
  [name: string]: string[];
}

export interface Dnsmasq {
  port: number;
  /** host:port, as --dns-server takes it. */
  server: string;
  set(records: TxtRecords): Promise<void>;
  stop(): Promise<void>;
}

const READY_NAME = 'dnsmasq-ready.test';
/** On the command line (no shell) dnsmasq takes the strings unquoted, separated by commas. */
const joined = (name: string, strings: string[]) => {
  if (strings.some((s) => s.includes(','))) throw new Error(`TXT ${name}: a string with a comma cannot be served here`);
  return strings.join(',');
};

export async function startDnsmasq(records: TxtRecords = {}): Promise<Dnsmasq> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  async function start(recs: TxtRecords): Promise<void> {
    const args = [
      '--no-daemon',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      // Authoritative for every name: what it does not serve does not exist (NXDOMAIN), never REFUSED.
      '--local=/#/',
      '--no-poll',
      '--conf-file=/dev/null',
      '--user=root',
      '--pid-file=',
      `--txt-record=${READY_NAME},ok`,
      ...Object.entries(recs).map(([name, strings]) => `--txt-record=${name},${joined(name, strings)}`),
    ];
    const p = spawn('dnsmasq', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    p.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const reap = () => p.kill('SIGKILL');
    process.once('exit', reap);
    p.once('exit', () => process.removeListener('exit', reap));
    child = p;
    // Ready once it answers the record it always serves.
    const resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`dnsmasq exited with ${p.exitCode}: ${output}`);
      try {
        await resolver.resolveTxt(READY_NAME);
        break;
      } catch {
        // not answering yet
      }
      if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on port ${port}: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function stop(): Promise<void> {
    const p = child;
    child = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  await start(records);
  return {
    port,
    server: `127.0.0.1:${port}`,
    async set(recs) {
      await stop();
      await start(recs);
    },
    stop,
  };
}
