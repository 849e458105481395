// Stand-ins for local tests of the send endpoint: an API server that answers
// TokenReviews and SubjectAccessReviews from a table, a Directory built from
// plain objects, and transports that record or fail as told. Real delivery and
// the real API server are the cluster tests' business.
import { pino } from 'pino';
import type { EmailServer, SenderIdentity } from '../../src/api/index.ts';
import type { KubeRequester } from '../../src/endpoint/auth.ts';
import type { Directory } from '../../src/endpoint/types.ts';
import type { ResolvedIdentity } from '../../src/routing/identity.ts';
import { KubeError } from '../../src/kube/rest.ts';
import { SendError, type OutboundMessage, type SendResult, type SenderRoute, type Transport } from '../../src/providers/types.ts';

export const silentLog = pino({ level: 'silent' });

export interface FakeUser {
  username: string;
  uid?: string;
  groups?: string[];
  audiences?: string[];
}

/** TokenReview and SubjectAccessReview answers from tables; counts the calls. */
export class FakeKube implements KubeRequester {
  readonly tokens = new Map<string, FakeUser>();
  /** "user|namespace|identity" entries that may send. */
  readonly allowed = new Set<string>();
  calls = { tokenReviews: 0, accessReviews: 0 };
  /** When set, every call fails as if the API server were down. */
  down = false;
  /** Bodies of every request, to check nothing secret is sent where it should not go. */
  readonly bodies: unknown[] = [];

  allow(user: string, namespace: string, identity: string): void {
    this.allowed.add(`${user}|${namespace}|${identity}`);
  }

  async request<T>(method: string, path: string, opts: { body?: unknown } = {}): Promise<T> {
    this.bodies.push(opts.body);
    if (this.down) throw new KubeError(503, 'ServiceUnavailable', `${method} ${path}: the server is currently unable to handle the request`);
    const spec = (opts.body as { spec: Record<string, unknown> }).spec;
    if (path.endsWith('/tokenreviews')) {
      this.calls.tokenReviews++;
      const user = this.tokens.get(String(spec.token));
      const wanted = (spec.audiences as string[] | undefined) ?? [];
      const audiences = (user?.audiences ?? ['postmaster']).filter((a) => wanted.includes(a));
      if (!user || !audiences.length) return { status: { authenticated: false, error: 'invalid bearer token' } } as T;
      return {
        status: {
          authenticated: true,
          user: { username: user.username, uid: user.uid ?? 'uid-1', groups: user.groups ?? ['system:serviceaccounts'] },
          audiences,
        },
      } as T;
    }
    if (path.endsWith('/subjectaccessreviews')) {
      this.calls.accessReviews++;
      const attrs = spec.resourceAttributes as { namespace: string; name: string; verb: string; resource: string; group: string };
      const ok =
        attrs.verb === 'send' &&
        attrs.resource === 'senderidentities' &&
        attrs.group === 'email.postmaster.dev' &&
        this.allowed.has(`${String(spec.user)}|${attrs.namespace}|${attrs.name}`);
      return { status: { allowed: ok } } as T;
    }
    throw new Error(`unexpected ${method} ${path}`);
  }
}

export function serviceAccount(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export function identity(namespace: string, name: string, spec: Partial<SenderIdentity['spec']> = {}): SenderIdentity {
  return {
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'SenderIdentity',
    metadata: { namespace, name },
    spec: { email: `${name}@example.com`, ...spec },
  };
}

export function server(namespace: string, name: string, spec: Partial<EmailServer['spec']> = {}): EmailServer {
  return {
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: 'EmailServer',
    metadata: { namespace, name },
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, ...spec },
  };
}

export const smtpRoute = (host = 'relay.example.com', port = 25): SenderRoute => ({
  provider: 'SMTP',
  endpoint: { host, port, security: 'None' },
});

export const sendGridRoute = (apiKey = 'SG.test-key'): SenderRoute => ({
  provider: 'SendGrid',
  account: { apiKey, region: 'US' },
  describeKey: 'Secret "ns/sendgrid" key "apiKey"',
});

/** A Directory over a mutable table of resolved identities ("ns/name" → entry). */
export class PlainDirectory implements Directory {
  readonly entries = new Map<string, ResolvedIdentity>();

  add(entry: ResolvedIdentity): ResolvedIdentity {
    this.entries.set(`${entry.identity.metadata.namespace}/${entry.identity.metadata.name}`, entry);
    return entry;
  }

  resolve(namespace: string, name: string): ResolvedIdentity | undefined {
    return this.entries.get(`${namespace}/${name}`);
  }

  smtpLogin(): undefined {
    return undefined;
  }
}

export type Behaviour = 'accept' | SendError | ((message: OutboundMessage) => Promise<SendResult>);

/** Transports that record what they were given and behave as the test says, per route host/provider. */
export class FakeTransports {
  readonly sent: { route: SenderRoute; message: OutboundMessage }[] = [];
  readonly created: SenderRoute[] = [];
  readonly closed: SenderRoute[] = [];
  readonly behaviour = new Map<string, Behaviour>();
  #next = 1;

  /** Behaviour of routes to this SMTP host, or of this API provider. */
  set(key: string, behaviour: Behaviour): void {
    this.behaviour.set(key, behaviour);
  }

  readonly create = (route: SenderRoute): Transport => {
    this.created.push(route);
    const key = route.provider === 'SMTP' ? route.endpoint.host : route.provider;
    return {
      kind: route.provider,
      send: async (message) => {
        const b = this.behaviour.get(key) ?? 'accept';
        if (b instanceof SendError) throw b;
        if (typeof b === 'function') return b(message);
        this.sent.push({ route, message });
        return { messageId: `fake-${this.#next++}`, response: '250 2.0.0 Ok' };
      },
      close: async () => {
        this.closed.push(route);
      },
    };
  };
}

export const temporary = (reason = 'UpstreamUnavailable', retryAfterSeconds?: number) =>
  new SendError('the upstream is unavailable (HTTP 503).', { reason, permanent: false, upstreamStatus: 503, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) });

export const permanent = (text = 'SendGrid rejected the message (HTTP 400: "The from address does not match a verified Sender Identity").') =>
  new SendError(text, { reason: 'UpstreamRejected', permanent: true, upstreamStatus: 400 });
