// Test certificates made at test time with the openssl CLI (node:crypto cannot
// issue X.509): a CA, a server certificate it signed for localhost/127.0.0.1, an
// expired one from the same CA, and a self-signed one. EC keys: fast to make.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  key: string;
  cert: string;
}

export interface TestPki {
  /** PEM of the CA that signed `server` and `expired`. */
  ca: string;
  /** Valid for DNS:localhost and IP:127.0.0.1. */
  server: KeyPair;
  /** Same names and CA, validity ended in 2021. */
  expired: KeyPair;
  /** Self-signed, same names: its own certificate is the only CA that trusts it. */
  selfSigned: KeyPair;
}

const SAN = 'subjectAltName=DNS:localhost,IP:127.0.0.1';

let cached: TestPki | undefined;

/** Makes the certificates once per process (about 100 ms). */
export function testPki(): TestPki {
  cached ??= makePki();
  return cached;
}

function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'postmaster-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const key = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name);
  try {
    key('ca.key');
    ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/O=postmaster tests/CN=postmaster test CA', '-days', '30', '-out', 'ca.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');

    // `openssl ca` takes explicit start/end dates, which OpenSSL 3.0's x509 cannot.
    mkdirSync(join(dir, 'newcerts'));
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ca]', 'default_ca = testca',
        '[testca]', `dir = ${dir}`, 'database = $dir/index.txt', 'new_certs_dir = $dir/newcerts', 'serial = $dir/serial',
        'default_md = sha256', 'policy = anything', 'x509_extensions = server', 'unique_subject = no', 'copy_extensions = none',
        '[anything]', 'commonName = supplied', 'organizationName = optional',
        '[server]', 'basicConstraints = CA:FALSE', 'keyUsage = critical,digitalSignature', 'extendedKeyUsage = serverAuth',
        SAN.replace('=', ' = '),
        '',
      ].join('\n'),
    );
    const issue = (name: string, dates: string[]) => {
      key(`${name}.key`);
      ssl('req', '-new', '-key', `${name}.key`, '-subj', `/O=postmaster tests/CN=${name}.localhost`, '-out', `${name}.csr`);
      ssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', `${name}.csr`, '-out', `${name}.pem`, '-notext', ...dates);
      return { key: read(`${name}.key`), cert: read(`${name}.pem`) };
    };
    const server = issue('server', ['-days', '30']);
    const expired = issue('expired', ['-startdate', '20200101000000Z', '-enddate', '20210101000000Z']);

    key('self.key');
    ssl('req', '-x509', '-new', '-key', 'self.key', '-subj', '/CN=self-signed.localhost', '-days', '30', '-out', 'self.pem', '-addext', SAN);
    return { ca: read('ca.pem'), server, expired, selfSigned: { key: read('self.key'), cert: read('self.pem') } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
