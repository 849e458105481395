// EmailServer: its Secrets resolve, its SmtpTargets exist and are Ready (or its
// provider API accepts the key), fallback and mailbox are tested alongside.
import { findCondition, READY, type EmailServer, type EmailServerStatus, type SmtpTarget } from '../api/index.ts';
import { parseDuration } from '../kube/backoff.ts';
import type { MailboxEndpoint } from '../providers/types.ts';
import { apiAccount, apiBlock, apiKeyRef, describeKey, type RoutingOptions } from '../routing/api-account.ts';
import { describeApp, graphAccount, graphRefs } from '../routing/oauth2.ts';
import { serverRoute } from '../routing/route.ts';
import { resolveSecrets } from '../routing/secrets.ts';
import { credentialRefs, login, tlsOptions, tlsRefs } from '../routing/smtp-target.ts';
import { defaultForCoverage, qualified, serverUsers } from '../routing/usage.ts';
import { refKey, type World } from '../routing/world.ts';
import { failed, ok, REFERENCES_RESOLVED, summarize, unknown, type Observation } from './conditions.ts';
import { secretsObservation } from './secrets.ts';
import { CONNECTED, type ReconcileContext, type ReconcileOutput } from './smtptarget.ts';
import { observe } from './tester.ts';
import { handleTestMessage } from './testmessage.ts';
import { defaultForObservation, inUseProtection, MAX_NAMES } from './usage.ts';
import { deliveryObservation } from './delivery.ts';
import type { StateStore } from '../store/store.ts';

export const FALLBACK_CONNECTED = 'FallbackConnected';
export const INCOMING_CONNECTED = 'IncomingConnected';

export const ServerReason = {
  TargetNotFound: 'SmtpTargetNotFound',
  TargetNotReady: 'SmtpTargetNotReady',
  TargetReady: 'SmtpTargetReady',
  ReferencesResolved: 'ReferencesResolved',
} as const;

/** Mirrors a referenced SmtpTarget's Ready condition. */
function targetObservation(type: string, world: World, ns: string, name: string, gating: boolean): Observation {
  const target: SmtpTarget | undefined = world.smtpTarget(ns, name);
  const blocked = gating ? 'waiting' : 'info';
  if (!target) {
    return { ...failed(type, ServerReason.TargetNotFound, `SmtpTarget "${ns}/${name}" not found.`), severity: blocked };
  }
  const ready = findCondition(target.status?.conditions, READY);
  if (!ready || ready.status === 'Unknown' || (target.status?.observedGeneration ?? -1) < (target.metadata.generation ?? 0)) {
    return unknown(type, 'SmtpTargetNotChecked', `SmtpTarget "${ns}/${name}" has not been checked yet.`, blocked);
  }
  if (ready.status === 'False') {
    return {
      ...failed(type, ServerReason.TargetNotReady, `SmtpTarget "${ns}/${name}" is not Ready (${ready.reason}): ${ready.message}`),
      severity: blocked,
    };
  }
  return ok(type, ServerReason.TargetReady, `SmtpTarget "${ns}/${name}" is Ready: ${ready.message}`);
}

export async function reconcileEmailServer(
  server: EmailServer,
  ctx: ReconcileContext,
  opts: RoutingOptions,
  store?: Pick<StateStore, 'status'>,
): Promise<ReconcileOutput<EmailServerStatus>> {
  const { metadata: meta, spec } = server;
  const ns = meta.namespace;
  const interval = parseDuration(spec.checkInterval ?? '10m');
  const keyRef = apiKeyRef(spec);
  const refs: string[] = [];
  const observations: Observation[] = [];

  const secrets = resolveSecrets(ctx.world, ns, [
    ...(keyRef ? [keyRef] : []),
    ...graphRefs(spec),
    ...credentialRefs(spec.incoming?.credentials, 'spec.incoming.credentials'),
    ...tlsRefs(spec.incoming?.tls, 'spec.incoming.tls'),
  ]);
  observations.push(secretsObservation(secrets));
  refs.push(...secrets.refs);

  // References: the SMTP target is gating; the fallback is reported, never gating.
  const targetName = spec.provider === 'SMTP' ? spec.smtp?.targetRef.name : undefined;
  const fallbackName = spec.fallback?.smtpTargetRef.name;
  for (const name of [targetName, fallbackName]) if (name) refs.push(refKey.smtpTarget(ns, name));
  const missing = [targetName].filter((n): n is string => !!n && !ctx.world.smtpTarget(ns, n));
  observations.push(
    missing.length > 0
      ? failed(REFERENCES_RESOLVED, ServerReason.TargetNotFound, `SmtpTarget "${ns}/${missing[0]}" not found.`, 'waiting')
      : ok(REFERENCES_RESOLVED, ServerReason.ReferencesResolved, 'Referenced SmtpTargets exist.'),
  );

  const status: EmailServerStatus = { observedGeneration: meta.generation ?? 0, conditions: [] };
  const previous = server.status;
  const test = await handleTestMessage(server, () => serverRoute(ctx.world, server, opts).route, ctx);
  if (test.testMessage) status.testMessage = test.testMessage;
  let tested = false;

  if (spec.provider === 'SMTP' && targetName) {
    observations.push(targetObservation(CONNECTED, ctx.world, ns, targetName, true));
    const target = ctx.world.smtpTarget(ns, targetName);
    if (target?.status?.connection) status.connection = target.status.connection;
    tested = findCondition(target?.status?.conditions, CONNECTED)?.status === 'True';
  } else if (spec.provider === 'MicrosoftGraph') {
    const account = secrets.ok ? graphAccount(spec, secrets.values) : undefined;
    if (account) {
      const { result } = await ctx.tests.run(`EmailServer/${ns}/${meta.name}/provider`, account, interval, ctx.now.getTime(), () =>
        ctx.tester.graph(account, describeApp(ns, spec)),
      );
      observations.push(observe(CONNECTED, result, 'the Microsoft Graph app'));
      tested = result !== undefined;
      if (result?.ok && result.facts) status.provider = result.facts;
      else if (previous?.provider) status.provider = previous.provider;
    } else {
      observations.push(unknown(CONNECTED, 'SecretsNotResolved', 'Not tested until the referenced Secrets resolve.'));
    }
  } else {
    const account = apiAccount(spec, secrets.values, opts.apiBaseUrls);
    const api = apiBlock(spec);
    if (account && api && keyRef) {
      const { result } = await ctx.tests.run(`EmailServer/${ns}/${meta.name}/provider`, account, interval, ctx.now.getTime(), () =>
        ctx.tester.provider(api.provider, account, describeKey(ns, keyRef)),
      );
      observations.push(observe(CONNECTED, result, `the ${api.provider} API key`));
      tested = result !== undefined;
      if (result?.ok && result.facts) status.provider = result.facts;
      else if (previous?.provider) status.provider = previous.provider;
    } else {
      observations.push(unknown(CONNECTED, 'SecretsNotResolved', 'Not tested until the referenced Secrets resolve.'));
    }
  }

  if (fallbackName) observations.push(targetObservation(FALLBACK_CONNECTED, ctx.world, ns, fallbackName, false));
  observations.push(deliveryObservation(spec.delivery?.mode ?? 'Direct', store?.status()));

  if (spec.incoming) {
    const incoming = spec.incoming;
    const auth = login(incoming.credentials, secrets.values);
    if (auth) {
      const endpoint: MailboxEndpoint = {
        protocol: incoming.protocol,
        host: incoming.host,
        port: incoming.port,
        security: incoming.security ?? 'TLS',
        auth,
        mailbox: incoming.mailbox ?? 'INBOX',
      };
      const tls = tlsOptions(incoming.tls, secrets.values);
      if (tls) endpoint.tls = tls;
      const { result } = await ctx.tests.run(`EmailServer/${ns}/${meta.name}/incoming`, endpoint, interval, ctx.now.getTime(), () =>
        ctx.tester.mailbox(endpoint),
      );
      // The mailbox is reported, not gating: mail still goes out when replies cannot be read.
      const o = observe(INCOMING_CONNECTED, result, `${incoming.protocol} ${incoming.host}:${incoming.port}`);
      observations.push(o.severity === 'ok' ? o : { ...o, severity: 'info' });
      if (result?.ok && result.facts) status.incoming = result.facts;
      else if (previous?.incoming) status.incoming = previous.incoming;
    } else {
      observations.push(unknown(INCOMING_CONNECTED, 'SecretsNotResolved', 'Not tested until the referenced Secrets resolve.'));
    }
  }

  // Who sends through this server, and whether a delete has to wait for them.
  const users = serverUsers(ctx.world, server).map(qualified);
  status.usage = { identities: users.length, namespaces: new Set(users.map((u) => u.split('/')[0])).size, names: users.slice(0, MAX_NAMES) };
  const protection = inUseProtection(
    { kind: 'EmailServer', metadata: meta },
    ctx.world.namespace(ns),
    users,
    `SenderIdentit${users.length === 1 ? 'y' : 'ies'}`,
    'name another server',
  );
  if (protection.observation) observations.push(protection.observation);
  if (spec.defaultFor) observations.push(defaultForObservation(defaultForCoverage(ctx.world, server)));

  const notes = observations
    .filter((o) => o.severity === 'info' && o.status === 'False' && o !== protection.observation)
    .map((o) => ` ${o.type} is False (${o.reason}).`)
    .join('');
  const how =
    spec.provider === 'SMTP' ? `through SmtpTarget "${targetName}"` : `through the ${spec.provider === 'MicrosoftGraph' ? 'Microsoft Graph' : spec.provider} API`;
  status.conditions = summarize(
    previous?.conditions ?? [],
    observations,
    (protection.note ?? '') + (tested ? `Delivers ${how}.` : `Configuration and Secrets are valid; delivery ${how} was not tested.`) + notes,
    meta.generation ?? 0,
    ctx.now,
  );
  return {
    status,
    requeueAfterMs: interval,
    retry: observations.some((o) => o.severity === 'transient'),
    refs,
    events: test.events,
    protect: protection.hold,
  };
}
