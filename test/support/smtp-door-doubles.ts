// Test doubles for the SMTP door's local tests, built from plain objects: a
// Directory of identities and a Pipeline that records what it was asked to send
// and plays the pipeline's part of the contract (the real message checks of
// message.ts, From = the identity, RBAC as a list of who may send as what). The
// real pipeline is exercised by the cluster test.
import type { SenderIdentity } from '../../src/api/index.ts';
import { forbidden, identityNotFound, messageNotFound, unauthenticated } from '../../src/endpoint/errors.ts';
import { checkMessage } from '../../src/endpoint/message.ts';
import type { Caller, Directory, Pipeline, SendOutcome, SendRequest } from '../../src/endpoint/types.ts';
import type { OutboundMessage } from '../../src/providers/types.ts';

export interface FakeIdentity {
  namespace: string;
  name: string;
  email: string;
  displayName?: string;
  /** Generated SMTP password; absent: the identity has no smtpCredentials. */
  password?: string;
  ready?: boolean;
  reason?: string;
  message?: string;
}

export function fakeDirectory(identities: FakeIdentity[]): Directory {
  const find = (ns: string, name: string) => identities.find((i) => i.namespace === ns && i.name === name);
  return {
    resolve(namespace, name) {
      const i = find(namespace, name);
      if (!i) return undefined;
      const identity: SenderIdentity = {
        apiVersion: 'email.postmaster.dev/v1alpha1',
        kind: 'SenderIdentity',
        metadata: { name: i.name, namespace: i.namespace },
        spec: { email: i.email, ...(i.displayName ? { displayName: i.displayName } : {}) },
      };
      const ready = i.ready ?? true;
      return { identity, ready, ...(ready ? {} : { reason: i.reason ?? 'NotReady', message: i.message ?? 'not ready' }) };
    },
    smtpLogin(username, password) {
      const i = identities.find((x) => `${x.namespace}/${x.name}` === username);
      return i?.password && i.password === password ? { namespace: i.namespace, identity: i.name } : undefined;
    },
  };
}

export interface FakePipeline extends Pipeline {
  /** Every send request, as the door made it. */
  requests: SendRequest[];
  /** What went "upstream": the request's message with From set to the identity. */
  delivered: OutboundMessage[];
  /** Tokens the fake TokenReview accepts. */
  tokens: Map<string, Caller>;
  /** `<caller.username> <namespace>/<identity>` pairs RBAC allows. */
  allowed: Set<string>;
  /** The next send fails with this error (once). */
  failNext(err: Error): void;
  /** The next send waits until the returned function is called. */
  hold(): () => void;
}

export function fakePipeline(directory: Directory): FakePipeline {
  let failure: Error | undefined;
  let gate: Promise<void> | undefined;
  let inFlight = 0;
  const p: FakePipeline = {
    requests: [],
    delivered: [],
    tokens: new Map(),
    allowed: new Set(),
    get inFlight() {
      return inFlight;
    },
    failNext(err) {
      failure = err;
    },
    hold() {
      let release = () => undefined as void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return release;
    },
    async authenticateToken(token) {
      const caller = p.tokens.get(token);
      if (!caller) throw unauthenticated('The ServiceAccount token was not accepted (audience "postmaster").');
      return caller;
    },
    async authorize(caller, sender) {
      if (!directory.resolve(caller.namespace, sender)) throw identityNotFound(caller.namespace, sender);
      const mayBound = caller.boundIdentity === sender;
      const mayRbac = !caller.boundIdentity && p.allowed.has(`${caller.username} ${caller.namespace}/${sender}`);
      if (!mayBound && !mayRbac) throw forbidden(`${caller.username} may not send as SenderIdentity "${caller.namespace}/${sender}".`);
    },
    async messageStatus(_caller, id) {
      // The SMTP door never reads message states.
      throw messageNotFound(id);
    },
    async send(request): Promise<SendOutcome> {
      p.requests.push(request);
      inFlight++;
      try {
        if (gate) {
          const g = gate;
          gate = undefined;
          await g;
        }
        if (failure) {
          const f = failure;
          failure = undefined;
          throw f;
        }
        const { caller, sender } = request;
        const message = checkMessage(request.message);
        const resolved = directory.resolve(caller.namespace, sender);
        if (!resolved) throw identityNotFound(caller.namespace, sender);
        const mayBound = caller.boundIdentity === sender;
        const mayRbac = !caller.boundIdentity && p.allowed.has(`${caller.username} ${caller.namespace}/${sender}`);
        if (!mayBound && !mayRbac) throw forbidden(`${caller.username} may not send as SenderIdentity "${caller.namespace}/${sender}".`);
        const spec = resolved.identity.spec;
        p.delivered.push({ ...message, from: { address: spec.email, ...(spec.displayName ? { name: spec.displayName } : {}) } });
        const n = p.delivered.length;
        return {
          messageId: `<upstream-${n}@relay.test>`,
          response: `250 2.0.0 Ok: queued as Q${n}`,
          server: { namespace: caller.namespace, name: 'relay' },
          provider: 'SMTP',
          route: 'primary',
        };
      } finally {
        inFlight--;
      }
    },
  };
  return p;
}
