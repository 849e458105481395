// SMTP replies of the send endpoint: every refusal is an EndpointError (the same
// catalogue as the HTTP door, errors.ts) or, for what only SMTP has (RCPT limits),
// a reply made here; both become the error object smtp-server answers with.
//
// smtp-server's ENHANCEDSTATUSCODES stays off: it would stamp one fixed code per
// reply number (550 is always 5.1.1 there). The precise one goes into the text.
import { internalError, isEndpointError } from './errors.ts';

/** What smtp-server needs from a handler error to answer with our code. */
export interface SmtpReply extends Error {
  responseCode: number;
}

export function reply(code: number, enhanced: string, text: string): SmtpReply {
  return Object.assign(new Error(`${enhanced} ${oneLine(text)}`), { name: 'SmtpReply', responseCode: code });
}

const isSmtpReply = (err: unknown): err is SmtpReply => err instanceof Error && err.name === 'SmtpReply';

/**
 * The reply for a failure. Anything that is neither an EndpointError nor a reply
 * of ours is a bug or a surprise: answered as an internal error (451, the client
 * keeps the message), without its text, which nobody vetted for secrets.
 */
export function replyFor(err: unknown): { reply: SmtpReply; unexpected: boolean } {
  if (isSmtpReply(err)) return { reply: err, unexpected: false };
  const unexpected = !isEndpointError(err);
  const e = isEndpointError(err) ? err : internalError(err);
  const code = e.smtpCode >= 400 && e.smtpCode <= 599 ? e.smtpCode : 451;
  const enhanced = e.smtpEnhanced ?? (code < 500 ? '4.0.0' : '5.0.0');
  const wait = code < 500 && e.retryAfterSeconds !== undefined && !/\bretry\b/i.test(e.message) ? ` Retry after ${e.retryAfterSeconds}s.` : '';
  return { reply: reply(code, enhanced, `${e.message}${wait}`), unexpected };
}

/** A reply line carries one line of at most a few hundred characters. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return flat.length > 400 ? `${flat.slice(0, 397)}...` : flat;
}
