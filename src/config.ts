// Operator configuration from flags, then POSTMASTER_* environment variables,
// validated at start so a typo stops the process with a clear message.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { parseDuration } from './kube/backoff.ts';

export interface Config {
  kubeconfig?: string;
  namespaces: string[];
  logLevel: LevelWithSilent;
  healthPort: number;
  httpPort: number;
  smtpPort: number;
  bindAddress: string;
  workers: number;
  resyncMs: number;
  leaderElection: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity: string;
  connectionTests: boolean;
  maxConcurrentTests: number;
  checkStepTimeoutMs: number;
  apiBaseUrls: { SendGrid: { US?: string; EU?: string }; SparkPost: { US?: string; EU?: string } };
  /** Overrides of the identity providers' and Graph's public URLs. */
  identityUrls: { microsoftLogin?: string; googleToken?: string; graph?: string };
  serviceName: string;
  serviceNamespace: string;
  smtpTls?: { certFile: string; keyFile: string };
  maxMessageBytes: number;
  httpRequestTimeoutMs: number;
  authOutageGraceMs: number;
  httpMaxConnections: number;
  drainDelayMs: number;
  /** DNS servers (host:port) for SendingDomain checks; empty: the system resolver. */
  dnsServers: string[];
  /** The shared store; absent: in memory (one replica's state, no Queued delivery). */
  redis?: { url: string; username?: string; password?: string; caFile?: string };
  queue: { concurrency: number; minRetryMs: number; maxRetryMs: number; lockDurationMs: number };
}

const options = {
  kubeconfig: { type: 'string', help: 'kubeconfig file; default: $KUBECONFIG, then in-cluster' },
  namespaces: { type: 'string', help: 'comma-separated namespaces to watch; default: all' },
  'log-level': { type: 'string', help: 'trace|debug|info|warn|error|silent (default info)' },
  'health-port': { type: 'string', help: '/healthz, /readyz and /metrics port (default 8081)' },
  'http-port': { type: 'string', help: 'send endpoint HTTP port (default 8080)' },
  'smtp-port': { type: 'string', help: 'send endpoint SMTP port (default 2525)' },
  'bind-address': { type: 'string', help: 'address the servers listen on (default 0.0.0.0)' },
  workers: { type: 'string', help: 'reconciles in parallel (default 4)' },
  resync: { type: 'string', help: 'full re-list period of the watches (default 10m)' },
  'leader-election': { type: 'string', help: 'true|false (default true)' },
  'leader-election-namespace': { type: 'string', help: 'namespace of the Lease (default $POD_NAMESPACE or default)' },
  'leader-election-id': { type: 'string', help: 'name of the Lease (default postmaster-leader)' },
  'lease-duration': { type: 'string', help: 'default 15s' },
  'renew-deadline': { type: 'string', help: 'default 10s' },
  'retry-period': { type: 'string', help: 'default 2s' },
  identity: { type: 'string', help: 'this replica in the Lease (default $POD_NAME or hostname-pid)' },
  'connection-tests': { type: 'string', help: 'true|false: run SMTP/API/mailbox tests (default true)' },
  'max-concurrent-tests': { type: 'string', help: 'connection tests at once (default 4)' },
  'check-step-timeout': { type: 'string', help: 'timeout of each step of a connection test (default 10s)' },
  'sendgrid-api-url': { type: 'string', help: 'override the SendGrid US API base URL' },
  'sendgrid-eu-api-url': { type: 'string', help: 'override the SendGrid EU API base URL' },
  'sparkpost-api-url': { type: 'string', help: 'override the SparkPost US API origin' },
  'sparkpost-eu-api-url': { type: 'string', help: 'override the SparkPost EU API origin' },
  'microsoft-login-url': { type: 'string', help: 'override the Microsoft identity platform host (tokens at {url}/{tenant}/oauth2/v2.0/token)' },
  'google-token-url': { type: 'string', help: "override Google's OAuth2 token endpoint (service accounts)" },
  'graph-api-url': { type: 'string', help: 'override the Microsoft Graph base URL' },
  'service-name': { type: 'string', help: 'Service in front of the send endpoint (default postmaster)' },
  'service-namespace': { type: 'string', help: 'its namespace (default $POD_NAMESPACE or postmaster-system)' },
  'smtp-tls-cert': { type: 'string', help: 'PEM certificate file: the SMTP door offers STARTTLS and requires it before AUTH' },
  'smtp-tls-key': { type: 'string', help: 'PEM key file for --smtp-tls-cert' },
  'max-message-bytes': { type: 'string', help: 'largest message the SMTP door takes (default 15728640)' },
  'auth-outage-grace': { type: 'string', help: 'while the API server is unreachable, callers accepted within this long are still served (default 5m; 0: never)' },
  'http-request-timeout': { type: 'string', help: 'the HTTP door waits this long for a whole request; a stalled one gets 408 (default 30s)' },
  'http-max-connections': { type: 'string', help: 'connections the HTTP door holds at once (default 1024)' },
  'drain-delay': { type: 'string', help: 'on SIGTERM, how long /readyz fails before the doors stop taking work (default 2s)' },
  'dns-server': { type: 'string', help: 'comma-separated DNS servers (ip or ip:port) for SendingDomain checks; default: the system resolver' },
  'redis-url': {
    type: 'string',
    help: 'Valkey/Redis for shared idempotency keys, rate limits and Queued delivery: redis://host:6379/0 or rediss:// ' +
      '(password in $POSTMASTER_REDIS_PASSWORD, ACL user in $POSTMASTER_REDIS_USERNAME); default: in memory, this replica only',
  },
  'redis-tls-ca-file': { type: 'string', help: 'PEM CA bundle for a rediss:// store with a private CA' },
  'queue-concurrency': { type: 'string', help: 'queued messages this replica sends at once (default 16)' },
  'queue-retry-min': { type: 'string', help: 'first retry of a deferred queued message after this long, doubling (default 30s)' },
  'queue-retry-max': { type: 'string', help: 'longest wait between retries of a queued message (default 10m)' },
  'queue-lock-duration': { type: 'string', help: "a dead replica's queued messages are taken over after about 1.5 times this (default 30s)" },
  help: { type: 'boolean', help: 'print this help' },
} as const;

export class ConfigError extends Error {}

export function usage(): string {
  const lines = Object.entries(options).map(([name, o]) => `  --${name.padEnd(28)} ${o.help}`);
  return `postmaster: Kubernetes operator for outbound email\n\nFlags (or POSTMASTER_<FLAG_NAME> in the environment):\n${lines.join('\n')}\n`;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.type }])), strict: true });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (parsed.values.help) return 'help';
  const get = (name: keyof typeof options): string | undefined => {
    const v = parsed.values[name];
    if (typeof v === 'string') return v;
    return env[`POSTMASTER_${name.toUpperCase().replace(/-/g, '_')}`];
  };
  const int = (name: keyof typeof options, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name}: "${raw}" is not an integer from ${min} to ${max}`);
    return n;
  };
  const bool = (name: keyof typeof options, fallback: boolean): boolean => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    throw new ConfigError(`--${name}: "${raw}" is not true or false`);
  };
  const dur = (name: keyof typeof options, fallback: string): number => {
    const raw = get(name) ?? fallback;
    if (raw === '0') return 0;
    try {
      return parseDuration(raw);
    } catch {
      throw new ConfigError(`--${name}: "${raw}" is not a duration like 30s, 10m or 1h`);
    }
  };
  const url = (name: keyof typeof options): string | undefined => {
    const raw = get(name);
    if (raw === undefined) return undefined;
    try {
      return new URL(raw).toString().replace(/\/$/, '');
    } catch {
      throw new ConfigError(`--${name}: "${raw}" is not a URL`);
    }
  };
  const level = get('log-level') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) {
    throw new ConfigError(`--log-level: "${level}" is not one of trace, debug, info, warn, error, silent`);
  }
  const namespaces = (get('namespaces') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const ns of namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) throw new ConfigError(`--namespaces: "${ns}" is not a namespace name`);
  }
  const config: Config = {
    namespaces,
    logLevel: level as LevelWithSilent,
    healthPort: int('health-port', 8081, 0, 65535),
    httpPort: int('http-port', 8080, 0, 65535),
    smtpPort: int('smtp-port', 2525, 0, 65535),
    bindAddress: get('bind-address') ?? '0.0.0.0',
    workers: int('workers', 4, 1, 64),
    resyncMs: dur('resync', '10m'),
    leaderElection: bool('leader-election', true),
    leaderElectionNamespace: get('leader-election-namespace') ?? env.POD_NAMESPACE ?? 'default',
    leaderElectionId: get('leader-election-id') ?? 'postmaster-leader',
    leaseDurationMs: dur('lease-duration', '15s'),
    renewDeadlineMs: dur('renew-deadline', '10s'),
    retryPeriodMs: dur('retry-period', '2s'),
    identity: get('identity') ?? env.POD_NAME ?? `${hostname()}-${process.pid}`,
    connectionTests: bool('connection-tests', true),
    maxConcurrentTests: int('max-concurrent-tests', 4, 1, 256),
    checkStepTimeoutMs: dur('check-step-timeout', '10s'),
    apiBaseUrls: {
      SendGrid: { US: url('sendgrid-api-url'), EU: url('sendgrid-eu-api-url') },
      SparkPost: { US: url('sparkpost-api-url'), EU: url('sparkpost-eu-api-url') },
    },
    identityUrls: { microsoftLogin: url('microsoft-login-url'), googleToken: url('google-token-url'), graph: url('graph-api-url') },
    serviceName: get('service-name') ?? 'postmaster',
    serviceNamespace: get('service-namespace') ?? env.POD_NAMESPACE ?? 'postmaster-system',
    maxMessageBytes: 0,
    drainDelayMs: 0,
    httpRequestTimeoutMs: dur('http-request-timeout', '30s'),
    authOutageGraceMs: dur('auth-outage-grace', '5m'),
    httpMaxConnections: int('http-max-connections', 1024, 1, 1_000_000),
    dnsServers: dnsServers(get('dns-server')),
    queue: {
      concurrency: int('queue-concurrency', 16, 1, 1024),
      minRetryMs: dur('queue-retry-min', '30s'),
      maxRetryMs: dur('queue-retry-max', '10m'),
      lockDurationMs: dur('queue-lock-duration', '30s'),
    },
  };
  const redisUrl = get('redis-url');
  if (redisUrl) {
    // Never echo the URL whole: it may carry a password.
    if (!/^rediss?:\/\//.test(redisUrl) || !URL.canParse(redisUrl)) throw new ConfigError(`--redis-url: "${redisUrl.replace(/\/\/[^@/]*@/, '//***@')}" is not a redis:// or rediss:// URL`);
    config.redis = { url: redisUrl };
    if (env.POSTMASTER_REDIS_USERNAME) config.redis.username = env.POSTMASTER_REDIS_USERNAME;
    if (env.POSTMASTER_REDIS_PASSWORD) config.redis.password = env.POSTMASTER_REDIS_PASSWORD;
    const ca = get('redis-tls-ca-file');
    if (ca) config.redis.caFile = ca;
  }
  if (config.queue.minRetryMs > config.queue.maxRetryMs) throw new ConfigError('--queue-retry-min must not be longer than --queue-retry-max');
  config.maxMessageBytes = int('max-message-bytes', 15 * 1024 * 1024, 1024, 100 * 1024 * 1024);
  config.drainDelayMs = dur('drain-delay', '2s');
  const cert = get('smtp-tls-cert');
  const key = get('smtp-tls-key');
  if (!!cert !== !!key) throw new ConfigError('--smtp-tls-cert and --smtp-tls-key go together');
  if (cert && key) config.smtpTls = { certFile: cert, keyFile: key };
  const kubeconfig = get('kubeconfig') ?? env.KUBECONFIG;
  if (kubeconfig) config.kubeconfig = kubeconfig;
  if (config.renewDeadlineMs >= config.leaseDurationMs) {
    throw new ConfigError('--renew-deadline must be shorter than --lease-duration');
  }
  return config;
}

/** ip, ip:port, [ipv6] or [ipv6]:port: what node:dns setServers takes (it resolves no names). */
function dnsServers(raw: string | undefined): string[] {
  const servers = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of servers) {
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]|([0-9A-Fa-f:]+))(?::(\d{1,5}))?$/.exec(s);
    const port = m?.[4] === undefined ? 53 : Number(m[4]);
    if (!m || (m[3] !== undefined && m[4] !== undefined) || port < 1 || port > 65535) {
      throw new ConfigError(`--dns-server: "${s}" is not an IP address with an optional port (10.0.0.10, 10.0.0.10:5353, [fd00::a]:53)`);
    }
  }
  return servers;
}
