// The cache's Secrets against the real API server: metadata only for every
// Secret, and the data of exactly those our objects reference, fetched and
// followed as they change; an unreferenced Secret's data is never fetched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION } from '../../../src/api/index.ts';
import { KubeConfigFile } from '../../../src/kube/kubeconfig.ts';
import { KubeClient, type RequestOptions, type WatchEvent } from '../../../src/kube/rest.ts';
import { createLogger } from '../../../src/log.ts';
import { ClusterCache } from '../../../src/routing/cache.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { eventually } from '../../support/wait.ts';

/** The real client, recording every request's method, path and Accept header. */
class RecordingClient extends KubeClient {
  readonly seen: string[] = [];
  override request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    this.seen.push(`${method} ${path} ${opts.accept ?? 'application/json'}`);
    return super.request(method, path, opts);
  }
  override watch<T>(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal, accept?: string): Promise<void> {
    this.seen.push(`WATCH ${path} ${accept ?? 'application/json'}`);
    return super.watch(path, query, onEvent, signal, accept);
  }
}

let ns: string;
let client: RecordingClient;
let cache: ClusterCache;
const secretEvents: string[] = [];

const apply = (obj: object) => kubectlOk(['apply', '--server-side', '-n', ns, '-f', '-'], JSON.stringify(obj));
const secret = (name: string, data: Record<string, string>, labels: Record<string, string> = {}) =>
  apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name, labels }, stringData: data });
const decoded = (name: string, key: string) => {
  const v = cache.secret(ns, name)?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
};

beforeAll(async () => {
  ns = await createNamespace('secrets-cache');
  client = new RecordingClient(KubeConfigFile.fromFile(kubeconfig()));
  cache = new ClusterCache(client, { namespaces: [ns], resyncMs: 600_000, watchTimeoutSeconds: 300 }, createLogger('silent'));
  cache.onSecretChange((event, s) => secretEvents.push(`${event} ${s.metadata.name}`));
  await secret('relay-login', { username: 'app', password: 'first-password' });
  await secret('unrelated', { token: 'never-to-be-cached' }, { app: 'helm-like' });
  cache.start();
  await eventually(async () => expect(cache.hasSynced()).toBe(true));
});

afterAll(async () => {
  await cache?.stop();
  client?.close();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

describe('ClusterCache Secrets', () => {
  it('lists and watches Secrets as PartialObjectMetadata, keeping no values and no labels of unreferenced ones', async () => {
    const secretCalls = client.seen.filter((s) => s.includes('/secrets'));
    expect(secretCalls.some((s) => s.startsWith('GET') && s.includes('as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'))).toBe(true);
    await eventually(async () => expect(client.seen.some((s) => s.startsWith('WATCH') && s.includes('/secrets') && s.includes('as=PartialObjectMetadata;'))).toBe(true));
    const meta = cache.secretInformer.get(ns, 'unrelated');
    expect(meta?.metadata.resourceVersion).toBeDefined();
    expect(meta).not.toHaveProperty('data');
    expect(meta?.metadata).not.toHaveProperty('labels');
    expect(meta?.metadata).not.toHaveProperty('managedFields');
    expect(cache.secret(ns, 'unrelated')).toBeUndefined();
    expect(cache.secret(ns, 'relay-login')).toBeUndefined();
  });

  it("fetches a referenced Secret's data when an object references it, and follows its changes", async () => {
    await apply({
      apiVersion: API_VERSION,
      kind: 'SmtpTarget',
      metadata: { name: 'relay' },
      spec: { host: 'relay.example.com', port: 587, security: 'STARTTLS', credentials: { secretRef: { name: 'relay-login' } } },
    });
    await eventually(async () => expect(decoded('relay-login', 'password')).toBe('first-password'));
    expect(cache.secret(ns, 'relay-login')?.metadata).not.toHaveProperty('managedFields');
    expect(secretEvents).toContain('add relay-login');

    await secret('relay-login', { username: 'app', password: 'rotated-password' });
    await eventually(async () => expect(decoded('relay-login', 'password')).toBe('rotated-password'));
    expect(secretEvents).toContain('update relay-login');
  });

  it("fetches the generated SMTP credentials Secret an identity references (the SMTP door checks logins against it), before and after it exists", async () => {
    await apply({
      apiVersion: API_VERSION,
      kind: 'SenderIdentity',
      metadata: { name: 'alerts' },
      spec: { email: 'alerts@example.com', serverRef: { name: 'none' }, smtpCredentials: { secretName: 'alerts-smtp' } },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(cache.secret(ns, 'alerts-smtp')).toBeUndefined();
    await secret('alerts-smtp', { username: 'alerts', password: 'generated-1' });
    await eventually(async () => expect(decoded('alerts-smtp', 'password')).toBe('generated-1'));
    await kubectlOk(['delete', 'secret', 'alerts-smtp', '-n', ns]);
    await eventually(async () => expect(cache.secret(ns, 'alerts-smtp')).toBeUndefined());
    expect(secretEvents).toContain('delete alerts-smtp');
  });

  it("drops the data once nothing references the Secret, and never fetched the unreferenced one's", async () => {
    await kubectlOk(['delete', 'smtptarget', 'relay', '-n', ns]);
    await eventually(async () => expect(cache.secret(ns, 'relay-login')).toBeUndefined());
    await secret('unrelated', { token: 'changed-and-still-not-cached' }, { app: 'helm-like' });
    await new Promise((r) => setTimeout(r, 500));
    expect(cache.secret(ns, 'unrelated')).toBeUndefined();
    const fetchedOne = client.seen.filter((s) => /\/secrets\/[^ ]+ /.test(s)).map((s) => s.split(' ')[1]!.split('/').pop());
    expect(fetchedOne).not.toContain('unrelated');
    expect(fetchedOne).toContain('relay-login');
    expect(cache.referencedSecrets.size).toBe(0);
  });
});
