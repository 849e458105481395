// How long a provider asks us to wait before the next call.
import type { Headers } from './calls.ts';

/**
 * Seconds the provider asks us to wait: `Retry-After` (delta-seconds or HTTP date), else, unless
 * `retryAfterOnly`, SendGrid's `X-RateLimit-Reset` (Unix time at which the rate-limit period
 * refreshes; sent on every answer, so only meaningful on a 429). Undefined when neither.
 */
export function retryAfterSeconds(headers: Headers, nowMs: number = Date.now(), retryAfterOnly = false): number | undefined {
  const retryAfter = headers['retry-after']?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  if (retryAfterOnly) return undefined;
  const reset = headers['x-ratelimit-reset']?.trim();
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Math.ceil(Number(reset) - nowMs / 1000));
  return undefined;
}
