// The SMTP connection check: connect, secure, greet, log in, quit (see session.ts
// for the dialogue it shares with sender verification).
import type { CheckOptions, CheckResult, SmtpEndpoint, SmtpFacts } from '../types.ts';
import { SmtpReason } from './reasons.ts';
import type { SmtpSession } from './session.ts';
import { withSmtpSession } from './with-session.ts';

export { SmtpReason } from './reasons.ts';

/**
 * Tests an SMTP endpoint the way a sender would use it: connect, secure, greet,
 * log in, quit. Never throws; the result says what failed and whether retrying helps.
 */
export async function checkSmtp(endpoint: SmtpEndpoint, opts: CheckOptions = {}): Promise<CheckResult<SmtpFacts>> {
  const checkedAt = new Date().toISOString();
  const started = performance.now();
  const factsOf = (session: SmtpSession): SmtpFacts => ({
    checkedAt,
    latencyMs: Math.round(performance.now() - started),
    ...session.facts,
  });
  return withSmtpSession(
    endpoint,
    opts,
    async (session) => {
      const facts = factsOf(session);
      await session.quit();
      return { ok: true, reason: SmtpReason.Connected, message: connectedMessage(session, facts), transient: false, facts };
    },
    factsOf,
  );
}

function connectedMessage(session: SmtpSession, facts: SmtpFacts): string {
  const { security, tls: tlsOpts } = session.endpoint;
  const how =
    security === 'None'
      ? 'in plain text (security None)'
      : `with ${security === 'TLS' ? 'implicit TLS' : 'STARTTLS'} (${facts.tlsVersion ?? 'TLS'})`;
  const login = session.authMechanism ? ` and logged in with ${session.authMechanism}` : '';
  const unverified = security !== 'None' && tlsOpts?.insecureSkipVerify ? '; the certificate was NOT verified (tls.insecureSkipVerify)' : '';
  const upgrade = security === 'None' && facts.extensions?.includes('STARTTLS') ? '; the server offers STARTTLS: consider security STARTTLS' : '';
  return `Connected to ${session.target} ${how}${login} in ${facts.latencyMs} ms${unverified}${upgrade}.`;
}
