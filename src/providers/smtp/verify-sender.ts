// Sender verification over SMTP: the connection check's dialogue, then MAIL FROM
// to ask whether the server takes this address as sender, then RSET and QUIT
// (verify-batch.ts offers many addresses over one session the same way).
// No RCPT and no DATA are ever sent, so nothing can be delivered.
import type { CheckOptions, CheckResult, SmtpEndpoint } from '../types.ts';
import { replyText, SmtpReason } from './reasons.ts';
import type { SmtpSession } from './session.ts';
import { withSmtpSession } from './with-session.ts';

/** Anything that could end or extend the MAIL FROM line (CR, LF, <, >, spaces) is refused before connecting. */
const MAILBOX = /^[^\s<>@]+@[^\s<>@]+$/u;

/** The result for an address no MAIL FROM line may carry; undefined when it may be offered. */
export function invalidSender(address: string): CheckResult | undefined {
  if (MAILBOX.test(address)) return undefined;
  return {
    ok: false,
    reason: SmtpReason.InvalidAddress,
    message: `${JSON.stringify(address)} is not an address that can be offered as sender: use local-part@domain.`,
    transient: false,
  };
}

/** Asks the open session whether it takes `address` as sender: MAIL FROM, then RSET. */
export async function offerSender(session: SmtpSession, address: string): Promise<{ result: CheckResult; reset: boolean }> {
  // A non-ASCII address needs SMTPUTF8 (RFC 6531) where the server offers it.
  const utf8 = /[^\p{ASCII}]/u.test(address) && session.facts.extensions?.includes('SMTPUTF8') ? ' SMTPUTF8' : '';
  const reply = await session.command(`MAIL FROM:<${address}>${utf8}`, 'MAIL FROM');
  const text = replyText(reply);
  let result: CheckResult;
  if (reply.code >= 200 && reply.code < 300) {
    result = { ok: true, reason: SmtpReason.SenderAccepted, message: `${session.target} accepts ${address} as sender ("${text}").`, transient: false };
  } else if (reply.code >= 500) {
    const hint =
      reply.code === 530 && !session.authMechanism
        ? 'The server wants a login first: configure credentials.'
        : 'Use an address the account may send as, or allow it on the server.';
    result = { ok: false, reason: SmtpReason.SenderRejected, message: `${session.target} refuses ${address} as sender: "${text}". ${hint}`, transient: false };
  } else if (reply.code >= 400) {
    result = { ok: false, reason: SmtpReason.SenderDeferred, message: `${session.target} cannot take ${address} as sender right now: "${text}".`, transient: true };
  } else {
    result = { ok: false, reason: SmtpReason.ProtocolError, message: `${session.target} answered MAIL FROM with "${text}".`, transient: false };
  }
  // Leave no open transaction: the next address (or QUIT) starts clean.
  const rset = await session.command('RSET').catch(() => undefined);
  return { result, reset: rset?.code === 250 && reply.code !== 421 };
}

export async function verifySmtpSender(endpoint: SmtpEndpoint, address: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const invalid = invalidSender(address);
  if (invalid) return invalid;
  return withSmtpSession<undefined>(endpoint, opts, async (session) => {
    const { result } = await offerSender(session, address);
    await session.quit();
    return result;
  });
}
