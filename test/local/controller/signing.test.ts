// Which SendingDomain signs an address, from a World filled by hand: the server's
// namespace only, the most specific domain, subdomains only when asked, and
// during a selector rotation the Ready one before a newer one that is not.
import { describe, expect, it } from 'vitest';
import type { EmailServer, SendingDomain } from '../../../src/api/index.ts';
import { generatePrivateKey } from '../../../src/providers/dkim/keys.ts';
import { sendingDomainFor, signingFor, signingStatus } from '../../../src/routing/signing.ts';
import type { Secret, World } from '../../../src/routing/world.ts';

const pem = generatePrivateKey('Ed25519');
const domain = (ns: string, name: string, spec: Partial<SendingDomain['spec']>, opts: { ready?: boolean; created?: string } = {}): SendingDomain => ({
  apiVersion: 'email.postmaster.dev/v1alpha1',
  kind: 'SendingDomain',
  metadata: { name, namespace: ns, uid: `uid-${name}`, creationTimestamp: opts.created ?? '2026-01-01T00:00:00Z' },
  spec: { domain: 'example.com', dkim: { selector: name, privateKeySecretRef: { name: 'key' } }, ...spec },
  ...(opts.ready === undefined
    ? {}
    : { status: { conditions: [{ type: 'Ready', status: opts.ready ? 'True' : 'False', reason: 'x', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' }] } }),
});
const key: Secret = { metadata: { name: 'key', namespace: 'mail' }, data: { 'private.key': Buffer.from(pem).toString('base64') } };

function world(domains: SendingDomain[], secrets: Secret[] = [key]): World {
  return {
    secret: (ns, name) => secrets.find((s) => s.metadata.namespace === ns && s.metadata.name === name),
    smtpTarget: () => undefined,
    emailServer: () => undefined,
    emailServers: () => [],
    namespace: () => undefined,
    namespaces: () => [],
    senderIdentities: () => [],
    sendingDomains: (ns) => domains.filter((d) => d.metadata.namespace === ns),
  };
}

describe('which SendingDomain signs', () => {
  const apex = domain('mail', 'apex', { domain: 'example.com', includeSubdomains: true });
  const eu = domain('mail', 'eu', { domain: 'eu.example.com' });
  const exact = domain('mail', 'exact', { domain: 'example.org' });
  const elsewhere = domain('team', 'team', { domain: 'example.net' });
  const w = world([apex, eu, exact, elsewhere]);

  it('the most specific domain; subdomains only with includeSubdomains; only the server namespace', () => {
    expect(sendingDomainFor(w, 'mail', 'a@example.com')?.metadata.name).toBe('apex');
    expect(sendingDomainFor(w, 'mail', 'a@EU.example.com')?.metadata.name).toBe('eu');
    expect(sendingDomainFor(w, 'mail', 'a@x.eu.example.com')?.metadata.name).toBe('apex');
    expect(sendingDomainFor(w, 'mail', 'a@example.org')?.metadata.name).toBe('exact');
    expect(sendingDomainFor(w, 'mail', 'a@sub.example.org')).toBeUndefined();
    expect(sendingDomainFor(w, 'mail', 'a@notexample.com')).toBeUndefined();
    expect(sendingDomainFor(w, 'mail', 'a@example.net')).toBeUndefined();
  });

  it('rotating a selector: the Ready SendingDomain signs until the new one is Ready, then the newer', () => {
    const old = domain('mail', 'old', {}, { ready: true, created: '2026-01-01T00:00:00Z' });
    const fresh = domain('mail', 'fresh', {}, { ready: false, created: '2026-02-01T00:00:00Z' });
    expect(sendingDomainFor(world([old, fresh]), 'mail', 'a@example.com')?.metadata.name).toBe('old');
    const freshReady = domain('mail', 'fresh', {}, { ready: true, created: '2026-02-01T00:00:00Z' });
    expect(sendingDomainFor(world([old, freshReady]), 'mail', 'a@example.com')?.metadata.name).toBe('fresh');
  });

  it('signs with the resolved key and the default headers; a key that does not load signs nothing', () => {
    const s = signingFor(w, 'mail', 'a@example.org');
    expect(s?.dkim?.keys).toEqual([{ domain: 'example.org', selector: 'exact', privateKey: pem, algorithm: 'ed25519-sha256' }]);
    expect(s?.dkim?.headers).toContain('From');
    const noKey = signingFor(world([exact], []), 'mail', 'a@example.org');
    expect(noKey?.domain.metadata.name).toBe('exact');
    expect(noKey?.dkim).toBeUndefined();
  });

  it('the identity status: SendingDomain, the provider, or nobody', () => {
    const server = (provider: EmailServer['spec']['provider'], fallback = false) =>
      ({ metadata: { name: 's', namespace: 'mail' }, spec: { provider, ...(fallback ? { fallback: { smtpTargetRef: { name: 'f' } } } : {}) } }) as EmailServer;
    expect(signingStatus(w, server('SMTP'), 'a@example.org')).toMatchObject({ by: 'SendingDomain', sendingDomain: 'exact', domain: 'example.org', selectors: ['exact'] });
    expect(signingStatus(w, server('SMTP'), 'a@example.net')).toMatchObject({ by: 'None' });
    const sg = signingStatus(w, server('SendGrid', true), 'a@example.org');
    expect(sg).toMatchObject({ by: 'Provider', sendingDomain: 'exact' });
    expect(sg.message).toMatch(/^SendGrid signs mail with its own domain authentication; through the fallback SmtpTarget, SendingDomain "mail\/exact" signs it/);
  });
});
