// Two DKIM verifiers for what a sink received, both asking a real DNS server for
// the key: mailauth's (the library that signs) and Python's dkimpy (Debian's
// python3-dkim), which nobody on this project wrote.
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';

export interface Verdict {
  selector: string;
  domain: string;
  algorithm: string;
  pass: boolean;
  detail: string;
}

export async function verifyWithMailauth(raw: Buffer, dnsServer: string): Promise<Verdict[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([dnsServer]);
  const result = await dkimVerify(raw, {
    resolver: async (name: string, type: string) => {
      if (type !== 'TXT') throw Object.assign(new Error(`unexpected ${type} lookup`), { code: 'ENOTFOUND' });
      return resolver.resolveTxt(name);
    },
  } as Parameters<typeof dkimVerify>[1]);
  return result.results.map((r) => ({
    selector: r.selector ?? '',
    domain: r.signingDomain ?? '',
    algorithm: r.algo ?? '',
    pass: r.status.result === 'pass',
    detail: `${r.status.result}${r.status.comment ? ` (${r.status.comment})` : ''}`,
  }));
}

const DKIMPY = String.raw`
import json, sys
import dkim, dns.resolver
host, port = sys.argv[1].rsplit(':', 1)
res = dns.resolver.Resolver(configure=False)
res.nameservers = [host]
res.port = int(port)
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    try:
        answer = res.resolve(name.rstrip('.'), 'TXT', lifetime=timeout)
    except Exception:
        return None
    return b''.join(b''.join(r.strings) for r in answer[:1])
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
sigs = [v for (k, v) in d.headers if k.lower() == b'dkim-signature']
out = []
for i, sig in enumerate(sigs):
    tags = dkim.util.parse_tag_value(b''.join(sig.split()))
    try:
        ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
        detail = 'pass' if ok else 'fail'
    except Exception as e:
        ok, detail = False, repr(e)
    out.append({'selector': tags[b's'].decode(), 'domain': tags[b'd'].decode(), 'algorithm': tags[b'a'].decode(), 'pass': bool(ok), 'detail': detail})
print(json.dumps(out))
`;

/** dkimpy's verdict on each signature of the message, in header order. */
export function verifyWithDkimpy(raw: Buffer, dnsServer: string): Promise<Verdict[]> {
  return new Promise((resolve, reject) => {
    // Debian's Python, where python3-dkim is installed (not a pyenv shim on PATH).
    const p = spawn('/usr/bin/python3', ['-c', DKIMPY, dnsServer], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.once('error', reject);
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`dkimpy exited with ${code}: ${err}`));
      resolve(JSON.parse(out) as Verdict[]);
    });
    p.stdin.end(raw);
  });
}
