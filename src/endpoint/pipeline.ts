// The delivery pipeline both doors call: check the message, find the identity in
// the caller's namespace, check who may send as it, honour the Idempotency-Key,
// apply rate limits, set From/Reply-To, and send — through the server's fallback
// SmtpTarget when its provider API cannot take the message now. It resolves only
// once an upstream accepted the message; every failure is an EndpointError.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { errorText } from '../kube/informer.ts';
import { SendError, type OutboundMessage, type SendResult, type SenderRoute } from '../providers/types.ts';
import type { ResolvedIdentity } from '../routing/identity.ts';
import { Authenticator, type KubeRequester, type ReviewedCaller } from './auth.ts';
import {
  draining as drainingError,
  EndpointError,
  forbidden,
  identityNotFound,
  identityNotReady,
  internalError,
  isEndpointError,
  invalidRequest,
  rateLimited,
  upstreamMisconfigured,
  upstreamOutcomeUnknown,
  upstreamRejected,
  upstreamUnavailable,
} from './errors.ts';
import { fingerprint, IdempotencyStore, sha256, type IdempotencyOptions } from './idempotency.ts';
import { DEFAULT_LIMITS, type MessageLimits } from './limits.ts';
import { checkMailbox, checkMessage } from './message.ts';
import { endpointMetrics, type EndpointMetrics } from './metrics.ts';
import { relayedMessage, rfc5322Date } from './pass-through.ts';
import { RateLimiter } from './ratelimit.ts';
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
  idempotency?: IdempotencyOptions;
  now?: () => number;
}

export interface DeliveryPipeline extends Pipeline {
  /** True once drain() was called: new sends are refused with 503 (SMTP 421). */
  readonly draining: boolean;
  /** Refuses new sends and resolves when the ones in flight have finished. */
  drain(): Promise<void>;
  /** drain(), then closes every transport. */
  close(): Promise<void>;
}

type Route = 'primary' | 'fallback';

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
  const limiter = new RateLimiter(opts.now ? { now: opts.now } : {});
  const idempotency = new IdempotencyStore<SendOutcome>({ ...(opts.now ? { now: opts.now } : {}), ...opts.idempotency });
  const transports = new TransportCache({
    ...(opts.createTransport ? { create: opts.createTransport } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    onCloseError: (err) => log.warn({ err: errorText(err) }, 'closing a transport failed'),
  });
  let inFlight = 0;
  let isDraining = false;
  let idle: (() => void)[] = [];

  const refuse = (door: string, err: EndpointError): EndpointError => {
    metrics.refused.inc({ door, code: err.code });
    return err;
  };

  async function authorize(caller: Caller, resolved: ResolvedIdentity): Promise<void> {
    const { namespace, name } = resolved.identity.metadata;
    if (caller.boundIdentity !== undefined) {
      // Generated SMTP credentials speak for their own identity only.
      if (caller.boundIdentity === name && caller.namespace === namespace) return;
      throw forbidden(`These SMTP credentials belong to SenderIdentity "${caller.namespace}/${caller.boundIdentity}"; they cannot send as "${name}".`);
    }
    // A caller from authenticateToken still carries the TokenReview's extra for the review.
    await auth.authorize(caller as ReviewedCaller, namespace, name);
  }

  /** Sends through one route; records latency and upstream errors. */
  async function attempt(route: Route, slot: string, target: SenderRoute, message: OutboundMessage): Promise<SendResult> {
    const lease = transports.acquire(slot, target);
    const started = performance.now();
    try {
      const result = await lease.transport.send(forProvider(message, target.provider));
      metrics.sendDuration.observe({ provider: target.provider, route, result: 'accepted' }, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const e = asSendError(err);
      metrics.sendDuration.observe({ provider: target.provider, route, result: e.permanent ? 'rejected' : 'failed' }, (performance.now() - started) / 1000);
      metrics.upstreamErrors.inc({ provider: target.provider, route, reason: e.reason });
      if (!(err instanceof SendError)) log.error({ err: errorText(err), provider: target.provider, route }, 'transport failed unexpectedly');
      throw e;
    } finally {
      lease.release();
    }
  }

  /**
   * The Message-ID to send with: the caller's; else, with an Idempotency-Key, one
   * derived from it, so a retry after an unknown outcome can be deduplicated by receivers.
   */
  function messageIdFor(message: SubmittedMessage, identityEmail: string, stableKey: string | undefined): string {
    if (message.messageId) return message.messageId;
    const domain = identityEmail.slice(identityEmail.lastIndexOf('@') + 1);
    const left = stableKey === undefined ? randomUUID().replace(/-/g, '') : sha256(stableKey).slice(0, 32);
    return `<${left}.postmaster@${domain}>`;
  }

  async function deliver(id: string, message: SubmittedMessage, resolved: ResolvedIdentity, stableKey?: string): Promise<SendOutcome> {
    const { identity } = resolved;
    const ns = identity.metadata.namespace;
    const name = identity.metadata.name;
    if (!resolved.ready) throw identityNotReady(ns, name, resolved.reason ?? 'NotReady', resolved.message);
    const server = resolved.server;
    if (!server || !resolved.primary) {
      throw identityNotReady(ns, name, 'RouteUnavailable', 'its EmailServer, or a Secret it needs, cannot be resolved right now.');
    }
    const serverRef = { namespace: server.metadata.namespace, name: server.metadata.name };
    const serverKey = `${serverRef.namespace}/${serverRef.name}`;
    const taken = limiter.take([
      { key: `server/${serverKey}`, what: `EmailServer "${serverKey}"`, limit: server.spec.rateLimit },
      { key: `identity/${ns}/${name}`, what: `SenderIdentity "${ns}/${name}"`, limit: identity.spec.rateLimit },
    ]);
    if (!taken.ok) throw rateLimited(taken.what, taken.retryAfterSeconds);

    // The door's Received value goes into the passed-through bytes only, not onto the outbound fields.
    const { received, ...fields } = message;
    const outbound: OutboundMessage = {
      ...fields,
      from: identity.spec.displayName ? { name: identity.spec.displayName, address: identity.spec.email } : { address: identity.spec.email },
      messageId: messageIdFor(message, identity.spec.email, stableKey),
    };
    // The SendingDomain's keys, from the routing layer: the SMTP transport signs the bytes it sends.
    if (resolved.dkim) outbound.dkim = resolved.dkim;
    // A caller trusted to write the body may name where replies go (ticket systems do);
    // otherwise the identity's, then the server's.
    const defaultReplyTo = identity.spec.replyTo ?? server.spec.replyTo;
    const replyTo = message.replyTo ?? defaultReplyTo;
    if (replyTo) outbound.replyTo = replyTo;
    else delete outbound.replyTo;
    if (message.raw) {
      // A relay, not a rewriter: the client's bytes with only the policy's edits.
      const at = new Date(now());
      outbound.raw = relayedMessage(message.raw, {
        from: outbound.from,
        ...(defaultReplyTo ? { replyTo: defaultReplyTo } : {}),
        messageId: outbound.messageId!,
        received: received ?? `by postmaster id ${id}; ${rfc5322Date(at)}`,
        now: at,
      });
    }

    const done = (route: Route, target: SenderRoute, result: SendResult): SendOutcome => {
      const outcome: SendOutcome = { id, messageId: result.messageId, server: serverRef, provider: target.provider, route };
      // SparkPost chooses its own Message-ID; SMTP and SendGrid carry ours.
      if (target.provider !== 'SparkPost') outcome.messageIdHeader = outbound.messageId!;
      if (result.response !== undefined) outcome.response = result.response;
      return outcome;
    };
    const primary = resolved.primary;
    try {
      return done('primary', primary, await attempt('primary', `${serverKey}/primary`, primary, outbound));
    } catch (err) {
      const first = err as SendError;
      const fallback = resolved.fallback;
      // It may have been delivered: a fallback (or a quiet retry) could deliver it twice.
      if (first.outcomeUnknown) throw upstreamOutcomeUnknown(`${primary.provider}: ${first.message}`, first);
      if (first.permanent) throw refusedFor(primary.provider, first);
      if (primary.provider === 'SMTP' || !fallback) {
        throw upstreamUnavailable(`${primary.provider} could not take the message now, nothing was sent: ${first.message}`, first.retryAfterSeconds, first);
      }
      log.warn({ id, server: serverKey, provider: primary.provider, reason: first.reason, err: first.message }, 'provider API failed; trying the fallback SmtpTarget');
      try {
        return done('fallback', fallback, await attempt('fallback', `${serverKey}/fallback`, fallback, outbound));
      } catch (err2) {
        const second = err2 as SendError;
        if (second.outcomeUnknown) throw upstreamOutcomeUnknown(`The fallback SmtpTarget: ${second.message}`, second);
        const both = `${primary.provider} could not take the message (${first.message}), nor could the fallback SmtpTarget (${second.message})`;
        if (second.permanent) throw upstreamRejected(`${both}.`, second);
        throw upstreamUnavailable(`${both}; nothing was sent.`, second.retryAfterSeconds ?? first.retryAfterSeconds, second);
      }
    }
  }

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
      let outcome: SendOutcome;
      if (request.idempotencyKey === undefined) {
        outcome = await deliver(id, message, found);
      } else {
        const run = await idempotency.run(
          `${caller.namespace}\u0000${caller.username}`,
          request.idempotencyKey,
          fingerprint({ sender: request.sender, message }),
          () => deliver(id, message, found, `${caller.namespace}\u0000${caller.username}\u0000${request.idempotencyKey}`),
        );
        if (run.replayed) metrics.replays.inc({ door });
        outcome = run.result;
      }
      count(door, found, outcome.provider, outcome.route, 'sent');
      log.info(
        {
          id: outcome.id,
          door,
          caller: caller.username,
          namespace: found.identity.metadata.namespace,
          identity: found.identity.metadata.name,
          server: `${outcome.server.namespace}/${outcome.server.name}`,
          provider: outcome.provider,
          route: outcome.route,
          messageId: outcome.messageId,
          recipients: message.to.length + (message.cc?.length ?? 0) + (message.bcc?.length ?? 0),
          ms: Math.round(performance.now() - started),
        },
        'message accepted upstream',
      );
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

  function count(door: string, r: ResolvedIdentity, provider: string, route: string, result: string): void {
    metrics.messages.inc({
      door,
      namespace: r.identity.metadata.namespace,
      identity: r.identity.metadata.name,
      server: r.server ? `${r.server.metadata.namespace}/${r.server.metadata.name}` : '',
      provider,
      route,
      result: result === 'sent' ? 'sent' : result.replace(/^POSTMASTER_/, '').toLowerCase(),
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
      await transports.close();
    },
  };
  return pipeline;
}

/**
 * The provider APIs take bare addresses (their transports put each string in an
 * `email` field); SMTP keeps display names in the To and Cc headers.
 */
function forProvider(message: OutboundMessage, provider: SenderRoute['provider']): OutboundMessage {
  if (provider === 'SMTP') return message;
  // Read for SMTP (header section only), then the route changed to an API provider: no body to map.
  if (message.raw && message.text === undefined && message.html === undefined) throw new SendError('the route changed while the message was received; send it again', { reason: 'RouteChanged', permanent: false });
  const bare = (list: string[] | undefined) => list?.map((m) => checkMailbox(m, 'to').address);
  // The provider composes its own message and signs with its own domain authentication.
  const { raw: _raw, dkim: _dkim, ...fields } = message;
  const out: OutboundMessage = { ...fields, to: bare(message.to) ?? [] };
  if (message.cc) out.cc = bare(message.cc)!;
  if (message.bcc) out.bcc = bare(message.bcc)!;
  return out;
}

/**
 * A permanent refusal: the message's fault (422), unless an API provider refused
 * our key or our sender (401/403), which is the EmailServer's (502).
 */
function refusedFor(provider: SenderRoute['provider'], e: SendError): EndpointError {
  if (provider !== 'SMTP' && (e.upstreamStatus === 401 || e.upstreamStatus === 403)) {
    return upstreamMisconfigured(`${provider} refused the EmailServer's credentials or sender, nothing was sent: ${e.message}`, e);
  }
  return upstreamRejected(`${provider} refused the message: ${e.message}`, e);
}

function asSendError(err: unknown): SendError {
  if (err instanceof SendError) return err;
  // Something other than the transport contract: the outcome is unknown, so temporary.
  return new SendError(`the transport failed: ${errorText(err)}`, { reason: 'TransportError', permanent: false, cause: err });
}
