// SparkPost API calls through the official `sparkpost` SDK, as CallOutcomes.
//
// The SDK (2.x, on the `request` library) resolves with the body only and rejects with
// {statusCode, errors} only; it takes no timeout, AbortSignal or agent per call and drops the
// response headers (Retry-After). So each call runs with:
//  - its own SparkPost instance (never one with a shared key) whose `request` method is wrapped
//    to add our connection pool (`agent`) to the request options the SDK builds;
//  - an AsyncLocalStorage context, through which a `http.client.request.start` diagnostics
//    channel subscriber hands us the ClientRequest the SDK created: to read the status and
//    headers of the response, and to destroy the request on timeout or abort.
// The SDK's instance holds the key in `apiKey`: the instance never leaves this file.
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type SparkPostSdkClass from 'sparkpost';
import { normalizeHeaders, type CallOutcome, type Headers, type HttpAgents } from '../http-api/calls.ts';
import { redact } from '../redact.ts';

export interface CallSettings {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The typed surface of the SDK this module uses (its own typings declare wrong return types). */
export interface SparkPostSdk {
  get(options: { uri: string; qs?: Record<string, string> }): Promise<unknown>;
  sendingDomains: { get(domain: string): Promise<unknown> };
  transmissions: { send(transmission: object, options?: Record<string, string | number>): Promise<unknown> };
}

type RequestMethod = (options: Record<string, unknown>, callback?: unknown) => Promise<unknown>;

interface Trace {
  requests: ClientRequest[];
  killed?: Error;
  status?: number;
  headers?: Headers;
}

const traces = new AsyncLocalStorage<Trace>();
let subscribed = false;

function onRequestStart(message: unknown): void {
  const trace = traces.getStore();
  if (!trace) return;
  const request = (message as { request?: ClientRequest }).request;
  if (!request) return;
  trace.requests.push(request);
  request.once('response', (res: IncomingMessage) => {
    trace.status = res.statusCode;
    trace.headers = normalizeHeaders(res.headers);
  });
  if (trace.killed) request.destroy(trace.killed);
}

function ensureSubscribed(): void {
  if (subscribed) return;
  subscribed = true;
  diagnostics.subscribe('http.client.request.start', onRequestStart);
}

/** A SparkPost SDK instance for one account and one connection pool. */
export function sparkPostSdk(origin: string, apiKey: string, agents: HttpAgents): SparkPostSdk {
  // Loaded on first use: the SDK (with `request`) is ~20 MiB an SMTP-only operator never needs.
  const SparkPost = createRequire(import.meta.url)('sparkpost') as typeof SparkPostSdkClass;
  const sp = new SparkPost(apiKey, { origin });
  const agent = origin.startsWith('https:') ? agents.https : agents.http;
  const target = sp as unknown as { request: RequestMethod };
  const original = target.request.bind(sp) as RequestMethod;
  target.request = (options, callback) => original({ ...options, agent }, callback);
  return sp as unknown as SparkPostSdk;
}

interface SdkError {
  name?: unknown;
  statusCode?: unknown;
  errors?: unknown;
  code?: unknown;
  message?: unknown;
}

/**
 * Runs one SDK call (`fn` gets the SDK) under a timeout and the caller's signal.
 * `sdk` is either an existing instance (transports) or made for this call (checks).
 */
export async function callSparkPost(
  sdk: SparkPostSdk,
  apiKey: string,
  fn: (sdk: SparkPostSdk) => Promise<unknown>,
  settings: CallSettings,
): Promise<CallOutcome> {
  const { signal, timeoutMs } = settings;
  if (signal?.aborted) return { kind: 'aborted' };
  ensureSubscribed();
  const trace: Trace = { requests: [] };
  let ended: 'timeout' | 'aborted' | undefined;
  const kill = (why: 'timeout' | 'aborted') => {
    if (ended) return;
    ended = why;
    trace.killed = new Error(why === 'timeout' ? `no answer within ${timeoutMs} ms` : 'canceled');
    for (const r of trace.requests) r.destroy(trace.killed);
  };
  const timer = setTimeout(() => kill('timeout'), timeoutMs);
  const onAbort = () => kill('aborted');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const body = await traces.run(trace, () => fn(sdk));
    return { kind: 'response', status: trace.status ?? 200, headers: trace.headers ?? {}, body };
  } catch (err) {
    if (ended === 'timeout') return { kind: 'timeout', timeoutMs };
    if (ended === 'aborted') return { kind: 'aborted' };
    const e = (err ?? {}) as SdkError;
    if (e.name === 'SparkPostError' && typeof e.statusCode === 'number') {
      return {
        kind: 'response',
        status: e.statusCode,
        headers: trace.headers ?? {},
        body: Array.isArray(e.errors) ? { errors: e.errors } : {},
      };
    }
    const code = typeof e.code === 'string' ? e.code : undefined;
    const message = typeof e.message === 'string' ? e.message : String(err);
    if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return { kind: 'timeout', timeoutMs };
    return { kind: 'network', ...(code ? { code } : {}), message: redact(message, apiKey) };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
