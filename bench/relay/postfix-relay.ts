// The peer the SMTP door is measured against: a private Postfix (Debian's) set up
// as a relay. smtpd on 127.0.0.1 accepts mail for any domain from loopback and
// hands it to relayhost = [127.0.0.1]:SINK over smtp, queueing (and fsyncing) as
// Postfix always does. The same private-instance approach as test/support/postfix.ts:
// config, queue and data directories in a temp dir, `postfix -c DIR start`.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { groupAlive } from '../../test/support/process-group.ts';
import { closedPort } from '../../test/support/smtp-sockets.ts';
import { waitForGreeting } from './sinks.ts';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');

export interface PostfixRelay {
  port: number;
  dir: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startPostfixRelay(sinkPort: number): Promise<PostfixRelay> {
  execFileSync('bash', [join(repo, 'scripts', 'install-system-deps.sh')], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (process.getuid?.() !== 0) throw new Error('a private Postfix needs root (its daemons drop to the postfix user)');

  const dir = mkdtempSync(join(tmpdir(), 'postmaster-bench-relay-'));
  chmodSync(dir, 0o755);
  const conf = join(dir, 'conf');
  for (const d of [conf, join(dir, 'queue'), join(dir, 'data')]) mkdirSync(d);
  execFileSync('chown', ['postfix:postfix', join(dir, 'data')]);

  const port = await closedPort();
  writeFileSync(join(conf, 'main.cf'), mainCf(dir, sinkPort));
  writeFileSync(join(conf, 'master.cf'), masterCf(port));

  const postfix = (...args: string[]) => run('postfix', ['-c', conf, ...args], { timeout: 30_000 });
  const log = () => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8') : '');
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      const pidFile = join(dir, 'queue', 'pid', 'master.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
      await postfix('abort').catch(() => undefined);
      const deadline = Date.now() + 10_000;
      while (pid && groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    await postfix('start');
    await waitForGreeting(port, 10_000);
  } catch (err) {
    const text = log();
    await stop();
    throw new Error(`Postfix relay did not start: ${(err as Error).message}\n${text}`, { cause: err });
  }
  return { port, dir, log, stop };
}

function mainCf(dir: string, sinkPort: number): string {
  return `# Generated for one benchmark run; see bench/relay/postfix-relay.ts.
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
mydomain = bench.test
myorigin = bench.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Nothing is delivered locally; everything goes to the sink on loopback.
mydestination =
local_recipient_maps =
relay_domains =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:${sinkPort}
default_transport = smtp
relay_transport = smtp
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtputf8_enable = no
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
biff = no
append_dot_mydomain = no
`;
}

/** Only what a relay uses, nothing chrooted. */
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
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
`;
}
