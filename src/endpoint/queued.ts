// Queued delivery: the doors store the message in the shared store and answer;
// every replica works the queue. An attempt that fails for now (network, SMTP 4xx,
// 429, API 5xx, an unknown outcome, a route not ready) is deferred with
// exponential backoff and jitter; a rate limit delays without counting an
// attempt; a permanent refusal bounces; the expiry ends the retries. Bounces and
// expiries are counted, reported (an aggregated Warning event on the identity
// through onFinal) and, with bounceTo, notified by a DSN queued like any message.
import type { Logger } from 'pino';
import type { EmailServer } from '../api/index.ts';
import { errorText } from '../kube/informer.ts';
import { parseDuration } from '../kube/backoff.ts';
import type { ResolvedIdentity } from '../routing/identity.ts';
import type { DeliveryQueue, WorkOutcome } from '../store/queue.ts';
import type { RateLimits, StoreStatus } from '../store/types.ts';
import { limitsFor, routedServer, type Deliver } from './delivery.ts';
import { deliveryStatusNotification, originalHeaders } from './dsn.ts';
import { ErrorCode, isEndpointError, queueUnavailable, type EndpointError } from './errors.ts';
import type { QueueMetrics } from './queue-metrics.ts';
import { decodeMessage, encodeMessage, type StoredMessage } from './stored-message.ts';
import type { Directory, MessageStatus, QueuedOutcome, SubmittedMessage } from './types.ts';

/** One queued message as the store holds it; `message` is dropped once it is finished. */
export interface QueuedJob {
  v: 1;
  namespace: string;
  identity: string;
  /** Who handed it over, for logs. */
  caller: string;
  message?: StoredMessage;
  messageIdHeader: string;
  server: { namespace: string; name: string };
  acceptedAt: number;
  expiresAt: number;
  attempts: number;
  state: MessageStatus['state'];
  lastResponse?: string;
  lastAttemptAt?: number;
  finishedAt?: number;
  provider?: MessageStatus['provider'];
  route?: MessageStatus['route'];
  upstreamMessageId?: string;
  bounceTo?: string;
  /** A DSN about another message: it never bounces in turn. */
  notification?: true;
}

export type FinalState = 'bounced' | 'expired';

export interface QueuedDeliveryOptions {
  queue: DeliveryQueue<QueuedJob> | undefined;
  storeStatus: () => StoreStatus;
  directory: Directory;
  deliver: Deliver;
  rateLimits: RateLimits;
  metrics: QueueMetrics;
  log: Logger;
  now: () => number;
  /** First retry after this long, doubling up to maxRetryMs. */
  minRetryMs: number;
  maxRetryMs: number;
  /** Where DSNs say they come from. */
  reportingMta: string;
  onFinal?: (f: { namespace: string; identity: string; state: FinalState; id: string; reason: string }) => void;
  random?: () => number;
}

export const DEFAULT_EXPIRE_AFTER = '24h';

export function isQueued(server: EmailServer | undefined): boolean {
  return server?.spec.delivery?.mode === 'Queued';
}

export function createQueuedDelivery(opts: QueuedDeliveryOptions) {
  const { queue, log, now, metrics } = opts;
  const random = opts.random ?? Math.random;

  /** Stores the message; resolves once the store has it. */
  async function accept(id: string, message: SubmittedMessage, resolved: ResolvedIdentity, caller: string): Promise<QueuedOutcome> {
    const server = routedServer(resolved);
    const serverRef = { namespace: server.metadata.namespace, name: server.metadata.name };
    if (!queue) {
      throw queueUnavailable(
        `EmailServer "${serverRef.namespace}/${serverRef.name}" delivers Queued, but this operator runs without a durable store (--redis-url).`,
        60,
      );
    }
    const at = now();
    const delivery = server.spec.delivery;
    const job: QueuedJob = {
      v: 1,
      namespace: resolved.identity.metadata.namespace,
      identity: resolved.identity.metadata.name,
      caller,
      message: encodeMessage(message),
      messageIdHeader: message.messageId!,
      server: serverRef,
      acceptedAt: at,
      expiresAt: at + parseDuration(delivery?.expireAfter ?? DEFAULT_EXPIRE_AFTER),
      attempts: 0,
      state: 'queued',
      ...(delivery?.bounceTo ? { bounceTo: delivery.bounceTo } : {}),
    };
    try {
      await queue.add(id, job);
    } catch (err) {
      throw queueUnavailable(`The shared store (${opts.storeStatus().description}) could not take the message: ${errorText(err)}.`, 5, err);
    }
    metrics.accepted.inc();
    return { queued: true, id, messageIdHeader: job.messageIdHeader, server: serverRef, expiresAt: new Date(job.expiresAt).toISOString() };
  }

  function backoffMs(attempts: number): number {
    const ceiling = Math.min(opts.maxRetryMs, opts.minRetryMs * 2 ** Math.max(0, attempts - 1));
    // Jitter: between half and all of the step, so replicas that failed together do not retry together.
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
  }

  function finish(id: string, job: QueuedJob, state: 'sent' | FinalState, reason: string): WorkOutcome<QueuedJob> {
    const { message: stored, ...record } = job;
    const done: QueuedJob = { ...record, state, finishedAt: now() };
    metrics.outcomes.inc({ namespace: job.namespace, identity: job.identity, result: state });
    if (state === 'sent') return { kind: 'sent', data: done };
    log.warn({ id, namespace: job.namespace, identity: job.identity, state, attempts: job.attempts, reason }, `queued message ${state}`);
    opts.onFinal?.({ namespace: job.namespace, identity: job.identity, state, id, reason });
    if (job.bounceTo && !job.notification && stored) void notify(id, done, decodeMessage(stored));
    return { kind: 'failed', data: done, reason };
  }

  /** Queues the DSN for a bounced or expired message; a failure to queue it is logged, never retried into a loop. */
  async function notify(id: string, job: QueuedJob, original: SubmittedMessage): Promise<void> {
    const resolved = opts.directory.resolve(job.namespace, job.identity);
    const email = resolved?.identity.spec.email ?? job.identity;
    const dsn = deliveryStatusNotification(
      {
        id,
        final: job.state as FinalState,
        identityEmail: email,
        messageIdHeader: job.messageIdHeader,
        recipients: [...original.to, ...(original.cc ?? []), ...(original.bcc ?? [])],
        acceptedAt: new Date(job.acceptedAt),
        ...(job.lastAttemptAt ? { lastAttemptAt: new Date(job.lastAttemptAt) } : {}),
        attempts: job.attempts,
        ...(job.lastResponse ? { lastResponse: job.lastResponse } : {}),
        headers: originalHeaders(original, email, job.messageIdHeader),
        reportingMta: opts.reportingMta,
      },
      job.bounceTo!,
    );
    const at = now();
    const dsnId = `${id}.dsn`;
    dsn.messageId = `<${dsnId}.postmaster@${email.slice(email.lastIndexOf('@') + 1)}>`;
    const { bounceTo: _bounceTo, lastResponse: _last, lastAttemptAt: _lastAt, finishedAt: _fin, provider: _p, route: _r, upstreamMessageId: _u, ...base } = job;
    const notice: QueuedJob = {
      ...base,
      message: encodeMessage(dsn),
      messageIdHeader: dsn.messageId,
      acceptedAt: at,
      attempts: 0,
      state: 'queued',
      notification: true,
    };
    try {
      await queue!.add(dsnId, notice);
    } catch (err) {
      log.error({ id, err: errorText(err) }, 'could not queue the delivery status notification');
    }
  }

  async function work(id: string, job: QueuedJob): Promise<WorkOutcome<QueuedJob>> {
    if (!job.message) return { kind: 'sent', data: job };
    const at = now();
    if (at >= job.expiresAt) return finish(id, job, 'expired', job.lastResponse ?? 'expired before an attempt could be made');
    const defer = (reason: string, delayMs: number, counted: boolean): WorkOutcome<QueuedJob> => {
      const data: QueuedJob = { ...job, state: counted || job.attempts > 0 ? 'deferred' : 'queued', lastResponse: reason };
      if (counted) data.lastAttemptAt = at;
      // The last try happens at the expiry, not after it.
      return { kind: 'deferred', data, delayMs: Math.max(0, Math.min(delayMs, job.expiresAt - at)) };
    };
    const resolved = opts.directory.resolve(job.namespace, job.identity);
    if (!resolved) return defer(`SenderIdentity "${job.namespace}/${job.identity}" not found`, opts.maxRetryMs, false);
    let limits;
    try {
      limits = limitsFor(resolved);
    } catch (err) {
      return defer((err as Error).message, backoffMs(job.attempts + 1), false);
    }
    const taken = await opts.rateLimits.take(limits);
    if (!taken.ok) return defer(`rate limited by ${taken.what}`, taken.retryAfterSeconds * 1000, false);

    const attempt = { ...job, attempts: job.attempts + 1, lastAttemptAt: at };
    try {
      const outcome = await opts.deliver(id, decodeMessage(job.message), resolved);
      const sent: QueuedJob = { ...attempt, provider: outcome.provider, route: outcome.route, upstreamMessageId: outcome.messageId };
      if (outcome.response !== undefined) sent.lastResponse = outcome.response;
      return finish(id, sent, 'sent', '');
    } catch (err) {
      const e: EndpointError | undefined = isEndpointError(err) ? err : undefined;
      const reason = e?.message ?? errorText(err);
      if (e?.code === ErrorCode.UpstreamRejected) return finish(id, { ...attempt, lastResponse: reason }, 'bounced', reason);
      metrics.deferrals.inc({ reason: e?.code ?? 'POSTMASTER_INTERNAL' });
      const hinted = (e?.retryAfterSeconds ?? 0) * 1000;
      job = attempt;
      return defer(reason, Math.min(opts.maxRetryMs, Math.max(backoffMs(attempt.attempts), hinted)), true);
    }
  }

  return {
    accept,
    /** Starts this replica's workers on the queue. */
    start(concurrency: number, lockDurationMs?: number): void {
      queue?.work(work, { concurrency, ...(lockDurationMs ? { lockDurationMs } : {}) });
    },
    async status(id: string): Promise<{ job: QueuedJob; phase: string } | undefined> {
      const record = await queue?.get(id);
      return record ? { job: record.data, phase: record.phase } : undefined;
    },
  };
}

export type QueuedDelivery = ReturnType<typeof createQueuedDelivery>;

/** The public state of a queued message. */
export function messageStatus(id: string, job: QueuedJob, phase: string): MessageStatus {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const state: MessageStatus['state'] =
    phase === 'active' ? 'sending' : phase === 'completed' ? 'sent' : phase === 'failed' ? (job.state === 'expired' ? 'expired' : 'bounced') : job.attempts > 0 ? 'deferred' : 'queued';
  const status: MessageStatus = {
    id,
    state,
    identity: { namespace: job.namespace, name: job.identity },
    messageIdHeader: job.messageIdHeader,
    attempts: job.attempts,
    acceptedAt: iso(job.acceptedAt)!,
    expiresAt: iso(job.expiresAt)!,
  };
  if (job.lastResponse) status.lastResponse = job.lastResponse;
  if (job.lastAttemptAt) status.lastAttemptAt = iso(job.lastAttemptAt)!;
  if (job.finishedAt) status.finishedAt = iso(job.finishedAt)!;
  if (job.provider) status.provider = job.provider;
  if (job.route) status.route = job.route;
  if (job.upstreamMessageId) status.upstreamMessageId = job.upstreamMessageId;
  return status;
}
