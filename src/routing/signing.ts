// Which SendingDomain signs mail for an address, and its keys read from the
// cached Secrets: the one place the controller (KeyReady) and the send path
// (the keys a message is signed with) learn it, so both always agree.
import { DEFAULT_SIGNED_HEADERS, DKIM_PRIVATE_KEY, findCondition, READY, type EmailServer, type SenderIdentityStatus, type SendingDomain } from '../api/index.ts';
import { parsePrivateKey, type KeyCheck } from '../providers/dkim/keys.ts';
import type { DkimKey, DkimSigning } from '../providers/types.ts';
import type { Secret, World } from './world.ts';

export const SigningReason = {
  SecretNotFound: 'SecretNotFound',
  SecretKeyNotFound: 'SecretKeyNotFound',
} as const;

type KeySpec = NonNullable<SendingDomain['spec']['dkim']>;
type KeySource = Pick<KeySpec, 'selector' | 'privateKeySecretRef' | 'generate'>;

/** The Secret a key is read from, and the key inside it. */
export function keySecret(source: KeySource): { name: string; key: string; generated: boolean } {
  if (source.privateKeySecretRef) {
    return { name: source.privateKeySecretRef.name, key: source.privateKeySecretRef.key ?? DKIM_PRIVATE_KEY, generated: false };
  }
  return { name: source.generate!.secretName, key: DKIM_PRIVATE_KEY, generated: true };
}

/** The key sources of a domain: the first, and the secondary when set. */
export function keySources(sd: SendingDomain): KeySource[] {
  return sd.spec.dkim.secondary ? [sd.spec.dkim, sd.spec.dkim.secondary] : [sd.spec.dkim];
}

export type ResolvedKey = ({ ok: true; pem: string } & Extract<KeyCheck, { ok: true }>) | { ok: false; reason: string; message: string; missing?: boolean };

/** Parsed keys by Secret object: the informer replaces the object when it changes, so this never goes stale. */
const parsed = new WeakMap<Secret, Map<string, ResolvedKey>>();

/** The key of one source from the cache; `secret` overrides the cache (a Secret just created). */
export function resolveKey(world: World, namespace: string, source: KeySource, secret?: Secret): ResolvedKey {
  const { name, key } = keySecret(source);
  const s = secret ?? world.secret(namespace, name);
  if (!s) return { ok: false, missing: true, reason: SigningReason.SecretNotFound, message: `Secret "${namespace}/${name}" does not exist.` };
  let byKey = parsed.get(s);
  const hit = byKey?.get(key);
  if (hit) return hit;
  const value = s.data?.[key];
  let out: ResolvedKey;
  if (!value) {
    out = { ok: false, reason: SigningReason.SecretKeyNotFound, message: `Secret "${namespace}/${name}" has no key "${key}".` };
  } else {
    const pem = Buffer.from(value, 'base64').toString('utf8');
    const check = parsePrivateKey(pem, `Secret "${namespace}/${name}" key "${key}"`);
    out = check.ok ? { ...check, pem } : check;
  }
  if (!byKey) parsed.set(s, (byKey = new Map()));
  byKey.set(key, out);
  return out;
}

/** Whether `domain` is covered by the SendingDomain, and how specifically (the length of its domain). */
function covers(sd: SendingDomain, domain: string): boolean {
  const d = sd.spec.domain.toLowerCase();
  return domain === d || (!!sd.spec.includeSubdomains && domain.endsWith(`.${d}`));
}

/**
 * The SendingDomain of `namespace` (the server's) that signs mail from `address`:
 * the most specific domain; among several for the same domain (a selector being
 * rotated), a Ready one before one that is not, then the newest.
 */
export function sendingDomainFor(world: World, namespace: string, address: string): SendingDomain | undefined {
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  const candidates = (world.sendingDomains?.(namespace) ?? []).filter((sd) => !sd.metadata.deletionTimestamp && covers(sd, domain));
  const ready = (sd: SendingDomain) => (findCondition(sd.status?.conditions, READY)?.status === 'True' ? 1 : 0);
  candidates.sort(
    (a, b) =>
      b.spec.domain.length - a.spec.domain.length ||
      ready(b) - ready(a) ||
      (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  return candidates[0];
}

export interface Signing {
  domain: SendingDomain;
  /** Absent when a key of the domain does not resolve: then the message is not signed, and the domain says why. */
  dkim?: DkimSigning;
}

/** How mail from `address` leaving through SMTP of a server in `namespace` is signed, from the cache alone. */
export function signingFor(world: World, namespace: string, address: string): Signing | undefined {
  const sd = sendingDomainFor(world, namespace, address);
  if (!sd) return undefined;
  const keys: DkimKey[] = [];
  for (const source of keySources(sd)) {
    const key = resolveKey(world, namespace, source);
    if (!key.ok) return { domain: sd };
    keys.push({ domain: sd.spec.domain, selector: source.selector, privateKey: key.pem, algorithm: key.key.algorithm });
  }
  return { domain: sd, dkim: { keys, headers: sd.spec.dkim.headers?.length ? sd.spec.dkim.headers : [...DEFAULT_SIGNED_HEADERS] } };
}

/** What a SenderIdentity's status says about the signing of its mail. */
export function signingStatus(world: World, server: EmailServer, address: string): NonNullable<SenderIdentityStatus['signing']> {
  const ns = server.metadata.namespace;
  const signing = signingFor(world, ns, address);
  const sd = signing?.domain;
  const selectors = sd ? keySources(sd).map((k) => k.selector) : [];
  const ours = sd
    ? signing?.dkim
      ? `SendingDomain "${ns}/${sd.metadata.name}" signs it (d=${sd.spec.domain}, s=${selectors.join(', s=')})`
      : `SendingDomain "${ns}/${sd.metadata.name}" covers it but its key does not load, so it is not signed: see its KeyReady condition`
    : undefined;
  const who = sd ? { sendingDomain: sd.metadata.name, domain: sd.spec.domain, selectors } : {};
  const provider = server.spec.provider;
  if (provider !== 'SMTP') {
    const fallback = server.spec.fallback ? `; through the fallback SmtpTarget, ${ours ?? 'nobody signs it (no SendingDomain covers the address)'}` : '';
    return { by: 'Provider', ...who, message: `${provider} signs mail with its own domain authentication${fallback}.` };
  }
  if (ours && signing?.dkim) return { by: 'SendingDomain', ...who, message: `${ours}.` };
  return {
    by: 'None',
    ...who,
    message: ours ? `${ours}.` : `No SendingDomain in namespace "${ns}" covers ${address.slice(address.lastIndexOf('@') + 1)}: mail is not DKIM-signed here.`,
  };
}
