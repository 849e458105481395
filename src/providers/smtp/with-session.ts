// A check's way into a session: open, work, always close, and never a password in the result.
import type { CheckOptions, CheckResult, SmtpEndpoint } from '../types.ts';
import { errorCode, sentence } from './naming.ts';
import { SmtpFailure, SmtpReason } from './reasons.ts';
import { SmtpSession } from './session.ts';
import { grantSecrets } from '../oauth2/types.ts';

/**
 * Opens a session, hands it to `work`, and turns any SmtpFailure into a failed
 * CheckResult. The session is closed before this resolves, success or failure.
 */
export async function withSmtpSession<F>(
  endpoint: SmtpEndpoint,
  opts: CheckOptions,
  work: (session: SmtpSession) => Promise<CheckResult<F>>,
  failureFacts?: (session: SmtpSession) => F,
): Promise<CheckResult<F>> {
  const session = new SmtpSession(endpoint, opts);
  let result: CheckResult<F>;
  try {
    await session.open();
    result = await work(session);
  } catch (err) {
    result = failureResult<F>(err, session.target);
    if (failureFacts) result.facts = failureFacts(session);
  } finally {
    await session.close();
  }
  return redactResult(result, endpoint);
}

/** A failed step (SmtpFailure, or anything else thrown) as a failed CheckResult. */
export function failureResult<F>(err: unknown, target: string): CheckResult<F> {
  if (!(err instanceof SmtpFailure)) {
    return { ok: false, reason: SmtpReason.ProtocolError, message: `The check of ${target} failed unexpectedly (${errorCode(err)}).`, transient: true };
  }
  return { ok: false, reason: err.reason, message: sentence(err.message), transient: err.transient };
}

/** Last line of defence: the password (plain, or base64 as AUTH sends it) never survives in a result. */
export function redactResult<F>(result: CheckResult<F>, endpoint: SmtpEndpoint): CheckResult<F> {
  const forms = passwordForms(endpoint);
  if (forms.length === 0) return result;
  const scrub = (text: string) => forms.reduce((t, f) => t.split(f).join('[redacted]'), text);
  const facts = result.facts === undefined ? undefined : (JSON.parse(scrub(JSON.stringify(result.facts))) as F);
  return { ...result, message: scrub(result.message), ...(facts === undefined ? {} : { facts }) };
}

/**
 * The password as it could show up in text: as is, base64 (AUTH LOGIN) and inside
 * the AUTH PLAIN token. Too short a password would redact ordinary words instead.
 */
export function passwordForms(endpoint: SmtpEndpoint): string[] {
  const auth = endpoint.auth;
  if (auth && 'oauth2' in auth) return grantSecrets(auth.oauth2);
  if (!auth || auth.password.length < 4) return [];
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return [auth.password, b64(auth.password), b64(`\0${auth.username}\0${auth.password}`)];
}
