// The data of exactly the Secrets our objects reference, with the API server's
// GET answered from a table: fetched when first referenced (unless the metadata
// watch knows it is absent), fetched again when its resourceVersion moves,
// forgotten when nothing references it, gone on 404, retried on other errors.
// The same against a real API server: test/cluster/routing/secrets.test.ts.
import { describe, expect, it } from 'vitest';
import { KubeError, type KubeClient } from '../../../src/kube/rest.ts';
import { ReferencedSecrets, secretNames } from '../../../src/routing/referenced-secrets.ts';
import type { Secret } from '../../../src/routing/world.ts';
import { emailServer, senderIdentity, smtpTarget } from '../../support/memory-world.ts';
import { silentLog } from '../../support/endpoint-fakes.ts';
import { eventually } from '../../support/wait.ts';

class SecretsApi {
  readonly secrets = new Map<string, Secret>();
  readonly gets: string[] = [];
  /** Errors the next GETs fail with, one each. */
  readonly failures: Error[] = [];
  /** While set, GETs wait for it. */
  gate: Promise<void> | undefined;
  async get<T>(path: string): Promise<T> {
    this.gets.push(path);
    await this.gate;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const [, ns, name] = /namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path)!;
    const s = this.secrets.get(`${ns}/${name}`);
    if (!s) throw new KubeError(404, 'NotFound', `secrets "${name}" not found`);
    return structuredClone(s) as T;
  }
  put(ns: string, name: string, data: Record<string, string>, resourceVersion: string, type = 'Opaque') {
    const s: Secret = { metadata: { name, namespace: ns, resourceVersion, managedFields: [{}] } as Secret['metadata'], type, data };
    this.secrets.set(`${ns}/${name}`, s);
    return s;
  }
}

function setup(opts: { synced?: boolean } = {}) {
  const api = new SecretsApi();
  const meta = new Map<string, Secret>();
  const store = new ReferencedSecrets(api as unknown as KubeClient, { get: (ns, n) => meta.get(`${ns}/${n}`), hasSynced: () => opts.synced ?? false }, silentLog);
  const events: string[] = [];
  store.onChange((event, obj, old) => events.push(`${event} ${obj.metadata.name}${old ? ` (was rv ${old.metadata.resourceVersion})` : ''}`));
  const seen = (s: Secret) => meta.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  return { api, store, events, meta, seen };
}

describe('ReferencedSecrets', () => {
  it('fetches a Secret once it is referenced, slimmed, and tells its readers', async () => {
    const { api, store, events } = setup();
    api.put('mail', 'login', { password: 'cHc=' }, '1');
    api.put('mail', 'unrelated', { x: 'eA==' }, '1');
    expect(store.get('mail', 'login')).toBeUndefined();
    store.setUses('SmtpTarget/mail/relay', 'mail', ['login']);
    expect(store.fetching).toBe(1);
    await store.settled();
    expect(store.fetching).toBe(0);
    expect(store.get('mail', 'login')?.data).toEqual({ password: 'cHc=' });
    expect(store.get('mail', 'login')?.metadata).not.toHaveProperty('managedFields');
    expect(store.get('mail', 'unrelated')).toBeUndefined();
    expect(api.gets).toEqual(['/api/v1/namespaces/mail/secrets/login']);
    expect(events).toEqual(['add login']);
    expect(store.size).toBe(1);
    // A second user of the same Secret fetches nothing more.
    store.setUses('EmailServer/mail/smtp', 'mail', ['login']);
    await store.settled();
    expect(api.gets).toHaveLength(1);
  });

  it('once the metadata watch has synced, a Secret it does not know is not fetched until it appears', async () => {
    const { api, store, events, seen } = setup({ synced: true });
    store.setUses('SmtpTarget/mail/relay', 'mail', ['later']);
    await store.settled();
    expect(api.gets).toEqual([]);
    const s = api.put('mail', 'later', { k: 'dg==' }, '5');
    seen(s);
    store.onMeta('add', s);
    await store.settled();
    expect(store.get('mail', 'later')?.data).toEqual({ k: 'dg==' });
    expect(events).toEqual(['add later']);
  });

  it('fetches again when the resourceVersion moves; says update only when data or type changed', async () => {
    const { api, store, events } = setup();
    api.put('mail', 'login', { password: 'MQ==' }, '1');
    store.setUses('SmtpTarget/mail/relay', 'mail', ['login']);
    await store.settled();
    store.onMeta('update', api.secrets.get('mail/login')!);
    await store.settled();
    expect(api.gets).toHaveLength(1);
    store.onMeta('update', api.put('mail', 'login', { password: 'MQ==' }, '2'));
    await store.settled();
    expect(api.gets).toHaveLength(2);
    expect(events).toEqual(['add login']);
    store.onMeta('update', api.put('mail', 'login', { password: 'Mg==' }, '3'));
    await store.settled();
    expect(store.get('mail', 'login')?.data).toEqual({ password: 'Mg==' });
    store.onMeta('update', api.put('mail', 'login', { password: 'Mg==' }, '4', 'kubernetes.io/basic-auth'));
    await store.settled();
    expect(events).toEqual(['add login', 'update login (was rv 2)', 'update login (was rv 3)']);
    // Events of Secrets nobody references change nothing.
    store.onMeta('update', api.put('mail', 'other', {}, '9'));
    store.onMeta('delete', api.secrets.get('mail/other')!);
    await store.settled();
    expect(api.gets).toHaveLength(4);
  });

  it('forgets the values once nothing references the Secret, and fetches afresh if it is referenced again', async () => {
    const { api, store } = setup();
    api.put('mail', 'login', { password: 'MQ==' }, '1');
    store.setUses('SmtpTarget/mail/a', 'mail', ['login']);
    store.setUses('SmtpTarget/mail/b', 'mail', ['login']);
    await store.settled();
    store.setUses('SmtpTarget/mail/a', 'mail', []);
    expect(store.get('mail', 'login')).toBeDefined();
    store.setUses('SmtpTarget/mail/b', 'mail', ['other']);
    expect(store.get('mail', 'login')).toBeUndefined();
    await store.settled();
    store.setUses('SmtpTarget/mail/b', 'mail', ['login']);
    await store.settled();
    expect(store.get('mail', 'login')?.data).toEqual({ password: 'MQ==' });
    expect(api.gets.filter((g) => g.endsWith('/login'))).toHaveLength(2);
  });

  it('a deleted Secret is gone, from the watch or from a 404', async () => {
    const { api, store, events } = setup();
    api.put('mail', 'a', { k: 'MQ==' }, '1');
    api.put('mail', 'b', { k: 'MQ==' }, '1');
    store.setUses('SmtpTarget/mail/t', 'mail', ['a', 'b', 'never']);
    await store.settled();
    expect(events).toEqual(['add a', 'add b']);
    store.onMeta('delete', api.secrets.get('mail/a')!);
    expect(store.get('mail', 'a')).toBeUndefined();
    api.secrets.delete('mail/b');
    store.onMeta('update', { metadata: { name: 'b', namespace: 'mail', resourceVersion: '2' } });
    await store.settled();
    expect(store.get('mail', 'b')).toBeUndefined();
    expect(events).toEqual(['add a', 'add b', 'delete a', 'delete b']);
  });

  it('retries other errors until the Secret arrives; a change during a fetch is fetched once more', async () => {
    const { api, store, events } = setup();
    api.put('mail', 'login', { k: 'MQ==' }, '1');
    api.failures.push(new KubeError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    store.setUses('SmtpTarget/mail/t', 'mail', ['login']);
    await eventually(async () => expect(store.get('mail', 'login')).toBeDefined(), 5000, 20);
    expect(api.gets).toHaveLength(2);
    let open!: () => void;
    api.gate = new Promise((r) => (open = r));
    store.onMeta('update', api.put('mail', 'login', { k: 'Mg==' }, '2'));
    store.onMeta('update', api.put('mail', 'login', { k: 'Mw==' }, '3'));
    open();
    api.gate = undefined;
    await eventually(async () => expect(store.get('mail', 'login')?.data).toEqual({ k: 'Mw==' }), 5000, 20);
    expect(events[0]).toBe('add login');
    expect(events.at(-1)).toMatch(/^update login/);
    expect(store.fetching).toBe(0);
  });

  it('settled() does not wait longer than it is told', async () => {
    const { api, store } = setup();
    api.gate = new Promise(() => {});
    store.setUses('SmtpTarget/mail/t', 'mail', ['stuck']);
    const t0 = Date.now();
    await store.settled(100);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(store.fetching).toBe(1);
    store.stop();
  });
});

describe('secretNames: what each kind references', () => {
  it('SmtpTarget: login, CA, each OAuth2 grant', () => {
    expect(secretNames('SmtpTarget', smtpTarget('mail', 't', { credentials: { secretRef: { name: 'login' } }, tls: { caSecretRef: { name: 'ca' } } } as never))).toEqual(['login', 'ca']);
    const oauth2 = (g: Record<string, unknown>) => secretNames('SmtpTarget', smtpTarget('mail', 't', { credentials: { type: 'OAuth2', oauth2: { user: 'u@example.com', ...g } } } as never));
    expect(oauth2({ microsoft: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'k' } })).toEqual(['entra']);
    expect(oauth2({ google: { secretRef: { name: 'sa' } } })).toEqual(['sa']);
    expect(oauth2({ refreshToken: { tokenUrl: 'https://t', clientId: 'c', secretRef: { name: 'rt' } } })).toEqual(['rt']);
  });

  it('EmailServer: API keys, the Graph app, the mailbox login and CA; once each', () => {
    expect(secretNames('EmailServer', emailServer('mail', 's', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'k' } } } as never))).toEqual(['k']);
    expect(secretNames('EmailServer', emailServer('mail', 's', { provider: 'SparkPost', sparkpost: { apiKeySecretRef: { name: 'k' } } } as never))).toEqual(['k']);
    expect(
      secretNames('EmailServer', emailServer('mail', 's', { provider: 'MicrosoftGraph', microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'g' } } } } as never)),
    ).toEqual(['g']);
    const incoming = { protocol: 'IMAP', host: 'h', port: 993, credentials: { secretRef: { name: 'box' } }, tls: { caSecretRef: { name: 'box' } } };
    expect(secretNames('EmailServer', emailServer('mail', 's', { incoming } as never))).toEqual(['box']);
  });

  it('SendingDomain: both keys, given or generated; SenderIdentity: its generated SMTP credentials', () => {
    const sd = {
      metadata: { name: 'd', namespace: 'mail' },
      spec: { domain: 'example.com', dkim: { selector: 'a', privateKeySecretRef: { name: 'k1' }, secondary: { selector: 'b', generate: { secretName: 'k2' } } } },
    };
    expect(secretNames('SendingDomain', sd as never)).toEqual(['k1', 'k2']);
    expect(secretNames('SenderIdentity', senderIdentity('mail', 'i', { smtpCredentials: { secretName: 'creds' } } as never))).toEqual(['creds']);
    expect(secretNames('SenderIdentity', senderIdentity('mail', 'i'))).toEqual([]);
  });
});
