// Sender verification over SMTP: the connection check's dialogue, then MAIL FROM
// to ask whether the server takes this address as sender, then RSET and QUIT.
// No RCPT and no DATA are ever sent, so nothing can be delivered.
import type { CheckOptions, CheckResult, SmtpEndpoint } from '../types.ts';
import { replyText, SmtpReason } from './reasons.ts';
import { withSmtpSession } from './with-session.ts';

/** Anything that could end or extend the MAIL FROM line (CR, LF, <, >, spaces) is refused before connecting. */
const MAILBOX = /^[^\s<>@]+@[^\s<>@]+$/u;

export async function verifySmtpSender(endpoint: SmtpEndpoint, address: string, opts: CheckOptions = {}): Promise<CheckResult> {
  if (!MAILBOX.test(address)) {
    return {
      ok: false,
      reason: SmtpReason.InvalidAddress,
      message: `${JSON.stringify(address)} is not an address that can be offered as sender: use local-part@domain.`,
      transient: false,
    };
  }
  return withSmtpSession<undefined>(endpoint, opts, async (session) => {
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
    // Leave the server as we found it: no open transaction, then goodbye.
    await session.command('RSET').catch(() => undefined);
    await session.quit();
    return result;
  });
}
