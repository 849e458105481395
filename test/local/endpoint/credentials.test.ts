// Generated SMTP credentials: the Secret the operator writes (exactly what the
// API server receives, and when it receives nothing), the status it reports on
// the identity, and the login check the SMTP door asks the directory for.
import { describe, expect, it } from 'vitest';
import type { SenderIdentity } from '../../../src/api/index.ts';
import { ensureCredentialsSecret, identityExtrasHook, parseSmtpUsername, smtpUsername } from '../../../src/endpoint/credentials.ts';
import { createDirectory } from '../../../src/endpoint/directory.ts';
import type { KubeClient } from '../../../src/kube/rest.ts';
import { KubeError } from '../../../src/kube/rest.ts';
import type { Secret } from '../../../src/routing/world.ts';
import { b64, MemoryWorld } from '../../support/memory-world.ts';

const address = { service: 'postmaster.postmaster-system.svc', httpPath: '/v1/messages', smtpPort: 2525 };

const idy = (spec: Partial<SenderIdentity['spec']> = { smtpCredentials: { secretName: 'alerts-smtp' } }): SenderIdentity => ({
  apiVersion: 'email.postmaster.dev/v1alpha1',
  kind: 'SenderIdentity',
  metadata: { namespace: 'team', name: 'alerts', uid: 'uid-alerts' },
  spec: { email: 'alerts@example.com', ...spec },
});

/** Records what the API server would receive; fails as told. */
class RecordingClient {
  readonly requests: { method: string; path: string; opts: unknown }[] = [];
  fail?: Error;
  async request(method: string, path: string, opts: unknown): Promise<unknown> {
    this.requests.push({ method, path, opts });
    if (this.fail) throw this.fail;
    return {};
  }
}
const client = () => new RecordingClient();
const asKube = (c: RecordingClient) => c as unknown as KubeClient;

const owned = (data: Record<string, string>, controller = true): Secret =>
  ({
    metadata: { name: 'alerts-smtp', namespace: 'team', ownerReferences: [{ apiVersion: 'email.postmaster.dev/v1alpha1', kind: 'SenderIdentity', name: 'alerts', uid: 'uid-alerts', controller }] },
    data,
  }) as Secret;
const fullData = (password = b64('old-password')) => ({ host: b64(address.service), port: b64('2525'), username: b64('team/alerts'), password });

describe('the SMTP user name', () => {
  it('is <namespace>/<identity>, and only that parses', () => {
    expect(smtpUsername('team', 'alerts')).toBe('team/alerts');
    expect(parseSmtpUsername('team/alerts')).toEqual({ namespace: 'team', identity: 'alerts' });
    expect(parseSmtpUsername('team-1/alerts.v2')).toEqual({ namespace: 'team-1', identity: 'alerts.v2' });
    for (const u of ['team', 'team/', '/alerts', 'Team/alerts', 'team/Alerts', '-team/alerts', 'team/.alerts', 'team/alerts/x', 'team.x/alerts', ' team/alerts', 'team/alerts ']) {
      expect(parseSmtpUsername(u), u).toBeUndefined();
    }
  });
});

describe('ensureCredentialsSecret', () => {
  it('creates the Secret, owned by the identity, with host, port, user name and a new password', async () => {
    const c = client();
    expect(await ensureCredentialsSecret(asKube(c), idy(), undefined, address)).toBe('alerts-smtp');
    expect(c.requests).toHaveLength(1);
    const { method, path, opts } = c.requests[0]!;
    expect(method).toBe('POST');
    expect(path).toBe('/api/v1/namespaces/team/secrets');
    const body = (opts as { body: { data: Record<string, string> } }).body;
    expect(body).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: 'alerts-smtp',
        namespace: 'team',
        labels: { 'email.postmaster.dev/sender-identity': 'alerts', 'app.kubernetes.io/managed-by': 'postmaster' },
        ownerReferences: [{ apiVersion: 'email.postmaster.dev/v1alpha1', kind: 'SenderIdentity', name: 'alerts', uid: 'uid-alerts', controller: true }],
      },
      data: { host: b64(address.service), port: b64('2525'), username: b64('team/alerts'), password: expect.any(String) },
    });
    const password = Buffer.from(body.data.password!, 'base64').toString();
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // A second Secret gets another password.
    const c2 = client();
    await ensureCredentialsSecret(asKube(c2), idy(), undefined, address);
    expect((c2.requests[0]!.opts as { body: { data: Record<string, string> } }).body.data.password).not.toBe(body.data.password);
  });

  it('leaves an up-to-date Secret alone, extra keys and all', async () => {
    const c = client();
    expect(await ensureCredentialsSecret(asKube(c), idy(), owned({ ...fullData(), note: b64('x') }), address)).toBe('alerts-smtp');
    expect(c.requests).toEqual([]);
  });

  it('patches what changed, keeping the password', async () => {
    const c = client();
    await ensureCredentialsSecret(asKube(c), idy(), owned({ ...fullData(), port: b64('25') }), address);
    expect(c.requests).toEqual([
      { method: 'PATCH', path: '/api/v1/namespaces/team/secrets/alerts-smtp', opts: { body: { data: fullData() }, patch: 'merge' } },
    ]);
  });

  it('knows its own Secret among other owners, and writes a password into one that has no data', async () => {
    const c = client();
    const shared = owned(fullData());
    shared.metadata.ownerReferences!.unshift({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'uid-x' } as never);
    expect(await ensureCredentialsSecret(asKube(c), idy(), shared, address)).toBe('alerts-smtp');
    expect(c.requests).toEqual([]);
    const empty = owned(fullData());
    delete (empty as { data?: unknown }).data;
    await ensureCredentialsSecret(asKube(c), idy(), empty, address);
    expect(c.requests).toHaveLength(1);
    const patch = c.requests[0]!.opts as { body: { data: Record<string, string> }; patch: string };
    expect(patch.patch).toBe('merge');
    expect(Buffer.from(patch.body.data.password!, 'base64').toString()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('refuses a Secret it does not control, naming it', async () => {
    const message = 'Secret "team/alerts-smtp" exists and is not owned by SenderIdentity "alerts"; choose another smtpCredentials.secretName';
    const c = client();
    await expect(ensureCredentialsSecret(asKube(c), idy(), { metadata: { name: 'alerts-smtp', namespace: 'team' }, data: fullData() } as Secret, address)).rejects.toThrow(message);
    await expect(ensureCredentialsSecret(asKube(c), idy(), owned(fullData(), false), address)).rejects.toThrow(message);
    const other = owned(fullData());
    other.metadata.ownerReferences![0]!.uid = 'uid-other';
    await expect(ensureCredentialsSecret(asKube(c), idy(), other, address)).rejects.toThrow(message);
    expect(c.requests).toEqual([]);
  });
});

describe('identityExtrasHook', () => {
  it('reports the endpoint, and the Secret when the identity asks for credentials', async () => {
    const c = client();
    const hook = identityExtrasHook(asKube(c), () => undefined, address);
    expect(await hook(idy({}))).toEqual({ endpoint: address });
    expect(c.requests).toEqual([]);
    expect(await hook(idy())).toEqual({ endpoint: address, smtpCredentialsSecret: 'alerts-smtp' });
    expect(c.requests).toHaveLength(1);
  });

  it('reads the existing Secret by the name the identity gives', async () => {
    const c = client();
    const asked: string[] = [];
    const hook = identityExtrasHook(asKube(c), (ns, name) => (asked.push(`${ns}/${name}`), owned(fullData())), address);
    expect(await hook(idy())).toEqual({ endpoint: address, smtpCredentialsSecret: 'alerts-smtp' });
    expect(asked).toEqual(['team/alerts-smtp']);
    expect(c.requests).toEqual([]);
  });

  it('a Secret owned by someone else is a problem for a person; API trouble is thrown for a retry', async () => {
    const c = client();
    const foreign = { metadata: { name: 'alerts-smtp', namespace: 'team' }, data: {} } as Secret;
    expect(await identityExtrasHook(asKube(c), () => foreign, address)(idy())).toEqual({
      endpoint: address,
      credentialsProblem: 'Secret "team/alerts-smtp" exists and is not owned by SenderIdentity "alerts"; choose another smtpCredentials.secretName',
    });
    c.fail = new KubeError(500, 'InternalError', 'etcd is away');
    await expect(identityExtrasHook(asKube(c), () => undefined, address)(idy())).rejects.toThrow('etcd is away');
  });
});

describe('the directory', () => {
  const world = () => {
    const w = new MemoryWorld();
    w.add(idy());
    w.add({ ...idy({}), metadata: { namespace: 'team', name: 'plain' } });
    w.addSecret('team', 'alerts-smtp', { password: 's3cret-password' });
    return w;
  };

  it('lets in the generated login, and nothing else', () => {
    const w = world();
    const d = createDirectory(w, { apiBaseUrls: {} });
    expect(d.smtpLogin('team/alerts', 's3cret-password')).toEqual({ namespace: 'team', identity: 'alerts' });
    expect(d.smtpLogin('team/alerts', 's3cret-passworD')).toBeUndefined();
    expect(d.smtpLogin('team/alerts', 's3cret')).toBeUndefined();
    expect(d.smtpLogin('team/alerts', '')).toBeUndefined();
    expect(d.smtpLogin('team/plain', 's3cret-password')).toBeUndefined();
    expect(d.smtpLogin('team/missing', 's3cret-password')).toBeUndefined();
    expect(d.smtpLogin('alerts', 's3cret-password')).toBeUndefined();
    w.secrets.set('team/alerts-smtp', { metadata: { name: 'alerts-smtp', namespace: 'team' }, data: { other: b64('x') } });
    expect(d.smtpLogin('team/alerts', 's3cret-password')).toBeUndefined();
    w.secrets.set('team/alerts-smtp', { metadata: { name: 'alerts-smtp', namespace: 'team' } } as never);
    expect(d.smtpLogin('team/alerts', 's3cret-password')).toBeUndefined();
    w.secrets.delete('team/alerts-smtp');
    expect(d.smtpLogin('team/alerts', 's3cret-password')).toBeUndefined();
  });

  it('resolves identities from the caches', () => {
    const d = createDirectory(world(), { apiBaseUrls: {} });
    expect(d.resolve('team', 'alerts')?.identity.metadata.name).toBe('alerts');
    expect(d.resolve('team', 'nobody')).toBeUndefined();
  });
});
