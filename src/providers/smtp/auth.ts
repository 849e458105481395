// The AUTH step of the SMTP dialogue: which mechanism, and what a refusal means.
import type { Login, OAuth2Login, SmtpEndpoint, SmtpFacts } from '../types.ts';
import { replyText, SmtpFailure, SmtpReason, type SmtpReply } from './reasons.ts';
import { authDisabled, authenticateXOAuth2, DISABLED_HINT } from './xoauth2.ts';

/** What the login needs of the session it runs in. */
export interface Dialogue {
  readonly endpoint: SmtpEndpoint;
  readonly target: string;
  readonly facts: Partial<SmtpFacts>;
  command(line: string, label?: string): Promise<SmtpReply>;
}

/** Logs in with XOAUTH2 (OAuth2), else PLAIN or LOGIN, whichever the server offers; returns the mechanism used or throws SmtpFailure. */
export async function authenticate(session: Dialogue, credentials: Login | OAuth2Login, keywords: Set<string>): Promise<string> {
  if (!keywords.has('AUTH')) {
    const hint = session.endpoint.security === 'None' ? ' (many servers offer AUTH only over TLS: try security STARTTLS)' : '';
    throw new SmtpFailure(
      SmtpReason.AuthenticationNotOffered,
      `${session.target} offers no AUTH, but credentials are configured${hint}: remove the credentials if the relay takes mail without login.`,
      false,
    );
  }
  if ('oauth2' in credentials) return authenticateXOAuth2(session, credentials);
  const { username, password } = credentials;
  const offered = session.facts.authMechanisms ?? [];
  const mechanism = ['PLAIN', 'LOGIN'].find((m) => offered.includes(m));
  if (!mechanism) {
    throw new SmtpFailure(
      SmtpReason.AuthenticationMechanismUnsupported,
      `${session.target} offers AUTH ${offered.join(' ') || '(no mechanisms)'}, and postmaster logs in with PLAIN or LOGIN only.`,
      false,
    );
  }
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  let reply: SmtpReply;
  if (mechanism === 'PLAIN') {
    reply = await session.command(`AUTH PLAIN ${b64(`\0${username}\0${password}`)}`, 'AUTH PLAIN');
  } else {
    reply = await session.command('AUTH LOGIN');
    if (reply.code === 334) reply = await session.command(b64(username), 'AUTH LOGIN (username)');
    if (reply.code === 334) reply = await session.command(b64(password), 'AUTH LOGIN (password)');
  }
  if (reply.code === 235) return mechanism;
  const text = replyText(reply);
  if (reply.code >= 400 && reply.code < 500) {
    throw new SmtpFailure(SmtpReason.AuthenticationFailed, `${session.target} could not check the login right now ("${text}").`, true);
  }
  if (reply.code === 538 || (reply.code === 530 && session.endpoint.security === 'None')) {
    // RFC 4954: encryption required for this mechanism. Not the password's fault.
    throw new SmtpFailure(
      SmtpReason.AuthenticationFailed,
      `${session.target} takes a login only over TLS ("${text}"): use security STARTTLS (or TLS if the port expects implicit TLS).`,
      false,
    );
  }
  if (authDisabled(text)) {
    throw new SmtpFailure(SmtpReason.SmtpAuthDisabled, `${session.target} says SMTP AUTH is disabled ("${text}"): ${DISABLED_HINT}`, false);
  }
  throw new SmtpFailure(
    SmtpReason.AuthenticationFailed,
    `${session.target} refused the login with ${mechanism} ("${text}"): check the username and password in the credentials Secret.`,
    false,
  );
}
