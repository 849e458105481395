// SenderIdentity: its server resolves (named or the namespace default), admits
// this namespace and is Ready, and the address is verified where mail leaves.
import type { EmailServer, LabelSelector, SenderIdentity, SenderIdentityStatus } from '../api/index.ts';
import { parseDuration } from '../kube/backoff.ts';
import { failed, findCondition, ok, READY, REFERENCES_RESOLVED, summarize, unknown, type Observation } from './conditions.ts';
import { apiAccount, apiKeyRef, describeKey, type EmailServerOptions } from './emailserver.ts';
import { resolveSmtpTarget } from './endpoints.ts';
import { resolveSecrets } from './secrets.ts';
import type { ReconcileContext, ReconcileOutput } from './smtptarget.ts';
import { observe, type SenderRoute } from './tester.ts';
import { refKey, type World } from './world.ts';

export const SERVER_READY = 'ServerReady';
export const VERIFIED = 'Verified';

export const IdentityReason = {
  ServerNotFound: 'EmailServerNotFound',
  NoDefaultServer: 'NoDefaultServer',
  MultipleDefaultServers: 'MultipleDefaultServers',
  NotAllowed: 'NamespaceNotAllowed',
  Resolved: 'ServerResolved',
  ServerNotReady: 'EmailServerNotReady',
  ServerReady: 'EmailServerReady',
} as const;

type ServerLookup = { server: EmailServer; observation: Observation } | { server?: undefined; observation: Observation };

/** Finds the identity's EmailServer: the named one, or the namespace's single default. */
export function findServer(world: World, identity: SenderIdentity): ServerLookup {
  const ns = identity.metadata.namespace;
  const ref = identity.spec.serverRef;
  if (ref) {
    const serverNs = ref.namespace ?? ns;
    const server = world.emailServer(serverNs, ref.name);
    if (!server) {
      return {
        observation: failed(
          REFERENCES_RESOLVED,
          IdentityReason.ServerNotFound,
          `EmailServer "${serverNs}/${ref.name}" not found; it may have been deleted. Create it or point spec.serverRef elsewhere.`,
          'waiting',
        ),
      };
    }
    return { server, observation: ok(REFERENCES_RESOLVED, IdentityReason.Resolved, `Uses EmailServer "${serverNs}/${ref.name}".`) };
  }
  const defaults = world.emailServers(ns).filter((s) => s.spec.default === true);
  if (defaults.length === 0) {
    return {
      observation: failed(
        REFERENCES_RESOLVED,
        IdentityReason.NoDefaultServer,
        `spec.serverRef is not set and namespace "${ns}" has no EmailServer with default: true.`,
        'waiting',
      ),
    };
  }
  if (defaults.length > 1) {
    const names = defaults.map((s) => `"${s.metadata.name}"`).sort().join(', ');
    return {
      observation: failed(
        REFERENCES_RESOLVED,
        IdentityReason.MultipleDefaultServers,
        `spec.serverRef is not set and namespace "${ns}" has ${defaults.length} default EmailServers (${names}): keep default: true on one, or set spec.serverRef.`,
      ),
    };
  }
  const server = defaults[0]!;
  return {
    server,
    observation: ok(REFERENCES_RESOLVED, IdentityReason.Resolved, `Uses the namespace default EmailServer "${ns}/${server.metadata.name}".`),
  };
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Whether `server` admits identities from `namespace` (the Gateway API allowedRoutes pattern). */
export function admits(world: World, server: EmailServer, namespace: string): boolean {
  if (server.metadata.namespace === namespace) return true;
  const from = server.spec.allowedNamespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return false;
  const labels = world.namespace(namespace)?.metadata.labels ?? {};
  return selectorMatches(server.spec.allowedNamespaces?.selector, labels);
}

/** Where mail for this server leaves, with Secrets resolved; undefined when they do not resolve. */
export function senderRoute(world: World, server: EmailServer, opts: EmailServerOptions): { route?: SenderRoute; refs: string[] } {
  const ns = server.metadata.namespace;
  if (server.spec.provider === 'SMTP') {
    const name = server.spec.smtp?.targetRef.name;
    const target = name ? world.smtpTarget(ns, name) : undefined;
    if (!target) return { refs: [] };
    const resolved = resolveSmtpTarget(world, target);
    return {
      route: resolved.endpoint ? { provider: 'SMTP', endpoint: resolved.endpoint } : undefined,
      refs: resolved.secrets.refs,
    };
  }
  const keyRef = apiKeyRef(server.spec);
  if (!keyRef) return { refs: [] };
  const secrets = resolveSecrets(world, ns, [keyRef]);
  const account = apiAccount(server.spec, secrets.values, opts.apiBaseUrls);
  const provider = server.spec.provider as 'SendGrid' | 'SparkPost';
  return { route: account ? { provider, account, describeKey: describeKey(ns, keyRef) } : undefined, refs: secrets.refs };
}

export interface IdentityExtras {
  /** Filled in by the send endpoint's wiring: how workloads reach it. */
  endpoint?: SenderIdentityStatus['endpoint'];
  smtpCredentialsSecret?: string;
  /** Why the generated SMTP credentials Secret could not be written. */
  credentialsProblem?: string;
}

export const CREDENTIALS_READY = 'CredentialsReady';

export async function reconcileSenderIdentity(
  identity: SenderIdentity,
  ctx: ReconcileContext,
  opts: EmailServerOptions,
  extras: IdentityExtras = {},
): Promise<ReconcileOutput<SenderIdentityStatus>> {
  const { metadata: meta, spec } = identity;
  const ns = meta.namespace;
  const refs = [refKey.namespace(ns)];
  if (spec.serverRef) refs.push(refKey.emailServer(spec.serverRef.namespace ?? ns, spec.serverRef.name));
  else refs.push(refKey.defaultServer(ns));

  const observations: Observation[] = [];
  const found = findServer(ctx.world, identity);
  let server = found.server;
  let references = found.observation;
  if (server && !admits(ctx.world, server, ns)) {
    const from = server.spec.allowedNamespaces?.from ?? 'Same';
    references = failed(
      REFERENCES_RESOLVED,
      IdentityReason.NotAllowed,
      `EmailServer "${server.metadata.namespace}/${server.metadata.name}" does not admit namespace "${ns}" ` +
        `(allowedNamespaces.from is ${from}); ask its owners to allow it.`,
    );
    server = undefined;
  }
  observations.push(references);

  let interval = 10 * 60_000;
  const status: SenderIdentityStatus = { observedGeneration: meta.generation ?? 0, conditions: [] };
  if (extras.endpoint) status.endpoint = extras.endpoint;
  if (extras.smtpCredentialsSecret) status.smtpCredentialsSecret = extras.smtpCredentialsSecret;

  if (server) {
    const sns = server.metadata.namespace;
    const sname = server.metadata.name;
    status.server = { name: sname, namespace: sns, provider: server.spec.provider };
    interval = parseDuration(server.spec.checkInterval ?? '10m');
    const ready = findCondition(server.status?.conditions, READY);
    const current = (server.status?.observedGeneration ?? -1) >= (server.metadata.generation ?? 0);
    if (ready?.status === 'True' && current) {
      observations.push(ok(SERVER_READY, IdentityReason.ServerReady, `EmailServer "${sns}/${sname}" is Ready.`));
    } else {
      const why = ready && current ? ` (${ready.reason}): ${ready.message}` : ': it has not been checked yet.';
      observations.push(failed(SERVER_READY, IdentityReason.ServerNotReady, `EmailServer "${sns}/${sname}" is not Ready${why}`, 'waiting'));
    }

    const { route, refs: routeRefs } = senderRoute(ctx.world, server, opts);
    refs.push(...routeRefs);
    if (route) {
      const { result } = await ctx.tests.run(`SenderIdentity/${ns}/${meta.name}/verify`, { route, email: spec.email }, interval, ctx.now.getTime(), () =>
        ctx.tester.verifySender(route, spec.email),
      );
      observations.push(observe(VERIFIED, result, `sender ${spec.email}`));
    } else {
      observations.push(unknown(VERIFIED, 'ServerNotResolved', `Not verified until EmailServer "${sns}/${sname}" resolves its Secrets.`));
    }
  } else {
    observations.push(unknown(VERIFIED, 'ServerNotResolved', 'Not verified until the EmailServer resolves.'));
  }

  if (spec.smtpCredentials) {
    const secretName = spec.smtpCredentials.secretName;
    refs.push(refKey.secret(ns, secretName));
    observations.push(
      extras.credentialsProblem
        ? failed(CREDENTIALS_READY, 'CredentialsSecretConflict', extras.credentialsProblem)
        : extras.smtpCredentialsSecret
          ? ok(CREDENTIALS_READY, 'CredentialsWritten', `SMTP credentials are in Secret "${ns}/${secretName}".`)
          : unknown(CREDENTIALS_READY, 'EndpointNotEnabled', 'The send endpoint is not enabled; no credentials were written.'),
    );
  }

  const verified = observations.find((o) => o.type === VERIFIED)?.status === 'True';
  status.conditions = summarize(
    identity.status?.conditions ?? [],
    observations,
    `Ready to send as ${spec.email}${status.server ? ` through EmailServer "${status.server.namespace}/${status.server.name}"` : ''}` +
      (verified ? '.' : '; the sender address was not verified.'),
    meta.generation ?? 0,
    ctx.now,
  );
  return {
    status,
    requeueAfterMs: interval,
    retry: observations.some((o) => o.severity === 'transient'),
    refs,
  };
}
