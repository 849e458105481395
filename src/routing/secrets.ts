// Resolving Secret keys into values, with a reason and message for every way
// it can fail. Messages name namespace, Secret and key; never a value.
import { refKey, type World } from './world.ts';

export const SecretReason = {
  Resolved: 'SecretsResolved',
  NotFound: 'SecretNotFound',
  KeyNotFound: 'SecretKeyNotFound',
  ValueEmpty: 'SecretValueEmpty',
} as const;

export interface SecretKeyRef {
  name: string;
  key: string;
  /** What the value is for, in the user's terms: "credentials.passwordKey". */
  field: string;
}

export interface ResolvedSecrets {
  /** True when every key resolved to a non-empty value. */
  ok: boolean;
  /** SecretReason; on failure that of the first problem. */
  reason: string;
  /** One sentence naming every problem (or how many keys resolved). */
  message: string;
  /** Values by `name/key`; only complete when ok. */
  values: Map<string, string>;
  refs: string[];
}

export const secretValueKey = (ref: { name: string; key: string }) => `${ref.name}/${ref.key}`;

export function resolveSecrets(world: World, namespace: string, refs: readonly SecretKeyRef[]): ResolvedSecrets {
  const values = new Map<string, string>();
  const problems: { reason: string; message: string }[] = [];
  // A missing Secret is told once, listing every field that needs it.
  const missing = new Map<string, string[]>();
  for (const ref of refs) {
    const where = `Secret "${namespace}/${ref.name}"`;
    const secret = world.secret(namespace, ref.name);
    if (!secret) {
      const fields = missing.get(ref.name);
      if (fields) fields.push(ref.field);
      else {
        missing.set(ref.name, [ref.field]);
        problems.push({ reason: SecretReason.NotFound, message: ref.name });
      }
      continue;
    }
    const encoded = secret.data?.[ref.key];
    if (encoded === undefined) {
      problems.push({ reason: SecretReason.KeyNotFound, message: `${where} has no key "${ref.key}" (${ref.field})` });
      continue;
    }
    const value = Buffer.from(encoded, 'base64').toString('utf8');
    if (value.trim() === '') {
      problems.push({ reason: SecretReason.ValueEmpty, message: `${where} key "${ref.key}" (${ref.field}) is empty` });
      continue;
    }
    values.set(secretValueKey(ref), value);
  }
  for (const p of problems) {
    if (p.reason === SecretReason.NotFound) {
      p.message = `Secret "${namespace}/${p.message}" not found (needed for ${missing.get(p.message)!.join(', ')})`;
    }
  }
  const uniqueRefs = [...new Set(refs.map((r) => refKey.secret(namespace, r.name)))];
  if (problems.length > 0) {
    const message = problems.map((p) => p.message).join('; ') + '.';
    return { ok: false, reason: problems[0]!.reason, message, values, refs: uniqueRefs };
  }
  const message =
    refs.length === 0 ? 'No Secrets referenced.' : `Resolved ${refs.length} Secret key${refs.length === 1 ? '' : 's'}.`;
  return { ok: true, reason: SecretReason.Resolved, message, values, refs: uniqueRefs };
}
