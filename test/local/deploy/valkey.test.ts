// The valkey component's container as it runs: its command and valkey.conf,
// taken from manifests/components/valkey, start a real server (Debian's
// redis-server stands in for valkey-server: the same configuration language
// and protocol) on loopback. It requires the password from the Secret's
// variable, even one with quotes, backslashes and spaces, which is on no
// command line; its readiness probe passes only with that password; it keeps
// an append-only file fsynced every second and never evicts; what it
// acknowledged survives a SIGKILL; and the README's ACL rule for a managed
// store admits the kinds of commands BullMQ sends and refuses administration.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseObjects } from '../../../scripts/lib/manifests.ts';
import { freePort } from '../../support/ports.ts';
import { eventually } from '../../support/wait.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const PASSWORD = 'a "quoted" pass\\word with spaces';

interface Container {
  command: string[];
  env: { name: string }[];
  readinessProbe: { exec: { command: string[] } };
}
const objects = parseObjects(readFileSync(join(repo, 'manifests', 'components', 'valkey', 'valkey.yaml'), 'utf8'));
const conf = (objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data['valkey.conf']!;
const container = (objects.find((o) => o.kind === 'StatefulSet') as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec
  .containers[0]!;

let dir: string;
let port: number;
let server: ChildProcess | undefined;
let output = '';

/** The pod's paths, moved under the test's directory; the port and address made loopback ones. */
const local = (text: string) =>
  text
    .replaceAll('/etc/valkey/', `${dir}/etc/`)
    .replaceAll('/run/valkey/', `${dir}/run/`)
    .replace(/^dir \/data$/m, `dir ${dir}/data`)
    .replace(/^bind .*$/m, 'bind 127.0.0.1')
    .replace(/^port 6379$/m, `port ${port}`)
    .replaceAll('-p 6379', `-p ${port}`);

const env = (extra: Record<string, string> = {}) => ({ PATH: `${dir}/bin:${process.env.PATH}`, ...extra });

function start(): Promise<void> {
  output = '';
  const [cmd, ...args] = container.command.map(local);
  server = spawn(cmd!, args, { env: env({ VALKEY_PASSWORD: PASSWORD }), stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  server.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return eventually(async () => {
    if (server?.exitCode !== null) throw new Error(`the server exited with ${server?.exitCode}:\n${output}`);
    expect((await probe()).code, output).toBe(0);
  }, 15_000);
}

async function stop(signal: NodeJS.Signals): Promise<void> {
  const s = server;
  if (!s || s.exitCode !== null || s.signalCode !== null) return;
  await new Promise((resolve) => {
    s.once('exit', resolve);
    s.kill(signal);
  });
}

const run = (file: string, args: string[], extraEnv: Record<string, string> = {}) =>
  new Promise<{ code: number; out: string }>((resolve) =>
    execFile(file, args, { env: env(extraEnv) }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: (stdout + stderr).trim() }),
    ),
  );
/** The readiness probe's own command, as the kubelet runs it: with the container's environment. */
const probe = (password = PASSWORD) => {
  const [cmd, ...args] = container.readinessProbe.exec.command.map(local);
  return run(cmd!, args, { VALKEY_PASSWORD: password });
};
const cli = (...args: string[]) => run('valkey-cli', ['-p', String(port), ...args], { REDISCLI_AUTH: PASSWORD });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postmaster-valkey-'));
  for (const d of ['bin', 'etc', 'run', 'data']) mkdirSync(join(dir, d));
  chmodSync(join(dir, 'run'), 0o700);
  symlinkSync('/usr/bin/redis-server', join(dir, 'bin', 'valkey-server'));
  symlinkSync('/usr/bin/redis-cli', join(dir, 'bin', 'valkey-cli'));
  port = await freePort();
  writeFileSync(join(dir, 'etc', 'valkey.conf'), local(conf));
  await start();
}, 30_000);

afterAll(async () => {
  await stop('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the valkey component's container", () => {
  it('takes its password from the Secret variable alone, and puts it on no command line', async () => {
    expect(container.env.map((e) => e.name)).toEqual(['VALKEY_PASSWORD']);
    const refused = await run('valkey-cli', ['-p', String(port), 'ping']);
    expect(refused.out).toMatch(/NOAUTH/);
    expect(await cli('ping')).toEqual({ code: 0, out: 'PONG' });
    const cmdline = readFileSync(`/proc/${server!.pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain('pass');
    expect(readFileSync(`/proc/${server!.pid}/environ`, 'utf8')).not.toContain('VALKEY_PASSWORD');
    // The generated include is the owner's alone.
    expect(statSync(join(dir, 'run', 'auth.conf')).mode & 0o777).toBe(0o600);
  });

  it('is Ready only with the password (the probe fails on NOAUTH, which exits 0)', async () => {
    expect((await probe()).code).toBe(0);
    expect((await probe('wrong')).code).not.toBe(0);
  });

  it('keeps an append-only file fsynced every second, under a memory limit, never evicting', async () => {
    const get = async (key: string) => (await cli('config', 'get', key)).out.split('\n')[1];
    expect(await get('appendonly')).toBe('yes');
    expect(await get('appendfsync')).toBe('everysec');
    expect(await get('maxmemory-policy')).toBe('noeviction');
    expect(await get('maxmemory')).toBe(String(256 * 1024 * 1024));
    expect(await get('dir')).toBe(join(dir, 'data'));
    expect((await cli('info', 'persistence')).out).toMatch(/^aof_enabled:1\r?$/m);
  });

  it("takes the README's ACL rule for a managed store: BullMQ's kinds of commands pass, administration does not", async () => {
    const rule = /^\s*ACL SETUSER (postmaster on >PASSWORD .*)$/m.exec(readFileSync(join(repo, 'README.md'), 'utf8'))?.[1];
    expect(rule).toBeDefined();
    const user = 'user-pass-1';
    expect((await cli('acl', 'setuser', ...rule!.replace('>PASSWORD', `>${user}`).split(' '))).out).toBe('OK');
    const as = (...args: string[]) => run('valkey-cli', ['-p', String(port), '--user', 'postmaster', ...args], { REDISCLI_AUTH: user });
    const allowed: string[][] = [
      ['ping'],
      ['info', 'server'],
      ['client', 'setname', 'bull-worker'],
      ['config', 'get', 'appendonly'],
      ['set', 'postmaster:idem:1', 'x', 'nx', 'px', '60000'],
      ['eval', "return redis.call('incr', KEYS[1])", '1', 'postmaster:rate:1'],
      ['script', 'load', 'return 1'],
      ['xadd', 'bull:mail:events', '*', 'event', 'added'],
      ['zadd', 'bull:mail:marker', '0', '0'],
      ['bzpopmin', 'bull:mail:marker', '0.01'],
      ['hset', 'bull:mail:1', 'data', '{}'],
      ['lpush', 'bull:mail:wait', '1'],
    ];
    for (const args of allowed) expect((await as(...args)).out, args.join(' ')).not.toMatch(/NOPERM|ERR/);
    for (const args of [['flushall'], ['config', 'set', 'appendonly', 'no'], ['acl', 'list'], ['client', 'kill', 'id', '99999'], ['keys', '*']]) {
      expect((await as(...args)).out, args.join(' ')).toMatch(/NOPERM/);
    }
    expect(await cli('config', 'get', 'appendonly')).toMatchObject({ out: 'appendonly\nyes' });
  });

  it('keeps what it acknowledged across a SIGKILL, from the append-only file', async () => {
    expect((await cli('set', 'postmaster:test', 'queued')).out).toBe('OK');
    // everysec: give the background fsync its second.
    await new Promise((r) => setTimeout(r, 1_500));
    await stop('SIGKILL');
    await start();
    expect((await cli('get', 'postmaster:test')).out).toBe('queued');
  });
});
