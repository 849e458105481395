// A private Dovecot (Debian's package) for tests: its own config, certificates,
// users, mail and sockets in a temp dir, listening on free loopback ports. It
// never touches the system instance (/etc/dovecot, /run/dovecot), so several
// test files can each run their own at once.
//
// Needs root (as tests and CI run here): Dovecot's master binds ports and
// switches the login/mail processes to the package's users (dovenull, dovecot)
// and mail to `nobody`, since Dovecot refuses uid 0 for mail processes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { groupAlive } from './process-group.ts';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');

export interface DovecotPorts {
  /** IMAP, plain text with STARTTLS offered. */
  imap: number;
  /** IMAP over implicit TLS. */
  imaps: number;
  /** POP3, plain text with STLS offered. */
  pop3: number;
  /** POP3 over implicit TLS. */
  pop3s: number;
}

export interface Dovecot {
  host: string;
  ports: DovecotPorts;
  /** PEM of the CA that signed the server certificate (names: localhost, 127.0.0.1). */
  ca: string;
  username: string;
  password: string;
  /** The temp dir with config, certificates, mail, sockets and dovecot.log. */
  dir: string;
  /** `dovecot --version`, e.g. "2.3.19.1 (9b53102964)". */
  version: string;
  /** How long start took: certificates, config, process start, first greetings. */
  startMs: number;
  /**
   * A key and a certificate for localhost/127.0.0.1 from the same CA that expired in 2020,
   * for a TLS server of the test's own (Dovecot serves only the valid one).
   */
  expiredCertificate(): Promise<{ key: string; cert: string }>;
  /** The server's log so far (for failing tests). */
  log(): string;
  /** Stops the server and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface DovecotOptions {
  username?: string;
  password?: string;
  /** Milliseconds to wait for the first greetings. Default 20s. */
  readyTimeoutMs?: number;
}

/** Runs scripts/install-dovecot.sh: a no-op (milliseconds) when Dovecot is installed. */
export async function installDovecot(): Promise<void> {
  await run('bash', [join(repo, 'scripts', 'install-dovecot.sh')], { maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: Error & { stderr?: string }) => {
      throw new Error(`scripts/install-dovecot.sh failed: ${err.message}\n${err.stderr ?? ''}`, { cause: err });
    },
  );
}

export async function startDovecot(opts: DovecotOptions = {}): Promise<Dovecot> {
  const started = performance.now();
  if (process.getuid?.() !== 0) throw new Error('the Dovecot test server must be started as root');
  await installDovecot();
  const version = (await run('dovecot', ['--version'])).stdout.trim();

  const username = opts.username ?? 'tester@example.test';
  const password = opts.password ?? `pw-${crypto.randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'postmaster-dovecot-'));
  // Login and mail processes run as unprivileged users and must reach into the dir.
  chmodSync(dir, 0o755);
  try {
    const ca = await makeCertificates(dir);
    const mail = join(dir, 'mail');
    mkdirSync(mail);
    const nobody = lookupUser('nobody');
    chownSync(mail, nobody.uid, nobody.gid);
    // passwd-file: user:{scheme}password:uid:gid:gecos:home:shell:extra. The scheme is
    // PLAIN so the file needs no hashing tool; the auth process reads it as the internal user.
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `${username}:{PLAIN}${password}::::::\n`, { mode: 0o600 });
    const internal = lookupUser('dovecot');
    chownSync(passwd, internal.uid, internal.gid);

    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const ports = await freePorts();
      const conf = join(dir, 'dovecot.conf');
      writeFileSync(conf, config(dir, ports));
      try {
        const child = await launch(dir, conf, ports, opts.readyTimeoutMs ?? 20_000);
        return handle({ dir, ports, ca, username, password, version, child, startMs: performance.now() - started });
      } catch (err) {
        lastError = err;
        // Another process took one of the ports between our probe and Dovecot's bind: retry with new ones.
        if (!/Address already in use/i.test(String(err))) break;
      }
    }
    throw lastError;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function handle(s: {
  dir: string;
  ports: DovecotPorts;
  ca: string;
  username: string;
  password: string;
  version: string;
  child: ChildProcess;
  startMs: number;
}): Dovecot {
  const { child, dir } = s;
  let stopping: Promise<void> | undefined;
  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      // -pid: the master and the login/auth/mail processes it forked (own process group).
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  // If the test process dies without stop(), do not leave a Dovecot behind.
  const onExit = (): void => killGroup('SIGKILL');
  process.once('exit', onExit);
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // The instance is throwaway (its dir goes next), so there is nothing for an orderly
        // shutdown to save; SIGTERM takes the master up to a second, SIGKILL to the whole
        // group (master, login, auth and mail processes) a few milliseconds.
        killGroup('SIGKILL');
        await exited;
      }
      // The master is gone; its children die a moment later and hold the listening sockets
      // until then. Wait (briefly) until the group is empty, so the ports are free when stop() returns.
      for (let i = 0; i < 200 && child.pid !== undefined && groupAlive(child.pid); i++) await sleep(10);
      // The child's process handle closes in the close phase after 'exit': let it, so
      // callers that count active handles after stop() see none of ours.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      rmSync(dir, { recursive: true, force: true });
    })());
  return {
    host: '127.0.0.1',
    ports: s.ports,
    ca: s.ca,
    username: s.username,
    password: s.password,
    dir,
    version: s.version,
    startMs: s.startMs,
    expiredCertificate: () => makeExpiredCertificate(dir),
    log: () => readLog(dir),
    stop,
  };
}

function config(dir: string, ports: DovecotPorts): string {
  return `# Private test instance (test/support/dovecot.ts). Dovecot 2.3 syntax.
protocols = imap pop3
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = postmaster-test-${dir.split('-').pop() ?? ''}
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull

ssl = yes
ssl_cert = <${dir}/tls/server.pem
ssl_key = <${dir}/tls/server.key
ssl_min_protocol = TLSv1.2

# Plain-text logins stay refused on unencrypted connections from non-local addresses (the default).
disable_plaintext_auth = yes
auth_mechanisms = plain login
# Dovecot delays failed logins by 2s; the tests check failures, not the delay.
auth_failure_delay = 0
first_valid_uid = 1

passdb {
  driver = passwd-file
  args = ${dir}/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${dir}/mail/%u
}
mail_location = maildir:~/Maildir

# No growing delay for an address after failed logins (anvil's auth penalty): tests fail
# logins on purpose, and the next test must not wait for it.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    port = ${ports.imap}
  }
  inet_listener imaps {
    port = ${ports.imaps}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    port = ${ports.pop3s}
    ssl = yes
  }
}
`;
}

async function launch(dir: string, conf: string, ports: DovecotPorts, readyTimeoutMs: number): Promise<ChildProcess> {
  // Early errors (bad config, ports in use) go to stderr before log_path is open: keep them in a file.
  const out = openSync(join(dir, 'stderr.log'), 'w');
  let child: ChildProcess;
  try {
    // -F: stay in the foreground, so this process owns the master and sees it exit.
    child = spawn('dovecot', ['-F', '-c', conf], { stdio: ['ignore', out, out], detached: true });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`dovecot exited (${code ?? signal}) before it was ready:\n${readLog(dir)}`)),
    );
    child.once('error', (err) => reject(new Error(`dovecot could not be started: ${err.message}`)));
  });
  exited.catch(() => undefined);
  const deadline = Date.now() + readyTimeoutMs;
  try {
    await Promise.race([
      exited,
      Promise.all([
        waitForGreeting(ports.imap, '* OK', deadline),
        waitForGreeting(ports.pop3, '+OK', deadline),
        waitForListen(ports.imaps, deadline),
        waitForListen(ports.pop3s, deadline),
      ]),
    ]);
  } catch (err) {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await new Promise((resolve) => child.once('exit', resolve));
    }
    throw err;
  }
  return child;
}

/** Resolves once a connection to the port gets a first line starting with `expect`. */
async function waitForGreeting(port: number, expect: string, deadline: number): Promise<void> {
  for (;;) {
    const line = await firstLine(port, Math.max(100, deadline - Date.now())).catch(() => undefined);
    if (line?.startsWith(expect)) return;
    if (Date.now() > deadline) throw new Error(`no greeting on 127.0.0.1:${port} (last: ${line ?? 'none'})`);
    await sleep(50);
  }
}

async function waitForListen(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${port} does not accept connections`);
    await sleep(50);
  }
}

function firstLine(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1');
    let buf = '';
    const done = (err: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    s.setEncoding('latin1');
    s.on('data', (chunk: string) => {
      buf += chunk;
      const i = buf.indexOf('\n');
      if (i >= 0) done(undefined, buf.slice(0, i).trimEnd());
    });
    s.once('error', (err) => done(err));
    s.once('close', () => done(new Error('closed')));
  });
}

/** Four distinct free loopback ports (probed together so they differ from each other). */
async function freePorts(): Promise<DovecotPorts> {
  const servers = [0, 1, 2, 3].map(() => createServer());
  const ports = await Promise.all(
    servers.map(
      (srv) =>
        new Promise<number>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => {
            const addr = srv.address();
            if (addr && typeof addr === 'object') resolve(addr.port);
            else reject(new Error('no port'));
          });
        }),
    ),
  );
  await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  const [imap, imaps, pop3, pop3s] = ports as [number, number, number, number];
  return { imap, imaps, pop3, pop3s };
}

/** A CA and a server certificate for localhost and 127.0.0.1 signed by it (EC P-256, valid 2 days). */
async function makeCertificates(dir: string): Promise<string> {
  const tls = join(dir, 'tls');
  mkdirSync(tls, { mode: 0o700 });
  const f = (name: string): string => join(tls, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req', '-x509', ...ec, '-days', '2', '-subj', '/CN=postmaster test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', f('ca.key'), '-out', f('ca.pem'),
  ]);
  await run('openssl', ['req', ...ec, '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr')]);
  writeFileSync(
    f('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
      'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  await run('openssl', [
    'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem'),
  ]);
  return readFileSync(f('ca.pem'), 'utf8');
}

/** Signs a certificate valid only on 1 Jan 2020 with the instance's CA (`openssl ca` can set past dates). */
async function makeExpiredCertificate(dir: string): Promise<{ key: string; cert: string }> {
  const tls = join(dir, 'tls');
  const f = (name: string): string => join(tls, name);
  writeFileSync(f('index.txt'), '');
  writeFileSync(f('serial'), '1000\n');
  writeFileSync(
    f('ca.cnf'),
    `[ca]\ndefault_ca = test\n[test]\ndatabase = ${f('index.txt')}\nnew_certs_dir = ${tls}\n` +
      `serial = ${f('serial')}\ndefault_md = sha256\npolicy = any\nx509_extensions = ext\n` +
      '[any]\ncommonName = supplied\n[ext]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n',
  );
  await run('openssl', [
    'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-keyout', f('expired.key'), '-out', f('expired.csr'),
  ]);
  await run('openssl', [
    'ca', '-batch', '-config', f('ca.cnf'), '-cert', f('ca.pem'), '-keyfile', f('ca.key'), '-in', f('expired.csr'),
    '-out', f('expired.pem'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z',
  ]);
  return { key: readFileSync(f('expired.key'), 'utf8'), cert: readFileSync(f('expired.pem'), 'utf8') };
}

function lookupUser(name: string): { uid: number; gid: number } {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`user ${name} not found in /etc/passwd`);
}

function readLog(dir: string): string {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '';
    }
  };
  return (read('stderr.log') + read('dovecot.log')).slice(-8000);
}


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
