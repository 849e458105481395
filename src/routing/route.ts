// Where mail sent through a server leaves: its primary route (SMTP target or
// provider API) and, for API providers, its fallback SmtpTarget.
import type { EmailServer, SmtpTarget } from '../api/index.ts';
import type { SenderRoute, SmtpEndpoint } from '../providers/types.ts';
import { apiAccount, apiKeyRef, describeKey, type RoutingOptions } from './api-account.ts';
import { describeApp, graphAccount, graphRefs } from './oauth2.ts';
import { resolveSecrets } from './secrets.ts';
import { resolveSmtpTarget } from './smtp-target.ts';
import type { World } from './world.ts';

/** The server's primary route with Secrets resolved (undefined when they do not resolve), and what it read. */
export function serverRoute(world: World, server: EmailServer, opts: RoutingOptions): { route?: SenderRoute; refs: string[] } {
  const ns = server.metadata.namespace;
  if (server.spec.provider === 'SMTP') {
    const name = server.spec.smtp?.targetRef.name;
    const target = name ? world.smtpTarget(ns, name) : undefined;
    if (!target) return { refs: [] };
    const resolved = resolveSmtpTarget(world, target);
    return {
      route: resolved.endpoint ? { provider: 'SMTP', endpoint: withCapabilities(resolved.endpoint, target) } : undefined,
      refs: resolved.secrets.refs,
    };
  }
  if (server.spec.provider === 'MicrosoftGraph') {
    const secrets = resolveSecrets(world, ns, graphRefs(server.spec));
    const account = secrets.ok ? graphAccount(server.spec, secrets.values) : undefined;
    return {
      route: account ? { provider: 'MicrosoftGraph', account, describeKey: describeApp(ns, server.spec) } : undefined,
      refs: secrets.refs,
    };
  }
  const keyRef = apiKeyRef(server.spec);
  if (!keyRef) return { refs: [] };
  const secrets = resolveSecrets(world, ns, [keyRef]);
  const account = apiAccount(server.spec, secrets.values, opts.apiBaseUrls);
  const provider = server.spec.provider as 'SendGrid' | 'SparkPost';
  return { route: account ? { provider, account, describeKey: describeKey(ns, keyRef) } : undefined, refs: secrets.refs };
}

/** The fallback SmtpTarget of an API provider's server, when it exists and its Secrets resolve. */
export function fallbackRoute(world: World, server: EmailServer): SenderRoute | undefined {
  const name = server.spec.provider !== 'SMTP' ? server.spec.fallback?.smtpTargetRef.name : undefined;
  const target = name ? world.smtpTarget(server.metadata.namespace, name) : undefined;
  const endpoint = target ? resolveSmtpTarget(world, target).endpoint : undefined;
  return endpoint && target ? { provider: 'SMTP', endpoint: withCapabilities(endpoint, target) } : undefined;
}

/**
 * What the send path should know of the server from its last connection test. Kept
 * out of resolveSmtpTarget: the connection test's own inputs must not change with its results.
 */
function withCapabilities(endpoint: SmtpEndpoint, target: SmtpTarget): SmtpEndpoint {
  const extensions = target.status?.connection?.extensions;
  return extensions ? { ...endpoint, eightBitMime: extensions.includes('8BITMIME'), smtpUtf8: extensions.includes('SMTPUTF8') } : endpoint;
}
