// One SendGrid v3 API call through the official @sendgrid/client, as a CallOutcome.
// Every call gets its own Client instance (never the module's shared singleton), so two
// accounts, keys or base URLs can never mix, and a per-call timeout and AbortSignal apply.
// The SDK's errors are read for status, headers and body only: axios errors carry the request
// config (with the Authorization header), so they never leave this file.
import { createRequire } from 'node:module';
import type { Client as SendGridClient } from '@sendgrid/client';
import { normalizeHeaders, oneShotAgents, type CallOutcome, type HttpAgents } from '../http-api/calls.ts';
import { redact } from '../redact.ts';

export interface SendGridCall {
  method: 'GET' | 'POST';
  /** Path below the base URL, starting with /v3/. */
  path: string;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
}

export interface CallSettings {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Connection pools to use; checks use non-keep-alive ones so nothing lingers between checks. */
  agents?: HttpAgents;
}

/** The SDK types setDefaultRequest narrowly; axios options beyond them pass through it at runtime. */
interface LooseDefaults {
  setDefaultRequest(key: string, value: unknown): unknown;
}

interface ResponseLike {
  status?: unknown;
  headers?: unknown;
  data?: unknown;
  body?: unknown;
}

export async function callSendGrid(
  baseUrl: string,
  apiKey: string,
  call: SendGridCall,
  settings: CallSettings,
): Promise<CallOutcome> {
  const { signal, timeoutMs } = settings;
  if (signal?.aborted) return { kind: 'aborted' };
  const agents = settings.agents ?? oneShotAgents;

  // Loaded on first use, like the other provider SDKs: memory an SMTP-only operator never needs.
  const { Client } = createRequire(import.meta.url)('@sendgrid/client') as { Client: typeof SendGridClient };
  const client = new Client();
  // Set the header directly instead of setApiKey(): setApiKey also resets the base URL to the
  // global host and warns on the console about keys not starting with "SG.".
  client.setDefaultHeader('Authorization', `Bearer ${apiKey}`);
  const defaults = client as unknown as LooseDefaults;
  defaults.setDefaultRequest('baseUrl', baseUrl);
  defaults.setDefaultRequest('timeout', timeoutMs);
  defaults.setDefaultRequest('maxRedirects', 0);
  defaults.setDefaultRequest('httpAgent', agents.http);
  defaults.setDefaultRequest('httpsAgent', agents.https);
  if (signal) defaults.setDefaultRequest('signal', signal);

  try {
    const [response, body] = await client.request({
      method: call.method,
      url: call.path,
      ...(call.query ? { qs: call.query } : {}),
      ...(call.body === undefined ? {} : { body: call.body }),
    });
    return { kind: 'response', status: response.statusCode, headers: normalizeHeaders(response.headers), body };
  } catch (err) {
    return classifyError(err, apiKey, settings);
  }
}

function classifyError(err: unknown, apiKey: string, settings: CallSettings): CallOutcome {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; response?: ResponseLike; name?: unknown };
  // @sendgrid/client's ResponseError: code is the HTTP status, response is {headers, body}.
  if (typeof e.code === 'number' && e.response && typeof e.response === 'object') {
    return {
      kind: 'response',
      status: e.code,
      headers: normalizeHeaders(e.response.headers),
      body: e.response.body,
    };
  }
  // A raw axios error that still has a response (e.g. a 3xx with redirects off).
  if (e.response && typeof e.response.status === 'number') {
    return {
      kind: 'response',
      status: e.response.status,
      headers: normalizeHeaders(e.response.headers),
      body: e.response.data,
    };
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (settings.signal?.aborted || code === 'ERR_CANCELED') return { kind: 'aborted' };
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout of \d+ms exceeded/.test(message)) {
    return { kind: 'timeout', timeoutMs: settings.timeoutMs };
  }
  return { kind: 'network', ...(code ? { code } : {}), message: redact(message, apiKey) };
}
