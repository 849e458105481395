// Which of a message's headers go to a provider API as custom headers.
/** Headers the providers set themselves and refuse (or would duplicate) in custom headers. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'subject',
  'reply-to',
  'content-type',
  'content-transfer-encoding',
  'mime-version',
  'received',
  'dkim-signature',
  'x-sg-id',
  'x-sg-eid',
]);

/** The message's custom headers without the reserved ones; undefined when none is left. */
export function customHeaders(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!RESERVED_HEADERS.has(name.toLowerCase())) out[name] = value;
  }
  return Object.keys(out).length ? out : undefined;
}
