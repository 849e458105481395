// What a SenderIdentity's status.signing says, word for word, and which keys
// mail is signed with: a given or generated key, a second (Ed25519) signature,
// a key that does not load, a domain on its way out.
import { describe, expect, it } from 'vitest';
import type { SendingDomain } from '../../../src/api/index.ts';
import { generatePrivateKey } from '../../../src/providers/dkim/keys.ts';
import { keySecret, resolveKey, sendingDomainFor, signingFor, signingStatus } from '../../../src/routing/signing.ts';
import { b64, emailServer, MemoryWorld } from '../../support/memory-world.ts';

const ed = generatePrivateKey('Ed25519');
const rsa = generatePrivateKey('RSA-2048');
const domain = (name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): SendingDomain =>
  ({
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'SendingDomain',
    metadata: { name, namespace: 'mail', uid: name, creationTimestamp: '2026-01-01T00:00:00Z', ...meta },
    spec: { domain: 'example.com', ...spec },
  }) as SendingDomain;
const world = (...domains: SendingDomain[]) => {
  const w = new MemoryWorld();
  w.domains.push(...domains);
  w.secrets.set('mail/rsa', { metadata: { name: 'rsa', namespace: 'mail' }, data: { 'private.key': b64(rsa), other: b64(ed) } });
  w.secrets.set('mail/gen', { metadata: { name: 'gen', namespace: 'mail' }, data: { 'private.key': b64(ed) } });
  return w;
};
const smtp = emailServer('mail', 'smtp');

describe('signingStatus', () => {
  it('signed by a SendingDomain with both of its keys', () => {
    const sd = domain('example', { dkim: { selector: 's1', privateKeySecretRef: { name: 'rsa' }, secondary: { selector: 's2', generate: { secretName: 'gen' } } } });
    const w = world(sd);
    expect(signingStatus(w, smtp, 'app@example.com')).toEqual({
      by: 'SendingDomain',
      sendingDomain: 'example',
      domain: 'example.com',
      selectors: ['s1', 's2'],
      message: 'SendingDomain "mail/example" signs it (d=example.com, s=s1, s=s2).',
    });
    expect(signingFor(w, 'mail', 'app@example.com')?.dkim?.keys.map((k) => [k.selector, k.algorithm])).toEqual([
      ['s1', 'rsa-sha256'],
      ['s2', 'ed25519-sha256'],
    ]);
  });

  it('covered but a key does not load: not signed, and points at KeyReady', () => {
    const w = world(domain('example', { dkim: { selector: 's1', privateKeySecretRef: { name: 'rsa' }, secondary: { selector: 's2', generate: { secretName: 'missing' } } } }));
    expect(signingFor(w, 'mail', 'app@example.com')?.dkim).toBeUndefined();
    expect(signingStatus(w, smtp, 'app@example.com')).toEqual({
      by: 'None',
      sendingDomain: 'example',
      domain: 'example.com',
      selectors: ['s1', 's2'],
      message: 'SendingDomain "mail/example" covers it but its key does not load, so it is not signed: see its KeyReady condition.',
    });
  });

  it('nobody covers it: says which domain, and for a provider with a fallback what the fallback does', () => {
    const w = world(domain('example', { dkim: { selector: 's1', privateKeySecretRef: { name: 'rsa' } } }));
    expect(signingStatus(w, smtp, 'app@Other.ORG')).toEqual({ by: 'None', message: 'No SendingDomain in namespace "mail" covers Other.ORG: mail is not DKIM-signed here.' });
    const sg = (fallback: boolean) => emailServer('mail', 'sg', { provider: 'SendGrid', ...(fallback ? { fallback: { smtpTargetRef: { name: 'f' } } } : {}) } as never);
    expect(signingStatus(w, sg(false), 'app@example.com')).toEqual({
      by: 'Provider',
      sendingDomain: 'example',
      domain: 'example.com',
      selectors: ['s1'],
      message: 'SendGrid signs mail with its own domain authentication.',
    });
    expect(signingStatus(w, sg(true), 'app@other.org').message).toBe(
      'SendGrid signs mail with its own domain authentication; through the fallback SmtpTarget, nobody signs it (no SendingDomain covers the address).',
    );
  });

  it('a SendingDomain being deleted signs nothing; the signed headers are the domain\'s own when set', () => {
    const w = world(domain('example', { dkim: { selector: 's1', privateKeySecretRef: { name: 'rsa' }, headers: ['From', 'Subject'] } }));
    expect(signingFor(w, 'mail', 'a@example.com')?.dkim?.headers).toEqual(['From', 'Subject']);
    const going = world(domain('example', { dkim: { selector: 's1', privateKeySecretRef: { name: 'rsa' } } }, { deletionTimestamp: 'x' }));
    expect(sendingDomainFor(going, 'mail', 'a@example.com')).toBeUndefined();
    const empty = world(domain('example', { dkim: { selector: 's1', privateKeySecretRef: { name: 'rsa' }, headers: [] } }));
    expect(signingFor(empty, 'mail', 'a@example.com')?.dkim?.headers).toContain('From');
  });

  it('same domain, same readiness and age: by name, so every replica picks the same', () => {
    const a = domain('a', { dkim: { selector: 'a', privateKeySecretRef: { name: 'rsa' } } });
    const b = domain('b', { dkim: { selector: 'b', privateKeySecretRef: { name: 'rsa' } } });
    expect(sendingDomainFor(world(b, a), 'mail', 'x@example.com')?.metadata.name).toBe('a');
    const undated = domain('c', { dkim: { selector: 'c', privateKeySecretRef: { name: 'rsa' } } }, { creationTimestamp: undefined });
    expect(sendingDomainFor(world(undated, a), 'mail', 'x@example.com')?.metadata.name).toBe('a');
  });
});

describe('resolveKey: what KeyReady says', () => {
  it('names the Secret and key, given or generated', () => {
    const w = world();
    expect(keySecret({ selector: 's', privateKeySecretRef: { name: 'rsa', key: 'other' } } as never)).toEqual({ name: 'rsa', key: 'other', generated: false });
    expect(keySecret({ selector: 's', privateKeySecretRef: { name: 'rsa' } } as never)).toEqual({ name: 'rsa', key: 'private.key', generated: false });
    expect(keySecret({ selector: 's', generate: { secretName: 'gen' } } as never)).toEqual({ name: 'gen', key: 'private.key', generated: true });
    expect(resolveKey(w, 'mail', { selector: 's', generate: { secretName: 'nope' } } as never)).toEqual({
      ok: false,
      missing: true,
      reason: 'SecretNotFound',
      message: 'Secret "mail/nope" does not exist.',
    });
    expect(resolveKey(w, 'mail', { selector: 's', privateKeySecretRef: { name: 'rsa', key: 'absent' } } as never)).toEqual({
      ok: false,
      reason: 'SecretKeyNotFound',
      message: 'Secret "mail/rsa" has no key "absent".',
    });
    const bad = resolveKey(w, 'mail', { selector: 's', privateKeySecretRef: { name: 'junk' } } as never, { metadata: { name: 'junk', namespace: 'mail' }, data: { 'private.key': b64('not a key') } });
    expect(bad).toMatchObject({ ok: false, message: expect.stringContaining('Secret "mail/junk" key "private.key"') });
    const good = resolveKey(w, 'mail', { selector: 's', privateKeySecretRef: { name: 'rsa', key: 'other' } } as never);
    expect(good).toMatchObject({ ok: true, pem: ed });
    // The same Secret object read again gives the same answer (parsed once).
    expect(resolveKey(w, 'mail', { selector: 's', privateKeySecretRef: { name: 'rsa', key: 'other' } } as never)).toEqual(good);
  });
});
