// The contract shared by the two doors (HTTP, SMTP) and the delivery pipeline.
import type { OutboundMessage, SendResult } from '../providers/types.ts';
import type { ResolvedIdentity } from '../routing/identity.ts';

/** Who is calling, as the API server told us (TokenReview) or as a generated SMTP login proved. */
export interface Caller {
  /** system:serviceaccount:<ns>:<name>, or smtp-credentials:<ns>/<identity>. */
  username: string;
  /** The caller's namespace: identities are looked up here. */
  namespace: string;
  uid?: string;
  groups: string[];
  /** Set when the caller logged in with an identity's generated SMTP credentials: only that identity. */
  boundIdentity?: string;
}

export interface Directory {
  /** undefined: no such SenderIdentity in that namespace. */
  resolve(namespace: string, name: string): ResolvedIdentity | undefined;
  /** The identity whose generated SMTP credentials match, if any (constant-time compare inside). */
  smtpLogin(username: string, password: string): { namespace: string; identity: string } | undefined;
}

/** A message as a door received it: From/Sender are set by the pipeline, never by the caller. */
export type SubmittedMessage = Omit<OutboundMessage, 'from' | 'replyTo' | 'raw'> & {
  replyTo?: string;
  /** The message as the SMTP door received it. */
  raw?: Buffer;
  /** With `raw`: the value of the Received field the door adds (RFC 5321 section 4.4). */
  received?: string;
};

export interface SendRequest {
  caller: Caller;
  /** The identity name, in the caller's namespace. */
  sender: string;
  message: SubmittedMessage;
  idempotencyKey?: string;
  door: 'http' | 'smtp';
}

/** Direct delivery: an upstream accepted the message. */
export interface DeliveredOutcome extends SendResult {
  queued?: false;
  /** The Message-ID header the message went out with (SMTP and SendGrid routes; SparkPost chooses its own). */
  messageIdHeader?: string;
  /** postmaster's own id of this delivery (in its logs); the same on an idempotent replay. */
  id?: string;
  server: { namespace: string; name: string };
  provider: 'SMTP' | 'SendGrid' | 'SparkPost' | 'MicrosoftGraph';
  route: 'primary' | 'fallback';
}

/** Queued delivery: the message is stored in the shared store; the queue delivers it. */
export interface QueuedOutcome {
  queued: true;
  /** The queued message's id: GET /v1/messages/{id}. */
  id: string;
  /** The Message-ID header it goes out with (SparkPost routes choose their own). */
  messageIdHeader: string;
  server: { namespace: string; name: string };
  /** When retries stop (RFC 3339). */
  expiresAt: string;
}

export type SendOutcome = DeliveredOutcome | QueuedOutcome;

/** GET /v1/messages/{id}: what became of a queued message. */
export interface MessageStatus {
  id: string;
  state: 'queued' | 'sending' | 'deferred' | 'sent' | 'bounced' | 'expired';
  identity: { namespace: string; name: string };
  messageIdHeader: string;
  attempts: number;
  /** The last upstream reply (or why the attempt could not be made). */
  lastResponse?: string;
  acceptedAt: string;
  lastAttemptAt?: string;
  finishedAt?: string;
  expiresAt: string;
  /** Once sent: how, and the upstream's id. */
  provider?: DeliveredOutcome['provider'];
  route?: DeliveredOutcome['route'];
  upstreamMessageId?: string;
}

/**
 * The delivery pipeline both doors call. Every failure is an EndpointError
 * from src/endpoint/errors.ts (status code, SMTP reply code, Retry-After).
 */
export interface Pipeline {
  /** TokenReview for audience "postmaster". Throws 401 errors. */
  authenticateToken(token: string): Promise<Caller>;
  /** Resolves the identity, checks who may send as it (SubjectAccessReview for verb send,
   * cached briefly; or the bound identity of SMTP credentials), rate limits, sends with
   * fallback, honours the idempotency key. Resolves only after the upstream accepted
   * (Direct) or the message is stored in the shared store (Queued). */
  send(request: SendRequest): Promise<SendOutcome>;
  /**
   * Whether `caller` may send as `sender` (in its namespace): the identity exists and RBAC
   * (or the bound identity of SMTP credentials) allows it. The SMTP door asks at MAIL FROM,
   * so a refused caller never uploads its message; send() checks again (cached).
   */
  authorize(caller: Caller, sender: string): Promise<void>;
  /** A queued message's state, for a caller allowed to send as its identity; 404 otherwise. */
  messageStatus(caller: Caller, id: string): Promise<MessageStatus>;
  /** Messages in flight right now (for drain). */
  readonly inFlight: number;
}
