// SenderIdentity: its server resolves (named or the namespace default), admits
// this namespace and is Ready, and the address is verified where mail leaves.
import { findCondition, READY, type SenderIdentity, type SenderIdentityStatus } from '../api/index.ts';
import { parseDuration } from '../kube/backoff.ts';
import type { RoutingOptions } from '../routing/api-account.ts';
import type { IdentityExtras } from '../routing/identity.ts';
import { serverRoute } from '../routing/route.ts';
import { identityServer } from '../routing/server.ts';
import { signingStatus } from '../routing/signing.ts';
import { refKey } from '../routing/world.ts';
import { failed, ok, REFERENCES_RESOLVED, summarize, unknown, type Observation } from './conditions.ts';
import type { ReconcileContext, ReconcileOutput } from './smtptarget.ts';
import { observe } from './tester.ts';

export const SERVER_READY = 'ServerReady';
export const VERIFIED = 'Verified';

/** Reasons of ServerReady; those of ReferencesResolved are the routing layer's ServerLookupReason. */
export const IdentityReason = {
  ServerNotReady: 'EmailServerNotReady',
  ServerReady: 'EmailServerReady',
} as const;

export const CREDENTIALS_READY = 'CredentialsReady';

export async function reconcileSenderIdentity(
  identity: SenderIdentity,
  ctx: ReconcileContext,
  opts: RoutingOptions,
  extras: IdentityExtras = {},
): Promise<ReconcileOutput<SenderIdentityStatus>> {
  const { metadata: meta, spec } = identity;
  const ns = meta.namespace;
  const refs = [refKey.namespace(ns)];
  if (spec.serverRef) refs.push(refKey.emailServer(spec.serverRef.namespace ?? ns, spec.serverRef.name));
  else refs.push(refKey.defaultServer(ns), refKey.platformDefaults());

  const observations: Observation[] = [];
  const lookup = identityServer(ctx.world, identity);
  const server = lookup.server;
  const references = server
    ? ok(REFERENCES_RESOLVED, lookup.reason, lookup.message)
    : failed(REFERENCES_RESOLVED, lookup.reason, lookup.message, lookup.waiting ? 'waiting' : 'terminal');
  observations.push(references);

  let interval = 10 * 60_000;
  const status: SenderIdentityStatus = { observedGeneration: meta.generation ?? 0, conditions: [] };
  if (extras.endpoint) status.endpoint = extras.endpoint;
  if (extras.smtpCredentialsSecret) status.smtpCredentialsSecret = extras.smtpCredentialsSecret;

  // The SERVER column shows what the identity expects, even when that server is missing.
  if (lookup.expected) status.server = { name: lookup.expected.name, namespace: lookup.expected.namespace };
  if (server) {
    const sns = server.metadata.namespace;
    const sname = server.metadata.name;
    status.server = { name: sname, namespace: sns, provider: server.spec.provider };
    refs.push(refKey.emailServer(sns, sname));
    interval = parseDuration(server.spec.checkInterval ?? '10m');
    const ready = findCondition(server.status?.conditions, READY);
    const current = (server.status?.observedGeneration ?? -1) >= (server.metadata.generation ?? 0);
    if (ready?.status === 'True' && current) {
      observations.push(ok(SERVER_READY, IdentityReason.ServerReady, `EmailServer "${sns}/${sname}" is Ready.`));
    } else {
      const why = ready && current ? ` (${ready.reason}): ${ready.message}` : ': it has not been checked yet.';
      observations.push(failed(SERVER_READY, IdentityReason.ServerNotReady, `EmailServer "${sns}/${sname}" is not Ready${why}`, 'waiting'));
    }

    refs.push(refKey.sendingDomains(sns));
    status.signing = signingStatus(ctx.world, server, spec.email);

    const { route, refs: routeRefs } = serverRoute(ctx.world, server, opts);
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
