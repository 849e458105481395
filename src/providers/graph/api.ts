// One Microsoft Graph call with an app token, as a CallOutcome (fetch; the
// token never leaves this file in an outcome or an error).
import { normalizeHeaders, type CallOutcome } from '../http-api/calls.ts';

export interface GraphCall {
  method: 'GET' | 'POST';
  /** Below the base URL, starting with /v1.0/. */
  path: string;
  body?: string;
  contentType?: string;
}

export async function callGraph(baseUrl: string, token: string, call: GraphCall, settings: { timeoutMs: number; signal?: AbortSignal }): Promise<CallOutcome> {
  if (settings.signal?.aborted) return { kind: 'aborted' };
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = settings.signal ? AbortSignal.any([settings.signal, timeout]) : timeout;
  try {
    const response = await fetch(`${baseUrl.replace(/\/+$/, '')}${call.path}`, {
      method: call.method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(call.contentType ? { 'content-type': call.contentType } : {}),
      },
      ...(call.body !== undefined ? { body: call.body } : {}),
      redirect: 'manual',
      signal,
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { kind: 'response', status: response.status, headers: normalizeHeaders(Object.fromEntries(response.headers)), body };
  } catch (err) {
    if (settings.signal?.aborted) return { kind: 'aborted' };
    if (timeout.aborted) return { kind: 'timeout', timeoutMs: settings.timeoutMs };
    const e = err as { message?: string; cause?: { code?: string; message?: string } };
    const code = e.cause?.code;
    return { kind: 'network', ...(code ? { code } : {}), message: e.cause?.message ?? e.message ?? 'fetch failed' };
  }
}

/** Graph's error body: {"error": {"code": "ErrorAccessDenied", "message": "..."}} as `code: message`. */
export function graphError(body: unknown): string | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!error || typeof error !== 'object') return undefined;
  const parts = [error.code, error.message].filter((p): p is string => typeof p === 'string' && !!p);
  return parts.length ? parts.join(': ').replace(/\s+/g, ' ').slice(0, 400) : undefined;
}

export function graphCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}
