// The SendingDomain's status as users read it, with DNS answered from a zone
// table: the TXT records to publish, KeyReady for a given, generated or broken
// key, DnsPublished until DNS serves them, DMARC reported, and the Ready sentence.
// The same through the operator and a real DNS server: test/cluster/controller/sendingdomain.test.ts.
import { describe, expect, it } from 'vitest';
import type { SendingDomain } from '../../../src/api/index.ts';
import { reconcileSendingDomain, type SendingDomainDeps } from '../../../src/controller/sendingdomain.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import { generatePrivateKey } from '../../../src/providers/dkim/keys.ts';
import type { Secret } from '../../../src/routing/world.ts';
import { b64, MemoryWorld } from '../../support/memory-world.ts';

const now = new Date('2026-01-01T00:00:00.500Z');
const cond = (out: { status: { conditions?: { type: string; message: string }[] } }, type: string) => out.status.conditions?.find((c) => c.type === type);
const ed = generatePrivateKey('Ed25519');

class Zone {
  readonly txt = new Map<string, string[][]>();
  failing = new Set<string>();
  async resolveTxt(name: string): Promise<string[][]> {
    if (this.failing.has(name)) throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
    const r = this.txt.get(name);
    if (!r) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return r;
  }
}

const domain = (dkim: Record<string, unknown>, spec: Record<string, unknown> = {}): SendingDomain =>
  ({
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'SendingDomain',
    metadata: { name: 'example', namespace: 'mail', uid: 'sd-uid', generation: 3 },
    spec: { domain: 'example.com', dkim: { selector: 's1', ...dkim }, ...spec },
  }) as SendingDomain;

function setup() {
  const world = new MemoryWorld();
  const zone = new Zone();
  const created: Secret[] = [];
  let exists = false;
  const deps: SendingDomainDeps = {
    dns: zone,
    createSecret: async (s) => {
      if (exists) return false;
      created.push(s);
      return true;
    },
  };
  const reconcile = (sd: SendingDomain) => reconcileSendingDomain(sd, { world, tester: noTester, tests: new TestCache(), now }, deps);
  return { world, zone, created, deps, reconcile, secretExists: () => (exists = true) };
}

describe('a given key', () => {
  it('loads, shows the TXT record to publish, and waits for DNS (re-checked every minute)', async () => {
    const { world, reconcile } = setup();
    world.secrets.set('mail/key', { metadata: { name: 'key', namespace: 'mail' }, data: { 'private.key': b64(ed) } });
    const out = await reconcile(domain({ privateKeySecretRef: { name: 'key' } }));
    expect(cond(out, 'KeyReady')).toMatchObject({ status: 'True', reason: 'KeyLoaded', message: 'Signing keys loaded: selector "s1": Ed25519 from Secret "mail/key".' });
    expect(out.status.dkim).toHaveLength(1);
    const record = out.status.dkim![0]!;
    expect(record).toMatchObject({ selector: 's1', algorithm: 'ed25519-sha256', secretName: 'key', name: 's1._domainkey.example.com', type: 'TXT', published: false });
    expect(record.value).toMatch(/^v=DKIM1; k=ed25519; p=/);
    expect(record.strings?.join('')).toBe(record.value);
    expect(cond(out, 'DnsPublished')).toMatchObject({
      status: 'False',
      reason: 'RecordMissing',
      message: 'DNS has no DKIM record at s1._domainkey.example.com: publish the TXT record in status.dkim.',
    });
    expect(cond(out, 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForDependency' });
    expect(out.requeueAfterMs).toBe(60_000);
    expect(out.status.checkedAt).toBe('2026-01-01T00:00:00Z');
    expect(out.refs).toEqual(['Namespace/mail', 'Secret/mail/key']);
    expect(out.status.observedGeneration).toBe(3);
  });

  it('once DNS serves it: DnsPublished, Ready with the domain and selector, checkInterval again; DMARC reported', async () => {
    const { world, zone, reconcile } = setup();
    world.secrets.set('mail/key', { metadata: { name: 'key', namespace: 'mail' }, data: { 'private.key': b64(ed) } });
    const sd = domain({ privateKeySecretRef: { name: 'key' } }, { includeSubdomains: true, checkInterval: '30m' });
    const first = await reconcile(sd);
    zone.txt.set('s1._domainkey.example.com', [first.status.dkim![0]!.strings!]);
    let out = await reconcile(sd);
    expect(cond(out, 'DnsPublished')).toMatchObject({ status: 'True', reason: 'RecordPublished', message: 'DNS serves s1._domainkey.example.com with the key in use.' });
    expect(out.status.dkim![0]!.published).toBe(true);
    expect(cond(out, 'Ready')).toMatchObject({ status: 'True', message: 'Signing mail from example.com and its subdomains with selector "s1".' });
    expect(cond(out, 'DmarcPublished')).toMatchObject({ status: 'False', reason: 'DmarcMissing' });
    expect(out.requeueAfterMs).toBe(1_800_000);
    zone.txt.set('_dmarc.example.com', [['v=DMARC1; p=reject']]);
    out = await reconcile(sd);
    expect(cond(out, 'DmarcPublished')).toMatchObject({ status: 'True', reason: 'DmarcFound', message: '_dmarc.example.com publishes DMARC policy "reject".' });
    expect(out.status.dmarc).toEqual({ name: '_dmarc.example.com', record: 'v=DMARC1; p=reject', policy: 'reject' });
    // A DNS server that fails: retried, Ready held back by the DKIM lookup, DMARC unknown.
    zone.failing.add('s1._domainkey.example.com');
    zone.failing.add('_dmarc.example.com');
    out = await reconcile(sd);
    expect(cond(out, 'DnsPublished')).toMatchObject({ status: 'False', reason: 'LookupFailed' });
    expect(cond(out, 'DmarcPublished')).toMatchObject({ status: 'Unknown', reason: 'LookupFailed' });
    expect(out.retry).toBe(true);
  });

  it('another key in DNS: says to replace it', async () => {
    const { world, zone, reconcile } = setup();
    world.secrets.set('mail/key', { metadata: { name: 'key', namespace: 'mail' }, data: { 'private.key': b64(ed) } });
    zone.txt.set('s1._domainkey.example.com', [['v=DKIM1; k=ed25519; p=AAAA']]);
    const out = await reconcile(domain({ privateKeySecretRef: { name: 'key' } }));
    expect(cond(out, 'DnsPublished')).toMatchObject({ status: 'False', reason: 'RecordMismatch' });
    expect(cond(out, 'Ready')).toMatchObject({ status: 'False', reason: 'RecordMismatch' });
  });

  it('a missing Secret or key: KeyReady says how to fix it, DNS is not checked, and only a change helps', async () => {
    const { world, reconcile } = setup();
    let out = await reconcile(domain({ privateKeySecretRef: { name: 'key' } }));
    expect(cond(out, 'KeyReady')).toMatchObject({
      status: 'False',
      reason: 'SecretNotFound',
      message:
        'Secret "mail/key" does not exist. Create it with the PEM private key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048), or use generate.',
    });
    expect(cond(out, 'DnsPublished')).toMatchObject({ status: 'Unknown', reason: 'KeyNotReady', message: 'Not checked until the key loads.' });
    expect(cond(out, 'Stalled')).toMatchObject({ status: 'True' });
    expect(out.status).not.toHaveProperty('dkim');
    expect(out.requeueAfterMs).toBe(600_000);
    world.secrets.set('mail/key', { metadata: { name: 'key', namespace: 'mail' }, data: { other: b64(ed) } });
    out = await reconcile(domain({ privateKeySecretRef: { name: 'key' } }));
    expect(cond(out, 'KeyReady')).toMatchObject({ status: 'False', reason: 'SecretKeyNotFound', message: expect.stringMatching(/^Secret "mail\/key" has no key "private.key"\. Create it/) });
  });
});

describe('a generated key', () => {
  it('is generated once into a Secret the domain owns, and says so', async () => {
    const { world, created, reconcile } = setup();
    const sd = domain({ generate: { secretName: 'dkim', algorithm: 'Ed25519' } });
    const out = await reconcile(sd);
    expect(created).toHaveLength(1);
    const secret = created[0]!;
    expect(secret.metadata).toMatchObject({
      name: 'dkim',
      namespace: 'mail',
      labels: { 'app.kubernetes.io/managed-by': 'postmaster', 'email.postmaster.dev/sending-domain': 'example' },
      ownerReferences: [{ apiVersion: 'email.postmaster.dev/v1alpha1', kind: 'SendingDomain', name: 'example', uid: 'sd-uid', controller: true }],
    });
    expect(Buffer.from(secret.data!['private.key']!, 'base64').toString()).toMatch(/BEGIN PRIVATE KEY/);
    expect(out.events).toEqual([{ type: 'Normal', reason: 'KeyGenerated', message: 'Generated a Ed25519 key for selector "s1" into Secret "mail/dkim".' }]);
    expect(cond(out, 'KeyReady')).toMatchObject({ status: 'True', reason: 'KeyGenerated', message: 'Signing keys loaded: selector "s1": Ed25519 from Secret "mail/dkim" (generated).' });
    // Next reconcile: the Secret is in the cache, nothing is generated again, and it still says generated.
    world.secrets.set('mail/dkim', secret);
    const again = await reconcile(sd);
    expect(created).toHaveLength(1);
    expect(again.events).toEqual([]);
    expect(cond(again, 'KeyReady')).toMatchObject({ reason: 'KeyGenerated', message: expect.stringContaining('(generated)') });
  });

  it('a Secret of that name that exists but is not cached yet is never replaced: retried', async () => {
    const { reconcile, secretExists, created } = setup();
    secretExists();
    const out = await reconcile(domain({ generate: { secretName: 'dkim' } }));
    expect(created).toEqual([]);
    expect(cond(out, 'KeyReady')).toMatchObject({
      status: 'False',
      reason: 'SecretBeingCreated',
      message: 'Secret "mail/dkim" exists but is not in the cache yet; its key is used, never replaced.',
    });
    expect(out.retry).toBe(true);
  });

  it('RSA by default; with a second key, both records and both selectors', async () => {
    const { world, zone, created, reconcile } = setup();
    world.secrets.set('mail/given', { metadata: { name: 'given', namespace: 'mail' }, data: { 'private.key': b64(ed) } });
    const out = await reconcile(domain({ generate: { secretName: 'dkim' }, secondary: { selector: 's2', privateKeySecretRef: { name: 'given' } } }));
    expect(created).toHaveLength(1);
    expect(out.events?.[0]?.message).toBe('Generated a RSA-2048 key for selector "s1" into Secret "mail/dkim".');
    expect(out.status.dkim?.map((r) => [r.selector, r.algorithm, r.keyBits])).toEqual([
      ['s1', 'rsa-sha256', 2048],
      ['s2', 'ed25519-sha256', expect.anything()],
    ]);
    expect(cond(out, 'KeyReady')?.message).toBe('Signing keys loaded: selector "s1": RSA-2048 from Secret "mail/dkim" (generated); selector "s2": Ed25519 from Secret "mail/given".');
    expect(cond(out, 'DnsPublished')?.message).toBe('DNS has no DKIM record at s1._domainkey.example.com: publish the TXT record in status.dkim.');
    expect(out.refs).toEqual(['Namespace/mail', 'Secret/mail/dkim', 'Secret/mail/given']);
    world.secrets.set('mail/dkim', created[0]!);
    zone.txt.set('s1._domainkey.example.com', [out.status.dkim![0]!.strings!]);
    const half = await reconcile(domain({ generate: { secretName: 'dkim' }, secondary: { selector: 's2', privateKeySecretRef: { name: 'given' } } }));
    expect(cond(half, 'DnsPublished')?.message).toBe('DNS has no DKIM record at s2._domainkey.example.com: publish the TXT record in status.dkim.');
    expect(half.status.dkim?.map((r) => r.published)).toEqual([true, false]);
    zone.txt.set('s2._domainkey.example.com', [out.status.dkim![1]!.strings!]);
    const both = await reconcile(domain({ generate: { secretName: 'dkim' }, secondary: { selector: 's2', privateKeySecretRef: { name: 'given' } } }));
    expect(cond(both, 'DnsPublished')?.message).toBe('DNS serves s1._domainkey.example.com and s2._domainkey.example.com with the key in use.');
    expect(cond(both, 'Ready')?.message).toBe('Signing mail from example.com with selector "s1" and "s2".');
  });

  it('a generated key that no longer loads: KeyReady says to delete the Secret for a new one', async () => {
    const { world, reconcile } = setup();
    world.secrets.set('mail/dkim', { metadata: { name: 'dkim', namespace: 'mail' }, data: { 'private.key': b64('garbage') } });
    const out = await reconcile(domain({ generate: { secretName: 'dkim' } }));
    expect(cond(out, 'KeyReady')).toMatchObject({ status: 'False', message: expect.stringContaining('Delete the Secret, or name another in generate.secretName, to have a new key generated.') });
  });
});

describe('status details', () => {
  const withKey = (world: MemoryWorld, name: string, extra: Partial<Secret['metadata']> = {}) =>
    world.secrets.set(`mail/${name}`, { metadata: { name, namespace: 'mail', ...extra }, data: { 'private.key': b64(ed) } });

  it('published with DMARC: exactly its conditions, for its generation, and no retry', async () => {
    const { world, zone, reconcile } = setup();
    withKey(world, 'key');
    const sd = domain({ privateKeySecretRef: { name: 'key' } });
    const first = await reconcile(sd);
    zone.txt.set('s1._domainkey.example.com', [first.status.dkim![0]!.strings!]);
    zone.txt.set('_dmarc.example.com', [['v=DMARC1; p=none']]);
    const out = await reconcile(sd);
    expect(out.status.conditions?.map((c) => c.type)).toEqual(['Ready', 'DmarcPublished', 'DnsPublished', 'KeyReady']);
    expect(out.status.conditions?.every((c) => c.observedGeneration === 3)).toBe(true);
    expect(out.retry).toBe(false);
  });

  it('generates an RSA-2048 key unless told otherwise', async () => {
    const { created, reconcile } = setup();
    const out = await reconcile(domain({ generate: { secretName: 'gen' } }));
    expect(created).toHaveLength(1);
    expect(out.status.dkim![0]).toMatchObject({ algorithm: 'rsa-sha256', keyBits: 2048, secretName: 'gen' });
    expect(out.events).toEqual([
      { type: 'Normal', reason: 'KeyGenerated', message: 'Generated a RSA-2048 key for selector "s1" into Secret "mail/gen".' },
    ]);
  });

  it('a broken Secret of a generated key: KeyReady says to delete or rename it, never overwrites it', async () => {
    const { world, created, reconcile } = setup();
    world.secrets.set('mail/gen', { metadata: { name: 'gen', namespace: 'mail' }, data: { 'private.key': b64('not a key') } });
    const out = await reconcile(domain({ generate: { secretName: 'gen' } }));
    expect(created).toHaveLength(0);
    expect(cond(out, 'KeyReady')?.message).toMatch(/ Delete the Secret, or name another in generate\.secretName, to have a new key generated\.$/);
  });

  it('with one key broken, the loaded one is listed as not published and DNS is not checked', async () => {
    const { world, zone, reconcile } = setup();
    withKey(world, 'key');
    const sd = domain({ privateKeySecretRef: { name: 'key' }, secondary: { selector: 's2', privateKeySecretRef: { name: 'missing' } } });
    const first = await reconcile(sd);
    zone.txt.set('s1._domainkey.example.com', [first.status.dkim![0]!.strings!]);
    const out = await reconcile(sd);
    expect(out.status.dkim).toHaveLength(1);
    expect(out.status.dkim![0]).toMatchObject({ selector: 's1', published: false });
    expect(cond(out, 'DnsPublished')).toMatchObject({ status: 'Unknown', message: 'Not checked until the key loads.' });
  });

  it('calls a key "generated" only when this SendingDomain controls its Secret', async () => {
    const { world, reconcile } = setup();
    const sd = domain({ privateKeySecretRef: { name: 'key' } });
    const owner = (uid: string, controller: boolean) => ({ apiVersion: 'v1', kind: 'X', name: 'x', uid, controller });
    withKey(world, 'key', { ownerReferences: [owner('someone-else', true)] } as never);
    expect(cond(await reconcile(sd), 'KeyReady')?.message).toBe('Signing keys loaded: selector "s1": Ed25519 from Secret "mail/key".');
    withKey(world, 'key', { ownerReferences: [owner('sd-uid', false)] } as never);
    expect(cond(await reconcile(sd), 'KeyReady')?.message).toBe('Signing keys loaded: selector "s1": Ed25519 from Secret "mail/key".');
    withKey(world, 'key', { ownerReferences: [owner('sd-uid', true), owner('someone-else', false)] } as never);
    expect(cond(await reconcile(sd), 'KeyReady')?.message).toBe('Signing keys loaded: selector "s1": Ed25519 from Secret "mail/key" (generated).');
  });
});
