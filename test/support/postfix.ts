// A private Postfix (Debian's) for tests: its own config, queue and data
// directories in a temp dir, smtpd on 127.0.0.1 at a free port, mail for the test
// domain delivered to one Maildir, and nothing ever relayed off this machine.
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { closedPort } from './smtp-sockets.ts';
import { groupAlive } from './process-group.ts';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const NOBODY = 65534;

export interface Postfix {
  host: '127.0.0.1';
  port: number;
  /** Mail to any address in this domain lands in the Maildir. */
  domain: string;
  dir: string;
  /** Raw messages delivered so far. */
  delivered(): string[];
  /** Waits until a delivered message contains `needle` (delivery is asynchronous after the 250). */
  waitForDelivery(needle: string, ms?: number): Promise<string>;
  /** Postfix's own log (maillog_file). */
  log(): string;
  stop(): Promise<void>;
}

export async function startPostfix(): Promise<Postfix> {
  // Idempotent and fast when installed: lets this file run on a fresh machine too.
  execFileSync('bash', [join(repo, 'scripts', 'install-system-deps.sh')], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (process.getuid?.() !== 0) throw new Error('a private Postfix needs root (its daemons drop to the postfix user)');

  const dir = mkdtempSync(join(tmpdir(), 'postmaster-postfix-'));
  chmodSync(dir, 0o755); // the postfix and nobody users must reach the queue and the Maildir
  const conf = join(dir, 'conf');
  const mail = join(dir, 'mail');
  for (const d of [conf, join(dir, 'queue'), join(dir, 'data'), mail]) mkdirSync(d);
  execFileSync('chown', ['postfix:postfix', join(dir, 'data')]);
  chownSync(mail, NOBODY, NOBODY);

  const port = await closedPort();
  const domain = 'postmaster.test';
  writeFileSync(join(conf, 'main.cf'), mainCf(dir, domain));
  writeFileSync(join(conf, 'master.cf'), masterCf(port));

  const postfix = (...args: string[]) => run('postfix', ['-c', conf, ...args], { timeout: 30_000 });
  const log = () => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8') : '');
  try {
    await postfix('start');
    await waitForGreeting(port, 10_000);
  } catch (err) {
    await postfix('abort').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Postfix did not start: ${(err as Error).message}\n${log()}`, { cause: err });
  }

  const delivered = () => {
    const files: string[] = [];
    for (const sub of ['new', 'cur']) {
      const d = join(mail, 'inbox', sub);
      if (existsSync(d)) for (const f of readdirSync(d)) files.push(readFileSync(join(d, f), 'utf8'));
    }
    return files;
  };

  return {
    host: '127.0.0.1',
    port,
    domain,
    dir,
    delivered,
    log,
    async waitForDelivery(needle, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = delivered().find((m) => m.includes(needle));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no delivered message contains ${JSON.stringify(needle)} after ${ms} ms:\n${log()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      const pidFile = join(dir, 'queue', 'pid', 'master.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
      // `abort` signals the master without stop's one-second polling; nothing is in flight
      // here. The master takes its daemons (its process group) down; wait for all of them.
      await postfix('abort').catch(() => undefined);
      const deadline = Date.now() + 10_000;
      while (pid && groupAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function mainCf(dir: string, domain: string): string {
  return `# Generated for one test run; see test/support/postfix.ts.
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.${domain}
mydomain = ${domain}
myorigin = ${domain}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# No local(8) delivery, no relaying: the test domain goes to one Maildir,
# anything else is refused at RCPT or bounced by the error transport.
mydestination =
relay_domains =
local_recipient_maps =
virtual_mailbox_domains = ${domain}
virtual_mailbox_base = ${dir}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:${NOBODY}
virtual_gid_maps = static:${NOBODY}
virtual_minimum_uid = 100
default_transport = error:tests deliver nothing off this machine
relay_transport = error:tests deliver nothing off this machine
smtpd_relay_restrictions = reject_unauth_destination
smtpd_banner = $myhostname ESMTP Postfix (postmaster tests)
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
biff = no
append_dot_mydomain = no
`;
}

/** Only what the tests use, nothing chrooted (no chroot tree in a temp dir). */
function masterCf(port: number): string {
  return `# service type private unpriv chroot wakeup maxproc command
127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
virtual   unix  - n n -     - virtual
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
`;
}

/** Resolves once smtpd answers with a 220 greeting (master starts smtpd on demand). */
async function waitForGreeting(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const greeting = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let data = '';
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.on('data', (chunk: Buffer) => {
        data += chunk.toString();
        if (data.includes('\n')) socket.destroy();
      });
      socket.on('error', () => undefined);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(data);
      });
    });
    if (greeting.startsWith('220 ')) return;
    if (Date.now() > deadline) throw new Error(`no SMTP greeting on 127.0.0.1:${port} after ${ms} ms (got ${JSON.stringify(greeting)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

