// Where the API server is and how to log in to it: a kubeconfig file or the
// in-cluster ServiceAccount. Our own small reader, because loading
// @kubernetes/client-node for this alone costs the process ~80 MiB of RSS
// (it pulls in every generated API); the REST client is ours already.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type https from 'node:https';
import { parse } from 'yaml';

/** What KubeClient needs; @kubernetes/client-node's KubeConfig fits it too (tests use either). */
export interface KubeAccess {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

interface Login {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  /** Read on every request: projected ServiceAccount tokens rotate. */
  tokenFile?: string;
  basic?: { username: string; password: string };
  serverName?: string;
  insecure?: boolean;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfigFile implements KubeAccess {
  readonly #login: Login;

  private constructor(login: Login) {
    this.#login = login;
  }

  /** The current context of a kubeconfig file; paths in it are relative to the file. */
  static fromFile(path: string, context?: string): KubeConfigFile {
    const doc = parse(readFileSync(path, 'utf8')) as KubeconfigDoc;
    const name = context ?? doc['current-context'];
    const ctx = doc.contexts?.find((c) => c.name === name)?.context;
    if (!ctx) throw new Error(`context "${name ?? ''}" not found`);
    const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
    if (!cluster?.server) throw new Error(`cluster "${ctx.cluster}" not found or has no server`);
    const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
    if (user.exec || user['auth-provider']) throw new Error(`user "${ctx.user}" uses an exec or auth-provider plugin, which postmaster does not run: use a token or a client certificate`);
    const base = dirname(path);
    const file = (p: string | undefined) => (p ? readFileSync(isAbsolute(p) ? p : join(base, p)) : undefined);
    const data = (d: string | undefined) => (d ? Buffer.from(d, 'base64') : undefined);
    const login: Login = { server: cluster.server.replace(/\/$/, '') };
    const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
    const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
    const key = data(user['client-key-data']) ?? file(user['client-key']);
    if (ca) login.ca = ca;
    if (cert) login.cert = cert;
    if (key) login.key = key;
    if (user.token) login.token = user.token;
    if (user.tokenFile) login.tokenFile = isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile);
    if (user.username !== undefined && user.password !== undefined) login.basic = { username: user.username, password: user.password };
    if (cluster['tls-server-name']) login.serverName = cluster['tls-server-name'];
    if (cluster['insecure-skip-tls-verify']) login.insecure = true;
    return new KubeConfigFile(login);
  }

  /** The pod's ServiceAccount, as client-go's rest.InClusterConfig does it. */
  static inCluster(): KubeConfigFile {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new Error('KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not running in a cluster');
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return new KubeConfigFile({ server: `https://${hostPart}:${port}`, ca: readFileSync(join(SA_DIR, 'ca.crt')), tokenFile: join(SA_DIR, 'token') });
  }

  getCurrentCluster(): { server: string } {
    return { server: this.#login.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const l = this.#login;
    if (l.ca) opts.ca = l.ca;
    if (l.cert) opts.cert = l.cert;
    if (l.key) opts.key = l.key;
    if (l.serverName) opts.servername = l.serverName;
    if (l.insecure) opts.rejectUnauthorized = false;
    const token = l.tokenFile ? readFileSync(l.tokenFile, 'utf8').trim() : l.token;
    const headers = { ...(opts.headers as Record<string, string> | undefined) };
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (l.basic) headers.Authorization = `Basic ${Buffer.from(`${l.basic.username}:${l.basic.password}`).toString('base64')}`;
    opts.headers = headers;
  }
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: {
    name: string;
    cluster: {
      server?: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'tls-server-name'?: string;
      'insecure-skip-tls-verify'?: boolean;
    };
  }[];
  users?: {
    name: string;
    user: {
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      token?: string;
      tokenFile?: string;
      username?: string;
      password?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  }[];
}
