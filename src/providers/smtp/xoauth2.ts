// AUTH XOAUTH2 (Google's and Microsoft's SASL profile of an OAuth2 bearer token):
// get the token, send it, and on a refusal of a cached token fetch a new one once.
// Gmail answers a bad token with 334 and a base64 JSON status, then 535 once the
// client sends an empty line; Exchange Online answers 535 5.7.3 at once, and
// 535 5.7.139 when SMTP AUTH is off for the tenant or the mailbox.
import { accessToken } from '../oauth2/token.ts';
import { TokenError, TokenReason } from '../oauth2/types.ts';
import type { OAuth2Login, SmtpFacts } from '../types.ts';
import { replyText, SmtpFailure, SmtpReason, type SmtpReply } from './reasons.ts';

/** What the login needs of the session (auth.ts's Dialogue, without importing it). */
interface Dialogue {
  readonly target: string;
  readonly facts: Partial<SmtpFacts>;
  command(line: string, label?: string): Promise<SmtpReply>;
}

export const DISABLED_HINT =
  'turn SMTP AUTH on for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) or for the tenant ' +
  '(Set-TransportConfig -SmtpClientAuthenticationDisabled $false), or use the MicrosoftGraph provider instead.';

/** Exchange Online's way of saying SMTP AUTH is off (tenant or mailbox). */
export function authDisabled(text: string): boolean {
  return /5\.7\.139|SmtpClientAuthentication is disabled/i.test(text);
}

/** The XOAUTH2 initial client response: user=...^Aauth=Bearer ...^A^A, base64. */
export function xoauth2Response(user: string, token: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`, 'utf8').toString('base64');
}

async function token(login: OAuth2Login, renew: boolean) {
  try {
    return await accessToken(login.oauth2, { renew });
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    const reason = err.reason === TokenReason.InvalidGrant ? SmtpReason.InvalidGrant : SmtpReason.TokenRequestFailed;
    throw new SmtpFailure(reason, err.message, err.transient);
  }
}

async function attempt(session: Dialogue, user: string, accessTokenValue: string): Promise<{ reply: SmtpReply; detail?: string }> {
  let reply = await session.command(`AUTH XOAUTH2 ${xoauth2Response(user, accessTokenValue)}`, 'AUTH XOAUTH2');
  let detail: string | undefined;
  if (reply.code === 334) {
    // Gmail's error challenge: {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}; answer with an empty line.
    detail = Buffer.from(reply.lines.join(''), 'base64').toString('utf8').replace(/[^\x20-\x7e]/g, '').slice(0, 300);
    reply = await session.command('', 'AUTH XOAUTH2 (error acknowledgement)');
  }
  return detail ? { reply, detail } : { reply };
}

export async function authenticateXOAuth2(session: Dialogue, login: OAuth2Login): Promise<string> {
  const offered = session.facts.authMechanisms ?? [];
  if (!offered.includes('XOAUTH2')) {
    throw new SmtpFailure(
      SmtpReason.AuthenticationMechanismUnsupported,
      `${session.target} offers AUTH ${offered.join(' ') || '(no mechanisms)'} but not XOAUTH2, which OAuth2 credentials need.`,
      false,
    );
  }
  let t = await token(login, false);
  let { reply, detail } = await attempt(session, login.user, t.token);
  if (reply.code >= 500 && !t.fresh && !authDisabled(replyText(reply))) {
    // A cached token the server no longer takes (revoked, or expired early): one fresh try.
    t = await token(login, true);
    ({ reply, detail } = await attempt(session, login.user, t.token));
  }
  if (reply.code === 235) return 'XOAUTH2';
  const text = replyText(reply);
  if (reply.code >= 400 && reply.code < 500) {
    throw new SmtpFailure(SmtpReason.AuthenticationFailed, `${session.target} could not check the token right now ("${text}").`, true);
  }
  if (authDisabled(text)) {
    throw new SmtpFailure(SmtpReason.SmtpAuthDisabled, `${session.target} says SMTP AUTH is disabled for ${login.user} ("${text}"): ${DISABLED_HINT}`, false);
  }
  const why = detail ? ` (${detail})` : '';
  throw new SmtpFailure(
    SmtpReason.XOAUTH2Rejected,
    `${session.target} refused the OAuth2 token for ${login.user} with "${text}"${why}: check that the app may send as this mailbox ` +
      '(Exchange: SMTP.SendAsApp and Add-MailboxPermission for its service principal; Google: domain-wide delegation of https://mail.google.com/).',
    false,
  );
}
