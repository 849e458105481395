// Stable hashes for keys and request fingerprints.
import { hash } from 'node:crypto';

export function sha256(text: string | Buffer): string {
  // The one-shot form: no Hash object per call (the send path hashes a few keys per message).
  return hash('sha256', text, 'hex');
}

/** A stable hash of a value: object keys sorted, Buffers as base64. */
export function fingerprint(value: unknown): string {
  return sha256(JSON.stringify(canonical(value)));
}

function canonical(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}
