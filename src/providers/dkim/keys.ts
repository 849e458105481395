// DKIM keys: read a PEM private key and judge it, generate one, and derive the
// DNS TXT record that publishes its public half (RFC 6376 3.6.1, RFC 8463 for Ed25519).
// Never returns or logs the private key in a message.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** RFC 8301: verifiers must not accept RSA keys under 1024 bits. */
export const MIN_RSA_BITS = 1024;

export const KeyReason = {
  KeyInvalid: 'KeyInvalid',
  KeyTooShort: 'KeyTooShort',
} as const;

export interface ParsedKey {
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  bits: number;
  /** The record value: v=DKIM1; k=...; p=... */
  record: string;
  /** Base64 of the public key as the p= tag carries it. */
  publicKey: string;
}

export type KeyCheck = { ok: true; key: ParsedKey } | { ok: false; reason: string; message: string };

/** Parses a PEM private key; `where` names the Secret and key in messages. */
export function parsePrivateKey(pem: string, where: string): KeyCheck {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return { ok: false, reason: KeyReason.KeyInvalid, message: `${where} does not hold a PEM private key (PKCS#8 or PKCS#1).` };
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      return {
        ok: false,
        reason: KeyReason.KeyTooShort,
        message: `${where} holds a ${bits}-bit RSA key; receivers refuse keys under ${MIN_RSA_BITS} bits (use 2048).`,
      };
    }
    const der = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const p = der.toString('base64');
    return { ok: true, key: { algorithm: 'rsa-sha256', bits, publicKey: p, record: `v=DKIM1; k=rsa; p=${p}` } };
  }
  if (type === 'ed25519') {
    // RFC 8463: p= is the raw 32-byte public key, not the SPKI structure around it.
    const der = createPublicKey(key).export({ type: 'spki', format: 'der' });
    const p = der.subarray(der.length - 32).toString('base64');
    return { ok: true, key: { algorithm: 'ed25519-sha256', bits: 256, publicKey: p, record: `v=DKIM1; k=ed25519; p=${p}` } };
  }
  return { ok: false, reason: KeyReason.KeyInvalid, message: `${where} holds a ${type ?? 'unknown'} key; DKIM signs with RSA or Ed25519.` };
}

/** A new private key in PKCS#8 PEM. */
export function generatePrivateKey(algorithm: 'RSA-2048' | 'RSA-3072' | 'Ed25519'): string {
  const enc = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  const pair =
    algorithm === 'Ed25519'
      ? generateKeyPairSync('ed25519', enc)
      : generateKeyPairSync('rsa', { modulusLength: algorithm === 'RSA-3072' ? 3072 : 2048, ...enc });
  return pair.privateKey;
}

/** A TXT value as DNS carries it: strings of at most 255 bytes (the value is ASCII). */
export function txtStrings(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out;
}

/** The tags of a DKIM key record (v=DKIM1; k=rsa; p=...), names lower-cased, whitespace removed from values. */
export function recordTags(record: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}
