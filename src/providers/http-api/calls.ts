// One call to a provider API as the checks and transports see it: its outcome,
// the connection pools it runs on, its timeouts and its headers.
import http from 'node:http';
import https from 'node:https';

export type Headers = Record<string, string>;

/** What one API call came to. Bodies are parsed JSON (or a string when not JSON). */
export type CallOutcome =
  | { kind: 'response'; status: number; headers: Headers; body: unknown }
  | { kind: 'network'; code?: string; message: string }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'aborted' };

/** Connection pools of one user of an API (a transport, or the checks). */
export interface HttpAgents {
  http: http.Agent;
  https: https.Agent;
}

/** Agents of the checks: a connection per call, closed when the call ends, so nothing lingers between checks. */
export const oneShotAgents: HttpAgents = {
  http: new http.Agent({ keepAlive: false }),
  https: new https.Agent({ keepAlive: false }),
};

/** Keep-alive agents of a transport; its close() destroys them. */
export function pooledAgents(maxSockets: number): HttpAgents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets }),
    https: new https.Agent({ keepAlive: true, maxSockets }),
  };
}

export const DEFAULT_STEP_TIMEOUT_MS = 10_000;
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;

/** Lower-cased header names, one string value each. Accepts Node and axios header objects. */
export function normalizeHeaders(raw: unknown): Headers {
  const out: Headers = {};
  if (!raw || typeof raw !== 'object') return out;
  const source =
    typeof (raw as { toJSON?: unknown }).toJSON === 'function'
      ? ((raw as { toJSON: () => unknown }).toJSON() as Record<string, unknown>)
      : (raw as Record<string, unknown>);
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String).join(', ') : String(value);
  }
  return out;
}

/** Strips trailing slashes. */
export function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Milliseconds since a performance.now() reading. */
export function elapsedSince(startMs: number): number {
  return Math.max(0, Math.round(performance.now() - startMs));
}
