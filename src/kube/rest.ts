// A small REST client for the API server: JSON requests and watch streams over
// one keep-alive agent. kubeconfig.ts (or any KubeAccess) supplies the server and
// credentials; the requests are ours so timeouts, 410s and backoff are too.
import https from 'node:https';
import http from 'node:http';
import type { KubeAccess } from './kubeconfig.ts';

/** Also the field manager name the API server records for our writes. */
export const USER_AGENT = 'postmaster';

export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeError && e.status === 409;
export const isGone = (e: unknown): boolean => e instanceof KubeError && e.status === 410;

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestOptions {
  body?: unknown;
  patch?: PatchType;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
  /** Accept header; default application/json (metadata-only lists and watches ask for PartialObjectMetadata). */
  accept?: string;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeClient {
  readonly server: string;
  private readonly kc: KubeAccess;
  private readonly agent: https.Agent | http.Agent;

  constructor(kc: KubeAccess) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.kc = kc;
    this.server = cluster.server.replace(/\/$/, '');
    const isHttps = this.server.startsWith('https:');
    this.agent = isHttps
      ? new https.Agent({ keepAlive: true, maxSockets: 32 })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw toKubeError(status, text, method, path);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, query?: RequestOptions['query'], accept?: string): Promise<T> {
    return this.request<T>('GET', path, { query, ...(accept ? { accept } : {}) });
  }

  /**
   * Streams watch events until the server closes the stream or `signal` aborts.
   * Resolves on a clean close; rejects on transport errors or a non-2xx answer.
   */
  async watch<T>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
    accept?: string,
  ): Promise<void> {
    const res = await this.open('GET', path, { query: { ...query, watch: true }, ...(accept ? { accept } : {}) }, signal);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw toKubeError(status, await readBody(res), 'WATCH', path);
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch (err) {
            res.destroy(err as Error);
            return;
          }
        }
      });
      res.once('end', resolve);
      res.once('close', resolve);
      res.once('error', (err) => (signal.aborted ? resolve() : reject(err)));
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private async open(
    method: string,
    path: string,
    opts: RequestOptions,
    signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const options: https.RequestOptions = { method, headers: { Accept: opts.accept ?? 'application/json', 'User-Agent': USER_AGENT } };
    // Credentials can rotate (projected ServiceAccount tokens): ask the kubeconfig each time.
    await this.kc.applyToHTTPSOptions(options);
    options.agent = this.agent;
    if (signal) options.signal = signal;
    if (opts.timeoutMs) options.timeout = opts.timeoutMs;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      options.headers = {
        ...options.headers,
        'Content-Type': opts.patch ? patchContentType[opts.patch] : 'application/json',
        'Content-Length': Buffer.byteLength(payload),
      };
    }
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, options, resolve);
      req.once('error', reject);
      req.once('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${opts.timeoutMs}ms`)));
      req.end(payload);
    });
  }
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}

function toKubeError(status: number, text: string, method: string, path: string): KubeError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeError(status, s.reason ?? 'Unknown', `${method} ${path}: ${s.message ?? text}`);
  } catch {
    return new KubeError(status, 'Unknown', `${method} ${path}: HTTP ${status} ${text.slice(0, 200)}`);
  }
}

/** API paths for the kinds we touch. */
export interface ResourceType {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
}

export function collectionPath(r: ResourceType, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export function objectPath(r: ResourceType, namespace: string, name: string, subresource?: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
}
