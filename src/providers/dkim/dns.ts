// DNS checks of a sending domain: is the DKIM key record published and equal to
// our key, and what DMARC policy does the domain publish. Through the system
// resolver, or the servers given (--dns-server host:port).
import { Resolver } from 'node:dns/promises';
import type { CheckResult } from '../types.ts';
import { recordTags } from './keys.ts';

export const DnsReason = {
  RecordPublished: 'RecordPublished',
  RecordMissing: 'RecordMissing',
  RecordMismatch: 'RecordMismatch',
  LookupFailed: 'LookupFailed',
  DmarcFound: 'DmarcFound',
  DmarcMissing: 'DmarcMissing',
} as const;

export interface TxtLookup {
  /** The TXT records at `name`, each as the strings it is made of. */
  resolveTxt(name: string): Promise<string[][]>;
}

export interface DnsOptions {
  /** host:port of the servers to ask; empty: the system resolver. */
  servers?: string[];
  timeoutMs?: number;
  tries?: number;
}

export function createTxtLookup(opts: DnsOptions = {}): TxtLookup {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 3000, tries: opts.tries ?? 2 });
  if (opts.servers?.length) resolver.setServers(opts.servers);
  return { resolveTxt: (name) => resolver.resolveTxt(name) };
}

/** No such name, or no TXT record at it: both mean "not published". */
const ABSENT = new Set(['ENOTFOUND', 'ENODATA']);

type Lookup = { ok: true; records: string[] } | { ok: false; absent: boolean; detail: string };

async function lookup(dns: TxtLookup, name: string): Promise<Lookup> {
  try {
    return { ok: true, records: (await dns.resolveTxt(name)).map((strings) => strings.join('')) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, absent: ABSENT.has(code), detail: code };
  }
}

/** Whether DNS serves a DKIM record at `name` with the public key `publicKey` (base64). */
export async function checkDkimRecord(dns: TxtLookup, name: string, publicKey: string, keyType: 'rsa' | 'ed25519'): Promise<CheckResult> {
  const found = await lookup(dns, name);
  if (!found.ok && !found.absent) {
    return { ok: false, transient: true, reason: DnsReason.LookupFailed, message: `Looking up TXT ${name} failed (${found.detail}); retrying.` };
  }
  const dkim = found.ok ? found.records.filter((r) => /^\s*v\s*=\s*DKIM1\s*(;|$)/i.test(r) || /(^|;)\s*p\s*=/.test(r)) : [];
  if (dkim.length === 0) {
    return { ok: false, transient: false, reason: DnsReason.RecordMissing, message: `DNS has no DKIM record at ${name}: publish the TXT record in status.dkim.` };
  }
  const matches = dkim.some((r) => {
    const tags = recordTags(r);
    return tags.get('p') === publicKey && (tags.get('k') ?? 'rsa').toLowerCase() === keyType;
  });
  if (!matches) {
    return {
      ok: false,
      transient: false,
      reason: DnsReason.RecordMismatch,
      message: `The DKIM record at ${name} publishes another key: replace it with the TXT record in status.dkim.`,
    };
  }
  return { ok: true, transient: false, reason: DnsReason.RecordPublished, message: `DNS serves the DKIM record at ${name}.` };
}

export interface DmarcFacts {
  name: string;
  record: string;
  policy: string;
}

/** The DMARC record of the domain (or of its parent domains, the nearest first). */
export async function checkDmarc(dns: TxtLookup, domain: string): Promise<CheckResult<DmarcFacts>> {
  const labels = domain.split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const name = `_dmarc.${labels.slice(i).join('.')}`;
    const found = await lookup(dns, name);
    if (!found.ok && !found.absent) {
      return { ok: false, transient: true, reason: DnsReason.LookupFailed, message: `Looking up TXT ${name} failed (${found.detail}).` };
    }
    const record = found.ok ? found.records.find((r) => /^\s*v\s*=\s*DMARC1\s*(;|$)/i.test(r)) : undefined;
    if (record) {
      const tags = recordTags(record);
      const policy = (tags.get(i === 0 ? 'p' : 'sp') ?? tags.get('p') ?? 'none').toLowerCase();
      return {
        ok: true,
        transient: false,
        reason: DnsReason.DmarcFound,
        message: `${name} publishes DMARC policy "${policy}".`,
        facts: { name, record, policy },
      };
    }
  }
  return {
    ok: false,
    transient: false,
    reason: DnsReason.DmarcMissing,
    message: `No DMARC record at _dmarc.${domain}: receivers apply no policy to mail that fails DKIM (publish one, for example "v=DMARC1; p=none; rua=mailto:...").`,
  };
}
