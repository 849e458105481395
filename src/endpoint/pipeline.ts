// The delivery pipeline both doors call: check the message, find the identity in
// the caller's namespace, check who may send as it, honour the Idempotency-Key,
// then either deliver now (Direct: rate limits, then delivery.ts, resolving once
// an upstream accepted) or store it for the queue (Queued: resolving once the
// shared store has it). Every failure is an EndpointError.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { errorText } from '../kube/informer.ts';
import type { ResolvedIdentity } from '../routing/identity.ts';
import { fingerprint, sha256 } from '../store/hash.ts';
import { memoryStore, type StateStore } from '../store/store.ts';
import { IdempotencyBusy, IdempotencyConflict } from '../store/types.ts';
import { Authenticator, type KubeRequester, type ReviewedCaller } from './auth.ts';
import { createDeliver, limitsFor, messageIdFor } from './delivery.ts';
import {
  draining as drainingError,
  EndpointError,
  forbidden,
  identityNotFound,
  idempotencyKeyInUse,
  idempotencyKeyReused,
  internalError,
  isEndpointError,
  invalidRequest,
  messageNotFound,
  queueUnavailable,
  rateLimited,
} from './errors.ts';
import { DEFAULT_LIMITS, type MessageLimits } from './limits.ts';
import { checkMessage } from './message.ts';
import { endpointMetrics, type EndpointMetrics } from './metrics.ts';
import { createQueuedDelivery, isQueued, messageStatus, type FinalState, type QueuedJob } from './queued.ts';
import { queueMetrics } from './queue-metrics.ts';
import { TransportCache, type TransportFactory } from './transports.ts';
import type { Caller, Directory, Pipeline, SendOutcome, SendRequest, SubmittedMessage } from './types.ts';

export interface PipelineOptions {
  /** For TokenReviews and SubjectAccessReviews. */
  client: KubeRequester;
  directory: Directory;
  log: Logger;
  /** Where the endpoint's metrics go (the operator's Metrics object fits). Default: a private registry. */
  metrics?: { registry: Registry };
  /** TokenReview audience. Default "postmaster". */
  audience?: string;
  /** How long TokenReview and SubjectAccessReview answers are reused. Default 10 s. */
  authCacheTtlMs?: number;
  /** How long accepted callers are still served while the API server is away. Default 5 min. */
  authOutageGraceMs?: number;
  /** Builds transports; default: the providers' SMTP, SendGrid and SparkPost transports. */
  createTransport?: TransportFactory;
  limits?: MessageLimits;
  /** Idempotency records, rate limits and the queue. Default: in memory (this replica only, no queue). */
  store?: StateStore;
  queue?: QueueSettings;
  /** A queued message bounced or expired (for an aggregated Warning event on its identity). */
  onFinal?: (f: { namespace: string; identity: string; state: FinalState; id: string; reason: string }) => void;
  now?: () => number;
}

export interface QueueSettings {
  /** Queue workers of this replica. Default 16. */
  concurrency?: number;
  /** First retry of a deferred message after this long, doubling to maxRetryMs. Defaults 30 s and 10 min. */
  minRetryMs?: number;
  maxRetryMs?: number;
  /** How long an active job's lock lives: a dead replica's jobs are picked up after about 1.5 times this. Default 30 s. */
  lockDurationMs?: number;
  /** How often the queue gauges are sampled. Default 15 s. */
  sampleMs?: number;
  /** Where DSNs say they come from. */
  reportingMta?: string;
}

export interface DeliveryPipeline extends Pipeline {
  /** Starts this replica's queue workers (with a durable store) and the store's gauges. */
  startWorkers(): void;
  /** True once drain() was called: new sends are refused with 503 (SMTP 421). */
  readonly draining: boolean;
  /** Refuses new sends and resolves when the ones in flight have finished. */
  drain(): Promise<void>;
  /** drain(), then stops the queue workers (they finish what they are sending) and closes every transport. */
  close(): Promise<void>;
}

const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function createPipeline(opts: PipelineOptions): DeliveryPipeline {
  const log = opts.log.child({ component: 'send-endpoint' });
  const metrics: EndpointMetrics = endpointMetrics(opts.metrics?.registry ?? new Registry());
  const auth = new Authenticator({
    client: opts.client,
    ...(opts.audience ? { audience: opts.audience } : {}),
    ...(opts.authCacheTtlMs !== undefined ? { cacheTtlMs: opts.authCacheTtlMs } : {}),
    ...(opts.authOutageGraceMs !== undefined ? { outageGraceMs: opts.authOutageGraceMs } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const now = opts.now ?? Date.now;
  const store = opts.store ?? memoryStore(opts.now ? { now: opts.now } : {});
  const registry = opts.metrics?.registry ?? new Registry();
  const qmetrics = queueMetrics(registry);
  const transports = new TransportCache({
    ...(opts.createTransport ? { create: opts.createTransport } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    onCloseError: (err) => log.warn({ err: errorText(err) }, 'closing a transport failed'),
  });
  const deliver = createDeliver({ transports, metrics, log, now });
  const q = opts.queue ?? {};
  const queued = createQueuedDelivery({
    queue: store.queue<QueuedJob>(),
    storeStatus: () => store.status(),
    directory: opts.directory,
    deliver,
    rateLimits: store.rateLimits,
    metrics: qmetrics,
    log: log.child({ component: 'delivery-queue' }),
    now,
    minRetryMs: q.minRetryMs ?? 30_000,
    maxRetryMs: q.maxRetryMs ?? 10 * 60_000,
    reportingMta: q.reportingMta ?? 'postmaster',
    ...(opts.onFinal ? { onFinal: opts.onFinal } : {}),
  });
  let sampler: NodeJS.Timeout | undefined;
  let inFlight = 0;
  let isDraining = false;
  let idle: (() => void)[] = [];

  const refuse = (door: string, err: EndpointError): EndpointError => {
    metrics.refused.inc({ door, code: err.code });
    return err;
  };

  async function sample(): Promise<void> {
    const status = store.status();
    qmetrics.storeUp.set(status.up ? 1 : 0);
    qmetrics.storeInfo.reset();
    qmetrics.storeInfo.set({ store: status.store, appendonly: status.appendonly }, 1);
    const queue = store.queue<QueuedJob>();
    if (!queue) {
      // No queue: the series exist all the same, so dashboards and alerts read 0, not "no data".
      for (const state of ['queued', 'deferred', 'sending']) qmetrics.messages.set({ state }, 0);
      qmetrics.oldestAge.set(0);
      return;
    }
    if (!status.up) return;
    try {
      const c = await queue.counts();
      qmetrics.messages.set({ state: 'queued' }, c.queued);
      qmetrics.messages.set({ state: 'deferred' }, c.deferred);
      qmetrics.messages.set({ state: 'sending' }, c.sending);
      qmetrics.oldestAge.set(c.oldestAgeSeconds);
    } catch {
      // The store went away between the check and the counts: the next sample tells.
    }
  }

  /** Direct: this replica's transports deliver now, within the rate limits. */
  async function direct(id: string, message: SubmittedMessage, resolved: ResolvedIdentity): Promise<SendOutcome> {
    const taken = await store.rateLimits.take(limitsFor(resolved));
    if (!taken.ok) throw rateLimited(taken.what, taken.retryAfterSeconds);
    return deliver(id, message, resolved);
  }

  /** May `caller` send as this identity? By name, so a status read is checked even when the identity is gone. */
  async function authorizeAs(caller: Caller, namespace: string, name: string): Promise<void> {
    if (caller.boundIdentity !== undefined) {
      // Generated SMTP credentials speak for their own identity only.
      if (caller.boundIdentity === name && caller.namespace === namespace) return;
      throw forbidden(`These SMTP credentials belong to SenderIdentity "${caller.namespace}/${caller.boundIdentity}"; they cannot send as "${name}".`);
    }
    // A caller from authenticateToken still carries the TokenReview's extra for the review.
    await auth.authorize(caller as ReviewedCaller, namespace, name);
  }

  const authorize = (caller: Caller, resolved: ResolvedIdentity) =>
    authorizeAs(caller, resolved.identity.metadata.namespace, resolved.identity.metadata.name);

  async function send(request: SendRequest): Promise<SendOutcome> {
    const { caller, door } = request;
    if (isDraining) throw refuse(door, drainingError());
    inFlight++;
    metrics.inFlight.inc();
    const id = randomUUID();
    const started = performance.now();
    let resolved: ResolvedIdentity | undefined;
    try {
      // The name is echoed in errors (and SMTP replies): only a Kubernetes object name gets that far.
      if (!OBJECT_NAME.test(request.sender)) throw invalidRequest('sender', 'must be a SenderIdentity name (lower case letters, digits, "-" and ".")');
      const message = checkMessage(request.message, limits);
      resolved = opts.directory.resolve(caller.namespace, request.sender);
      // Looked up before authorization, so a caller with a typo in the name (or the
      // wrong namespace) hears 404; only names in its own namespace can be probed.
      if (!resolved) throw identityNotFound(caller.namespace, request.sender);
      await authorize(caller, resolved);
      const found = resolved;
      const scope = `${caller.namespace}\u0000${caller.username}`;
      const key = request.idempotencyKey;
      // Fixed before the first attempt: every retry (and a replay) carries the same Message-ID.
      const stable = key === undefined ? undefined : `${scope}\u0000${key}`;
      const submitted = { ...message, messageId: messageIdFor(message, found.identity.spec.email, stable) };
      const print = key === undefined ? undefined : fingerprint({ sender: request.sender, message });
      // Stored under an id of the key and request: a retry after a store that took the
      // message but lost its reply finds the same job instead of adding a second.
      const jobId = stable === undefined ? id : uuidOf(`${stable}\u0000${print}`);
      const once = () => (isQueued(found.server) ? queued.accept(jobId, submitted, found, caller.username) : direct(id, submitted, found));
      let outcome: SendOutcome;
      if (key === undefined || print === undefined) {
        outcome = await once();
      } else {
        const run = await idempotently(scope, key, print, once);
        if (run.replayed) metrics.replays.inc({ door });
        outcome = run.result;
      }
      const recipients = message.to.length + (message.cc?.length ?? 0) + (message.bcc?.length ?? 0);
      const fields = { id: outcome.id, door, caller: caller.username, namespace: found.identity.metadata.namespace, identity: found.identity.metadata.name };
      const server = `${outcome.server.namespace}/${outcome.server.name}`;
      const ms = Math.round(performance.now() - started);
      if (outcome.queued) {
        count(door, found, found.primary?.provider ?? '', '', 'queued');
        log.info({ ...fields, server, messageId: outcome.messageIdHeader, recipients, ms }, 'message queued');
      } else {
        count(door, found, outcome.provider, outcome.route, 'sent');
        log.info({ ...fields, server, provider: outcome.provider, route: outcome.route, messageId: outcome.messageId, recipients, ms }, 'message accepted upstream');
      }
      return outcome;
    } catch (err) {
      const e = isEndpointError(err) ? err : internalError(err);
      if (!isEndpointError(err)) log.error({ id, err: errorText(err) }, 'send failed unexpectedly');
      if (resolved) count(door, resolved, resolved.primary?.provider ?? '', '', e.code);
      const level = e.statusCode >= 500 ? 'warn' : 'info';
      log[level]({ id, door, caller: caller.username, sender: request.sender, code: e.code, err: e.message }, 'message refused');
      throw refuse(door, e);
    } finally {
      inFlight--;
      metrics.inFlight.dec();
      if (inFlight === 0 && idle.length) {
        const waiting = idle;
        idle = [];
        for (const resolve of waiting) resolve();
      }
    }
  }

  /** The store's idempotency records, with their refusals in the endpoint's catalogue. */
  async function idempotently(scope: string, key: string, print: string, attempt: () => Promise<SendOutcome>) {
    try {
      return await store.idempotency.run(scope, key, print, attempt);
    } catch (err) {
      if (err instanceof IdempotencyConflict) throw idempotencyKeyReused();
      if (err instanceof IdempotencyBusy) throw idempotencyKeyInUse(err.retryAfterSeconds);
      throw err;
    }
  }

  function count(door: string, r: ResolvedIdentity, provider: string, route: string, result: string): void {
    metrics.messages.inc({
      door,
      namespace: r.identity.metadata.namespace,
      identity: r.identity.metadata.name,
      server: r.server ? `${r.server.metadata.namespace}/${r.server.metadata.name}` : '',
      provider,
      route,
      result: result === 'sent' || result === 'queued' ? result : result.replace(/^POSTMASTER_/, '').toLowerCase(),
    });
  }

  const pipeline: DeliveryPipeline = {
    async authenticateToken(token) {
      try {
        return await auth.authenticate(token);
      } catch (err) {
        const e = isEndpointError(err) ? err : internalError(err);
        log.info({ code: e.code, err: e.message }, 'caller not authenticated');
        // Both doors check tokens here and neither is named: door "any".
        throw refuse('any', e);
      }
    },
    send,
    async authorize(caller, sender) {
      try {
        const resolved = OBJECT_NAME.test(sender) ? opts.directory.resolve(caller.namespace, sender) : undefined;
        if (!resolved) throw identityNotFound(caller.namespace, sender);
        await authorize(caller, resolved);
      } catch (err) {
        const e = isEndpointError(err) ? err : internalError(err);
        if (!isEndpointError(err)) log.error({ err: errorText(err) }, 'authorization failed unexpectedly');
        log.info({ caller: caller.username, sender, code: e.code, err: e.message }, 'sender refused');
        throw refuse('smtp', e);
      }
    },
    async messageStatus(caller, id) {
      try {
        if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw invalidRequest('id', 'must be a queued message id: 1 to 128 letters, digits, ".", "_" or "-"');
        const found = await queued.status(id);
        // Only the caller's namespace, and only callers who may send as the identity, learn it exists.
        if (!found || found.job.namespace !== caller.namespace) throw messageNotFound(id);
        await authorizeAs(caller, caller.namespace, found.job.identity).catch((err: unknown) => {
          throw isEndpointError(err) && err.statusCode === 403 ? messageNotFound(id) : err;
        });
        return messageStatus(id, found.job, found.phase);
      } catch (err) {
        const e = isEndpointError(err) ? err : queueUnavailable(`The shared store (${store.status().description}) cannot answer now.`, 5, err);
        throw refuse('http', e);
      }
    },
    startWorkers() {
      queued.start(q.concurrency ?? 16, q.lockDurationMs);
      void sample();
      sampler = setInterval(() => void sample(), q.sampleMs ?? 15_000);
      sampler.unref();
      store.onChange(() => void sample());
    },
    get inFlight() {
      return inFlight;
    },
    get draining() {
      return isDraining;
    },
    drain() {
      isDraining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idle.push(resolve));
    },
    async close() {
      await pipeline.drain();
      clearInterval(sampler);
      // The queue's workers finish what they are sending; the rest stays queued for the other replicas.
      await store.close();
      await transports.close();
    },
  };
  return pipeline;
}

/** A UUID-shaped id derived from `text` (the form every message id has). */
function uuidOf(text: string): string {
  const h = sha256(text);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
