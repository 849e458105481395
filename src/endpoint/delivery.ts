// One delivery attempt of a checked message as a resolved identity: From and
// Reply-To set, the passed-through bytes edited as policy says, then the server's
// primary route, and its fallback SmtpTarget when a provider API cannot take the
// message now. Both the Direct path (pipeline.ts) and the queue's workers
// (queued.ts) deliver through here; every failure is an EndpointError.
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorText } from '../kube/informer.ts';
import { needsSmtpUtf8 } from '../mail/address.ts';
import { rawParts, SendError, type OutboundMessage, type SendResult, type SenderRoute } from '../providers/types.ts';
import type { ResolvedIdentity } from '../routing/identity.ts';
import { sha256 } from '../store/hash.ts';
import type { LimitRequest } from '../store/types.ts';
import {
  EndpointError,
  identityNotReady,
  upstreamMisconfigured,
  upstreamOutcomeUnknown,
  upstreamRejected,
  upstreamUnavailable,
} from './errors.ts';
import { checkMailbox } from './message.ts';
import type { EndpointMetrics } from './metrics.ts';
import { relayedMessage, rfc5322Date } from './pass-through.ts';
import type { TransportCache } from './transports.ts';
import type { DeliveredOutcome, SubmittedMessage } from './types.ts';

type Route = 'primary' | 'fallback';

export interface DeliveryOptions {
  transports: TransportCache;
  metrics: EndpointMetrics;
  log: Logger;
  now: () => number;
}

export type Deliver = (id: string, message: SubmittedMessage, resolved: ResolvedIdentity) => Promise<DeliveredOutcome>;

/** The identity's server, or the refusal a send (or a queued attempt) gets when it has none right now. */
export function routedServer(resolved: ResolvedIdentity): NonNullable<ResolvedIdentity['server']> {
  const { namespace, name } = resolved.identity.metadata;
  if (!resolved.ready) throw identityNotReady(namespace, name, resolved.reason ?? 'NotReady', resolved.message);
  if (!resolved.server || !resolved.primary) {
    throw identityNotReady(namespace, name, 'RouteUnavailable', 'its EmailServer, or a Secret it needs, cannot be resolved right now.');
  }
  return resolved.server;
}

/** The rate limits a message as this identity takes a token from: its server's and its own. */
export function limitsFor(resolved: ResolvedIdentity): LimitRequest[] {
  const server = routedServer(resolved);
  const { namespace, name } = resolved.identity.metadata;
  const serverKey = `${server.metadata.namespace}/${server.metadata.name}`;
  return [
    { key: `server/${serverKey}`, what: `EmailServer "${serverKey}"`, limit: server.spec.rateLimit },
    { key: `identity/${namespace}/${name}`, what: `SenderIdentity "${namespace}/${name}"`, limit: resolved.identity.spec.rateLimit },
  ];
}

/**
 * The Message-ID to send with: the caller's; else, with an Idempotency-Key, one
 * derived from it, so a retry after an unknown outcome can be deduplicated by receivers.
 */
export function messageIdFor(message: SubmittedMessage, identityEmail: string, stableKey: string | undefined): string {
  if (message.messageId) return message.messageId;
  const domain = identityEmail.slice(identityEmail.lastIndexOf('@') + 1);
  const left = stableKey === undefined ? randomUUID().replace(/-/g, '') : sha256(stableKey).slice(0, 32);
  return `<${left}.postmaster@${domain}>`;
}

export function createDeliver(opts: DeliveryOptions): Deliver {
  const { transports, metrics, log, now } = opts;

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

  return async function deliver(id, message, resolved) {
    const { identity } = resolved;
    const server = routedServer(resolved);
    const serverRef = { namespace: server.metadata.namespace, name: server.metadata.name };
    const serverKey = `${serverRef.namespace}/${serverRef.name}`;

    // The door's Received value goes into the passed-through bytes only, not onto the outbound fields.
    const { received, ...fields } = message;
    const outbound: OutboundMessage = {
      ...fields,
      from: identity.spec.displayName ? { name: identity.spec.displayName, address: identity.spec.email } : { address: identity.spec.email },
      messageId: messageIdFor(message, identity.spec.email, undefined),
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

    const done = (route: Route, target: SenderRoute, result: SendResult): DeliveredOutcome => {
      const outcome: DeliveredOutcome = { id, messageId: result.messageId, server: serverRef, provider: target.provider, route };
      // SparkPost chooses its own Message-ID; SMTP and SendGrid carry ours.
      if (target.provider !== 'SparkPost') outcome.messageIdHeader = outbound.messageId!;
      if (result.response !== undefined) outcome.response = result.response;
      return outcome;
    };
    const primary = resolved.primary!;
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
  };
}

/**
 * The provider APIs take bare addresses (their transports put each string in an
 * `email` field); SMTP keeps display names in the To and Cc headers. SparkPost
 * (email_rfc822) and Graph (MIME) take the passed-through bytes as they are;
 * SendGrid composes from the fields. API providers sign with their own domain
 * authentication, so the DKIM keys stay here.
 */
function forProvider(message: OutboundMessage, provider: SenderRoute['provider']): OutboundMessage {
  if (provider === 'SMTP') return message;
  const international = message.smtpUtf8 ? [...message.to, ...(message.cc ?? []), ...(message.bcc ?? [])].find(needsSmtpUtf8) : undefined;
  if (international) {
    // The APIs take ASCII addresses; an SMTP door caught this at RCPT TO unless the route changed since.
    throw new SendError(`${provider} takes no internationalized addresses, and ${international} is one; only an SMTP upstream with SMTPUTF8 carries them. Nothing was sent.`, {
      reason: 'SmtpUtf8Unsupported',
      permanent: true,
    });
  }
  // Read for SMTP (header section only, Direct), then the route changed before the send to a
  // provider that composes from the fields: there is no body to map. Rare; a retry reads it whole.
  const composes = provider === 'SendGrid' || (provider === 'SparkPost' && !rawParts(message.raw ?? []).every((part) => isUtf8(part)));
  if (composes && message.raw && message.text === undefined && message.html === undefined && !message.attachments?.length) {
    throw new SendError('the route changed while the message was received; send it again', { reason: 'RouteChanged', permanent: false });
  }
  const bare = (list: string[] | undefined) => list?.map((m) => checkMailbox(m, 'to').address);
  const { raw, dkim: _dkim, ...fields } = message;
  const out: OutboundMessage = { ...fields, to: bare(message.to) ?? [] };
  if (raw && provider !== 'SendGrid') out.raw = raw;
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
