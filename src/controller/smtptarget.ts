// SmtpTarget: Secrets resolve, the connection test passes, Ready says so.
import type { SmtpTarget, SmtpTargetStatus } from '../api/index.ts';
import { parseDuration } from '../kube/backoff.ts';
import type { ConnectionTester } from '../providers/tester.ts';
import { resolveSmtpTarget } from '../routing/smtp-target.ts';
import { targetUsers } from '../routing/usage.ts';
import type { World } from '../routing/world.ts';
import { summarize, unknown, type Observation } from './conditions.ts';
import { secretsObservation } from './secrets.ts';
import { observe, type TestCache } from './tester.ts';
import { inUseProtection, MAX_NAMES } from './usage.ts';

export const CONNECTED = 'Connected';

export interface ReconcileOutput<S> {
  status: S;
  requeueAfterMs: number;
  /** A transient failure: retry with backoff rather than waiting the interval. */
  retry: boolean;
  /** What this reconcile read (Secrets, referenced objects). */
  refs: string[];
  /** Events beyond condition transitions (a test message sent). */
  events?: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
  /** Whether the in-use finalizer should be held (servers and targets); absent: not managed. */
  protect?: boolean;
}

export interface ReconcileContext {
  world: World;
  tester: ConnectionTester;
  tests: TestCache;
  now: Date;
}

export async function reconcileSmtpTarget(target: SmtpTarget, ctx: ReconcileContext): Promise<ReconcileOutput<SmtpTargetStatus>> {
  const { metadata: meta, spec } = target;
  const interval = parseDuration(spec.checkInterval ?? '10m');
  const resolved = resolveSmtpTarget(ctx.world, target);
  const observations: Observation[] = [secretsObservation(resolved.secrets)];
  let connection = target.status?.connection;
  let tested = false;

  if (resolved.endpoint) {
    const endpoint = resolved.endpoint;
    const { result } = await ctx.tests.run(
      `SmtpTarget/${meta.namespace}/${meta.name}/connect`,
      endpoint,
      interval,
      ctx.now.getTime(),
      () => ctx.tester.smtp(endpoint),
    );
    observations.push(observe(CONNECTED, result, `${spec.host}:${spec.port}`));
    tested = result !== undefined;
    if (result?.ok && result.facts) connection = result.facts;
  } else {
    observations.push(unknown(CONNECTED, 'SecretsNotResolved', 'Not tested until the referenced Secrets resolve.', 'info'));
  }

  const users = targetUsers(ctx.world, target).map((u) => `${u.server.metadata.name} (${u.as})`);
  const protection = inUseProtection(
    { kind: 'SmtpTarget', metadata: meta },
    ctx.world.namespace(meta.namespace),
    users,
    `EmailServer${users.length === 1 ? '' : 's'}`,
    'use another target',
  );
  if (protection.observation) observations.push(protection.observation);

  const deleting = protection.note ?? '';
  let tlsNote = spec.tls?.insecureSkipVerify ? ' WARNING: tls.insecureSkipVerify is set; the certificate is not verified.' : '';
  if ((spec.security ?? 'STARTTLS') === 'None' && spec.credentials) {
    const what = spec.credentials.type === 'OAuth2' ? 'the access token' : 'the password';
    tlsNote += ` WARNING: security is None, so ${what} crosses the network in plain text.`;
  }
  const status: SmtpTargetStatus = {
    observedGeneration: meta.generation ?? 0,
    conditions: summarize(
      target.status?.conditions ?? [],
      observations,
      tested
        ? `${deleting}SMTP server ${spec.host}:${spec.port} (${spec.security ?? 'STARTTLS'}) accepted the connection test.${tlsNote}`
        : `${deleting}Configuration and Secrets are valid; the connection was not tested.${tlsNote}`,
      meta.generation ?? 0,
      ctx.now,
    ),
  };
  if (connection) status.connection = connection;
  status.usage = { servers: users.length, names: users.slice(0, MAX_NAMES) };
  return {
    status,
    requeueAfterMs: interval,
    retry: observations.some((o) => o.severity === 'transient'),
    refs: resolved.secrets.refs,
    protect: protection.hold,
  };
}
