// List-then-watch cache of one resource type, like client-go's reflector:
// restarts with backoff after errors, re-lists on 410 Gone, and re-lists
// periodically so a watch that went quiet cannot leave the cache stale.
import type { Logger } from 'pino';
import { Backoff } from './backoff.ts';
import { collectionPath, isGone, KubeError, type KubeClient, type ResourceType, type WatchEvent } from './rest.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
}

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (event: InformerEvent, obj: T, old?: T) => void;

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  /** Full re-list period; also the longest a silent watch can hide a change. */
  resyncMs: number;
  /** Server-side watch timeout; a watch silent past it (plus slack) is restarted. */
  watchTimeoutSeconds: number;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * List and watch PartialObjectMetadata only (no data, no spec): for Secrets,
   * whose values we need for a few of the many a cluster holds.
   */
  metadataOnly?: boolean;
  /** Trims each object on arrival to what readers need; default: `slim`. */
  transform?: (obj: T) => T;
}

interface ListResponse<T> {
  metadata: { resourceVersion: string; continue?: string };
  /** Absent (null) in an empty PartialObjectMetadataList. */
  items: T[] | null;
}

const META_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const META_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
/** Pages keep the peak memory of a re-list near one page, not the whole collection. */
const LIST_PAGE = 500;

/**
 * Drops what no reconcile or door reads and that can be most of an object's size:
 * managedFields (server-side apply bookkeeping) and kubectl's last-applied copy.
 */
export function slim<T extends KubeObject>(obj: T): T {
  const meta = obj.metadata as T['metadata'] & { managedFields?: unknown; selfLink?: unknown };
  delete meta.managedFields;
  delete meta.selfLink;
  if (meta.annotations && 'kubectl.kubernetes.io/last-applied-configuration' in meta.annotations) {
    const { 'kubectl.kubernetes.io/last-applied-configuration': _dropped, ...rest } = meta.annotations;
    meta.annotations = rest;
  }
  return obj;
}

export const objectKey = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer<T extends KubeObject> {
  readonly resource: ResourceType;
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly abort = new AbortController();
  private readonly synced = new Set<string>();
  private readonly loops: Promise<void>[] = [];
  private readonly client: KubeClient;
  private readonly opts: InformerOptions<T>;
  private readonly log: Logger;
  private readonly transform: (obj: T) => T;

  constructor(client: KubeClient, resource: ResourceType, opts: InformerOptions<T>, log: Logger) {
    this.client = client;
    this.resource = resource;
    this.opts = opts;
    this.transform = opts.transform ?? slim;
    this.log = log.child({ informer: resource.plural });
  }

  onChange(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  start(): void {
    const scopes = this.opts.namespaces.length > 0 ? this.opts.namespaces : [''];
    for (const ns of scopes) this.loops.push(this.run(ns));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  hasSynced(): boolean {
    const scopes = this.opts.namespaces.length > 0 ? this.opts.namespaces.length : 1;
    return this.synced.size === scopes;
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  private async run(namespace: string): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff(500, 30_000);
    let resourceVersion: string | undefined;
    let listedAt = 0;
    while (!signal.aborted) {
      try {
        if (!resourceVersion || Date.now() - listedAt > this.opts.resyncMs) {
          resourceVersion = await this.relist(namespace);
          listedAt = Date.now();
          this.synced.add(namespace);
        }
        resourceVersion = await this.watchOnce(namespace, resourceVersion, signal);
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.log.info({ namespace }, 'watch expired (410 Gone); re-listing');
          resourceVersion = undefined;
          continue;
        }
        const delay = backoff.next();
        this.log.warn({ namespace, err: errorText(err), retryInMs: delay }, 'watch failed; retrying');
        await sleep(delay, signal);
      }
    }
  }

  /** Lists the scope (page by page) and turns the difference from the cache into events. */
  private async relist(namespace: string): Promise<string> {
    const seen = new Set<string>();
    let token: string | undefined;
    let list: ListResponse<T>;
    do {
      list = await this.client.get<ListResponse<T>>(
        collectionPath(this.resource, namespace || undefined),
        { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: LIST_PAGE, continue: token },
        this.opts.metadataOnly ? META_LIST : undefined,
      );
      for (const item of list.items ?? []) {
        seen.add(objectKey(item));
        this.apply('ADDED', item);
      }
      token = list.metadata.continue || undefined;
    } while (token);
    for (const [key, old] of this.cache) {
      if (!seen.has(key) && (!namespace || old.metadata.namespace === namespace)) this.apply('DELETED', old);
    }
    return list.metadata.resourceVersion;
  }

  /** Runs one watch; returns the last resourceVersion seen when the server ends it. */
  private async watchOnce(namespace: string, resourceVersion: string, signal: AbortSignal): Promise<string> {
    let rv = resourceVersion;
    const watchAbort = new AbortController();
    const onAbort = () => watchAbort.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    // A watch that delivers nothing (not even its own end) past its timeout is dead: restart it.
    const timeoutMs = this.opts.watchTimeoutSeconds * 1000;
    const silenceMs = timeoutMs + Math.min(30_000, timeoutMs);
    let quiet = setTimeout(() => watchAbort.abort(), silenceMs);
    try {
      await this.client.watch<T>(
        collectionPath(this.resource, namespace || undefined),
        {
          resourceVersion: rv,
          allowWatchBookmarks: true,
          timeoutSeconds: this.opts.watchTimeoutSeconds,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        (e: WatchEvent<T>) => {
          clearTimeout(quiet);
          quiet = setTimeout(() => watchAbort.abort(), silenceMs);
          if (e.type === 'ERROR') {
            const status = e.object as unknown as { code?: number; reason?: string; message?: string };
            throw new KubeError(status.code ?? 500, status.reason ?? 'Unknown', status.message ?? 'watch error');
          }
          if (e.object.metadata.resourceVersion) rv = e.object.metadata.resourceVersion;
          if (e.type !== 'BOOKMARK') this.apply(e.type, e.object);
        },
        watchAbort.signal,
        this.opts.metadataOnly ? META_WATCH : undefined,
      );
    } finally {
      clearTimeout(quiet);
      signal.removeEventListener('abort', onAbort);
    }
    return rv;
  }

  /**
   * Puts an object we just wrote into the cache, so the next reconcile reads
   * our own write even before its watch event arrives. Older versions never
   * replace newer ones (resourceVersions are etcd revisions in practice).
   */
  observe(obj: T): void {
    const old = this.cache.get(objectKey(obj));
    const oldRv = Number(old?.metadata.resourceVersion);
    const newRv = Number(obj.metadata.resourceVersion);
    if (old && Number.isFinite(oldRv) && Number.isFinite(newRv) && newRv <= oldRv) return;
    this.apply('MODIFIED', obj);
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', arrived: T): void {
    const obj = this.transform(arrived);
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (type === 'DELETED') {
      if (!old) return;
      this.cache.delete(key);
      this.emit('delete', old);
      return;
    }
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.cache.set(key, obj);
    this.emit(old ? 'update' : 'add', obj, old);
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.log.error({ err: errorText(err) }, 'informer handler failed');
      }
    }
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
