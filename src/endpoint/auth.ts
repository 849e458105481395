// Who is calling (TokenReview for the audience "postmaster") and whether they may
// send as an identity (SubjectAccessReview for verb "send" on senderidentities).
// Both answers, yes and no, are cached briefly so a busy caller does not cost two
// API calls per message; concurrent identical questions share one call. Tokens
// are cached by their sha256 only, and never past their own expiry.
// While the API server cannot be reached, a caller whose token and permission
// were accepted within the outage grace (default 5 minutes) is served on that
// last answer, never past the token's expiry; denials and new callers are never guessed.
import type { KubeClient } from '../kube/rest.ts';
import { authUnavailable, forbidden, unauthenticated } from './errors.ts';
import { sha256 } from '../store/hash.ts';
import type { Caller } from './types.ts';

export const AUDIENCE = 'postmaster';
export const API_GROUP = 'email.postmaster.dev';
export const RESOURCE = 'senderidentities';
export const VERB = 'send';

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const SA_PREFIX = 'system:serviceaccount:';

export type KubeRequester = Pick<KubeClient, 'request'>;

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

interface AccessReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
}

/** A caller as the TokenReview described it; `extra` goes back into the SubjectAccessReview. */
export interface ReviewedCaller extends Caller {
  extra?: Record<string, string[]>;
}

/**
 * Who a decision is about (name, uid, groups), computed once per caller object: a
 * session's login and a cached token's caller are the same object message after message.
 */
const callerKeys = new WeakMap<Caller, string>();
function callerKey(caller: Caller): string {
  let key = callerKeys.get(caller);
  if (key === undefined) {
    key = JSON.stringify([caller.username, caller.uid ?? '', [...caller.groups].sort()]);
    callerKeys.set(caller, key);
  }
  return key;
}

type Answer<T> = { ok: true; value: T } | { ok: false; error: Error };

interface Cached<T> {
  answer: Answer<T>;
  expiresAt: number;
}

/** How an answer is kept: `ttl` for normal reuse, `grace` for reuse while the API server is away (0: never). */
interface Keeping {
  ttl: number;
  grace: number;
}

/** A small TTL cache that shares in-flight lookups. */
class DecisionCache<T> {
  readonly #entries = new Map<string, Cached<T>>();
  /** The last accepted answers, kept for an API server outage. */
  readonly #lastGood = new Map<string, Cached<T>>();
  readonly #inflight = new Map<string, Promise<Answer<T>>>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(max: number, now: () => number) {
    this.#max = max;
    this.#now = now;
  }

  async get(key: string, keep: (a: Answer<T>) => Keeping, load: () => Promise<Answer<T>>): Promise<T> {
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit && hit.expiresAt > now) return unwrap(hit.answer);
    if (hit) this.#entries.delete(key);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = load().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
      const answer = await pending;
      const { ttl, grace } = keep(answer);
      const at = this.#now();
      if (ttl > 0) {
        this.#entries.set(key, { answer, expiresAt: at + ttl });
        trim(this.#entries, this.#max, at);
      }
      if (grace > 0) {
        this.#lastGood.set(key, { answer, expiresAt: at + grace });
        trim(this.#lastGood, this.#max, at);
      }
      return unwrap(this.#duringOutage(key, answer));
    }
    return unwrap(this.#duringOutage(key, await pending));
  }

  /** An "API server unavailable" answer is replaced by the last accepted one, while it is within its grace. */
  #duringOutage(key: string, answer: Answer<T>): Answer<T> {
    if (answer.ok || !isUnavailable(answer.error)) return answer;
    const good = this.#lastGood.get(key);
    return good && good.expiresAt > this.#now() ? good.answer : answer;
  }
}

function trim<T>(entries: Map<string, Cached<T>>, max: number, now: number): void {
  for (const [k, e] of entries) {
    if (entries.size <= max) return;
    if (e.expiresAt <= now) entries.delete(k);
  }
  for (const k of entries.keys()) {
    if (entries.size <= max) return;
    entries.delete(k);
  }
}

function unwrap<T>(a: Answer<T>): T {
  if (a.ok) return a.value;
  throw a.error;
}

export interface AuthOptions {
  client: KubeRequester;
  audience?: string;
  /** How long an answer (yes or no) is reused. Default 10 s. */
  cacheTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
  /** Per-call timeout to the API server. Default 5 s. */
  timeoutMs?: number;
  /** How long accepted answers still count while the API server cannot be reached. Default 5 min; 0: not at all. */
  outageGraceMs?: number;
}

export class Authenticator {
  readonly #client: KubeRequester;
  readonly #audience: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #tokens: DecisionCache<ReviewedCaller>;
  readonly #access: DecisionCache<boolean>;

  constructor(opts: AuthOptions) {
    this.#client = opts.client;
    this.#audience = opts.audience ?? AUDIENCE;
    this.#ttlMs = opts.cacheTtlMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#graceMs = opts.outageGraceMs ?? 5 * 60_000;
    this.#tokens = new DecisionCache(opts.maxEntries ?? 10_000, this.#now);
    this.#access = new DecisionCache(opts.maxEntries ?? 10_000, this.#now);
  }

  /** A ServiceAccount token → the caller. 401 for any token the API server does not accept for our audience. */
  authenticate(token: string): Promise<ReviewedCaller> {
    if (!token || token.length > 16_384 || /\s/.test(token)) {
      return Promise.reject(unauthenticated('The bearer token is malformed.'));
    }
    const expiry = jwtExpiry(token);
    if (expiry !== undefined && expiry <= this.#now()) {
      return Promise.reject(unauthenticated('The ServiceAccount token has expired; request a new one.'));
    }
    return this.#tokens.get(
      sha256(token),
      (a) => {
        // Never trust a token past its own expiry; never cache "the API server was down".
        const left = (expiry ?? Infinity) - this.#now();
        return {
          ttl: a.ok || !isUnavailable(a.error) ? Math.min(this.#ttlMs, left) : 0,
          grace: a.ok ? Math.min(this.#graceMs, left) : 0,
        };
      },
      () => this.#review(token),
    );
  }

  /** Whether `caller` may send as `namespace/identity`: 403 when not. */
  async authorize(caller: ReviewedCaller, namespace: string, identity: string): Promise<void> {
    const key = `${callerKey(caller)}\n${namespace}\n${identity}`;
    const allowed = await this.#access.get(
      key,
      // Only a yes is kept for an outage: a denial is never turned into a guess either way.
      (a) => ({ ttl: a.ok ? this.#ttlMs : 0, grace: a.ok && a.value ? this.#graceMs : 0 }),
      () => this.#accessReview(caller, namespace, identity),
    );
    if (!allowed) {
      throw forbidden(
        `"${caller.username}" may not send as SenderIdentity "${namespace}/${identity}": ` +
          `it needs the verb "${VERB}" on "${RESOURCE}" (group ${API_GROUP}) in namespace "${namespace}", for example through a Role and RoleBinding.`,
      );
    }
  }

  async #review(token: string): Promise<Answer<ReviewedCaller>> {
    let status: TokenReviewStatus;
    try {
      const res = await this.#client.request<{ status?: TokenReviewStatus }>('POST', TOKEN_REVIEWS, {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.#audience] } },
        timeoutMs: this.#timeoutMs,
      });
      status = res?.status ?? {};
    } catch (err) {
      // The error text is the API server's, about the request path; it never holds the token.
      return { ok: false, error: authUnavailable('the token', err) };
    }
    if (!status.authenticated || !status.user?.username) {
      return { ok: false, error: unauthenticated(`The token was not accepted for audience "${this.#audience}" (invalid, expired, or for another audience).`) };
    }
    if (status.audiences && !status.audiences.includes(this.#audience)) {
      return { ok: false, error: unauthenticated(`The token is not for audience "${this.#audience}".`) };
    }
    const { username, uid, groups, extra } = status.user;
    const namespace = serviceAccountNamespace(username);
    if (!namespace) {
      return {
        ok: false,
        error: forbidden(`"${username}" is not a ServiceAccount: only ServiceAccount tokens say which namespace's identities to use.`),
      };
    }
    const caller: ReviewedCaller = { username, namespace, groups: groups ?? [] };
    if (uid) caller.uid = uid;
    if (extra && Object.keys(extra).length) caller.extra = extra;
    return { ok: true, value: caller };
  }

  async #accessReview(caller: ReviewedCaller, namespace: string, identity: string): Promise<Answer<boolean>> {
    try {
      const res = await this.#client.request<{ status?: AccessReviewStatus }>('POST', ACCESS_REVIEWS, {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: caller.username,
            groups: caller.groups,
            ...(caller.uid ? { uid: caller.uid } : {}),
            ...(caller.extra ? { extra: caller.extra } : {}),
            resourceAttributes: { group: API_GROUP, resource: RESOURCE, verb: VERB, namespace, name: identity },
          },
        },
        timeoutMs: this.#timeoutMs,
      });
      return { ok: true, value: res?.status?.allowed === true };
    } catch (err) {
      return { ok: false, error: authUnavailable('permission to send', err) };
    }
  }
}

function isUnavailable(err: Error): boolean {
  return (err as { statusCode?: number }).statusCode === 503;
}

export function serviceAccountNamespace(username: string): string | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const [ns, name] = username.slice(SA_PREFIX.length).split(':');
  return ns && name ? ns : undefined;
}

/**
 * The `exp` claim of a JWT, in ms, read without verifying (the TokenReview verifies):
 * only used to stop caching a token when it expires.
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
