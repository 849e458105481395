// EmailServer: its Secrets resolve, its SmtpTargets exist and are Ready (or its
// provider API accepts the key), fallback and mailbox are tested alongside.
import type { EmailServer, EmailServerSpec, EmailServerStatus, SmtpTarget } from '../api/index.ts';
import { parseDuration } from '../kube/backoff.ts';
import type { ApiAccount, MailboxEndpoint } from '../providers/types.ts';
import { failed, findCondition, ok, READY, REFERENCES_RESOLVED, summarize, unknown, type Observation } from './conditions.ts';
import { credentialRefs, login, tlsOptions, tlsRefs } from './endpoints.ts';
import { resolveSecrets, secretValueKey, type SecretKeyRef } from './secrets.ts';
import { CONNECTED, type ReconcileContext, type ReconcileOutput } from './smtptarget.ts';
import { observe, type ApiProvider } from './tester.ts';
import { senderRoute } from './senderidentity.ts';
import { handleTestMessage } from './testmessage.ts';
import { refKey, type World } from './world.ts';

export const FALLBACK_CONNECTED = 'FallbackConnected';
export const INCOMING_CONNECTED = 'IncomingConnected';

export const ServerReason = {
  TargetNotFound: 'SmtpTargetNotFound',
  TargetNotReady: 'SmtpTargetNotReady',
  TargetReady: 'SmtpTargetReady',
  ReferencesResolved: 'ReferencesResolved',
} as const;

/** The API block of an API provider, if that is the provider. */
export function apiBlock(spec: EmailServerSpec): { provider: ApiProvider; block: NonNullable<EmailServerSpec['sendgrid']> } | undefined {
  if (spec.provider === 'SendGrid' && spec.sendgrid) return { provider: 'SendGrid', block: spec.sendgrid };
  if (spec.provider === 'SparkPost' && spec.sparkpost) return { provider: 'SparkPost', block: spec.sparkpost };
  return undefined;
}

export function apiKeyRef(spec: EmailServerSpec): SecretKeyRef | undefined {
  const api = apiBlock(spec);
  if (!api) return undefined;
  const field = `spec.${api.provider.toLowerCase()}.apiKeySecretRef`;
  return { name: api.block.apiKeySecretRef.name, key: api.block.apiKeySecretRef.key ?? 'apiKey', field };
}

/** The API account of a server, when its key resolved. `baseUrls` override the public URLs (tests, proxies). */
export function apiAccount(
  spec: EmailServerSpec,
  values: Map<string, string>,
  baseUrls: Partial<Record<ApiProvider, Partial<Record<'US' | 'EU', string>>>>,
): ApiAccount | undefined {
  const api = apiBlock(spec);
  const ref = apiKeyRef(spec);
  if (!api || !ref) return undefined;
  const apiKey = values.get(secretValueKey(ref));
  if (!apiKey) return undefined;
  const region = api.block.region ?? 'US';
  const account: ApiAccount = { apiKey, region };
  if (api.block.ipPool) account.ipPool = api.block.ipPool;
  const baseUrl = baseUrls[api.provider]?.[region];
  if (baseUrl) account.baseUrl = baseUrl;
  return account;
}

export const describeKey = (namespace: string, ref: SecretKeyRef) => `Secret "${namespace}/${ref.name}" key "${ref.key}"`;

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

export interface EmailServerOptions {
  apiBaseUrls: Partial<Record<ApiProvider, Partial<Record<'US' | 'EU', string>>>>;
}

export async function reconcileEmailServer(
  server: EmailServer,
  ctx: ReconcileContext,
  opts: EmailServerOptions,
): Promise<ReconcileOutput<EmailServerStatus>> {
  const { metadata: meta, spec } = server;
  const ns = meta.namespace;
  const interval = parseDuration(spec.checkInterval ?? '10m');
  const keyRef = apiKeyRef(spec);
  const refs: string[] = [];
  const observations: Observation[] = [];

  const secrets = resolveSecrets(ctx.world, ns, [
    ...(keyRef ? [keyRef] : []),
    ...credentialRefs(spec.incoming?.credentials, 'spec.incoming.credentials'),
    ...tlsRefs(spec.incoming?.tls, 'spec.incoming.tls'),
  ]);
  observations.push(secrets.observation);
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
  const test = await handleTestMessage(server, () => senderRoute(ctx.world, server, opts).route, ctx);
  if (test.testMessage) status.testMessage = test.testMessage;
  let tested = false;

  if (spec.provider === 'SMTP' && targetName) {
    observations.push(targetObservation(CONNECTED, ctx.world, ns, targetName, true));
    const target = ctx.world.smtpTarget(ns, targetName);
    if (target?.status?.connection) status.connection = target.status.connection;
    tested = findCondition(target?.status?.conditions, CONNECTED)?.status === 'True';
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

  const notes = observations
    .filter((o) => o.severity === 'info' && o.status === 'False')
    .map((o) => ` ${o.type} is False (${o.reason}).`)
    .join('');
  const how = spec.provider === 'SMTP' ? `through SmtpTarget "${targetName}"` : `through the ${spec.provider} API`;
  status.conditions = summarize(
    previous?.conditions ?? [],
    observations,
    (tested ? `Delivers ${how}.` : `Configuration and Secrets are valid; delivery ${how} was not tested.`) + notes,
    meta.generation ?? 0,
    ctx.now,
  );
  return {
    status,
    requeueAfterMs: interval,
    retry: observations.some((o) => o.severity === 'transient'),
    refs,
    events: test.events,
  };
}
