// The Microsoft Graph checks: the app gets a token for Graph, and the token
// carries the Mail.Send application role (the `roles` claim), which is what
// sendMail needs. Sender verification reads the mailbox when the app may read
// users; otherwise it says why it cannot know without sending.
import { DEFAULT_STEP_TIMEOUT_MS, elapsedSince } from '../http-api/calls.ts';
import { describeNetworkFailure } from '../http-api/failures.ts';
import { ProviderReason } from '../http-api/reasons.ts';
import { jwtClaims } from '../oauth2/jwt.ts';
import { accessToken } from '../oauth2/token.ts';
import { grantSecrets, TokenError, TokenReason } from '../oauth2/types.ts';
import { redact } from '../redact.ts';
import type { CheckOptions, CheckResult, GraphAccount, ProviderFacts } from '../types.ts';
import { callGraph, graphCode, graphError } from './api.ts';
import { graphBaseUrl, graphGrant } from './transport.ts';

export const MAIL_SEND_ROLE = 'Mail.Send';
/** Application roles that let the app read a user (and so check a mailbox exists). */
const READ_USER_ROLES = ['User.Read.All', 'User.ReadBasic.All', 'Directory.Read.All', 'Directory.ReadWrite.All', 'User.ReadWrite.All'];

export interface GraphCheckOptions extends CheckOptions {
  describeKey?: string;
}

type Token = { roles: string[]; token: string; facts: (extra?: Partial<ProviderFacts>) => ProviderFacts };

async function graphToken(account: GraphAccount, opts: GraphCheckOptions): Promise<Token | CheckResult<ProviderFacts>> {
  const started = performance.now();
  const checkedAt = new Date().toISOString();
  const endpoint = graphBaseUrl(account);
  const facts = (extra: Partial<ProviderFacts> = {}): ProviderFacts => ({ checkedAt, latencyMs: elapsedSince(started), endpoint, ...extra });
  try {
    const t = await accessToken(graphGrant(account), { timeoutMs: opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS, ...(opts.signal ? { signal: opts.signal } : {}) });
    const claims = jwtClaims(t.token) ?? {};
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
    return { roles, token: t.token, facts };
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    const where = opts.describeKey ? ` (app credentials in ${opts.describeKey})` : '';
    return { ok: false, reason: err.reason === TokenReason.InvalidGrant ? TokenReason.InvalidGrant : TokenReason.TokenRequestFailed, message: `${err.message}${where}`, transient: err.transient, facts: facts() };
  }
}

export async function checkGraph(account: GraphAccount, opts: GraphCheckOptions = {}): Promise<CheckResult<ProviderFacts>> {
  const t = await graphToken(account, opts);
  if ('ok' in t) return t;
  const app = `app ${account.app.clientId} in tenant ${account.app.tenantId}`;
  if (!t.roles.includes(MAIL_SEND_ROLE)) {
    return {
      ok: false,
      reason: ProviderReason.MissingPermission,
      message:
        `Microsoft Graph gave ${app} a token without the ${MAIL_SEND_ROLE} application role (roles: ${t.roles.join(', ') || 'none'}): ` +
        'in the Entra admin center, API permissions > Add > Microsoft Graph > Application permissions > Mail.Send, then grant admin consent.',
      transient: false,
      facts: t.facts({ scopes: t.roles }),
    };
  }
  return {
    ok: true,
    reason: ProviderReason.Connected,
    message: `Microsoft Graph at ${graphBaseUrl(account)} gave ${app} a token with the ${MAIL_SEND_ROLE} application role.`,
    transient: false,
    facts: t.facts({ account: app, scopes: t.roles }),
  };
}

/** Whether the sender is a mailbox of the tenant the app may see; Unknown where the app may not read users. */
export async function verifyGraphSender(account: GraphAccount, address: string, opts: GraphCheckOptions = {}): Promise<CheckResult<ProviderFacts>> {
  const t = await graphToken(account, opts);
  if ('ok' in t) return t;
  if (!t.roles.some((r) => READ_USER_ROLES.includes(r))) {
    return {
      ok: false,
      unknown: true,
      reason: 'MailboxNotReadable',
      message:
        `Not known without sending: the app may not read users (no User.Read.All application role), so whether ${address} is a ` +
        'mailbox it may send as shows only at the first send. Grant User.Read.All to let postmaster check it.',
      transient: false,
      facts: t.facts({ scopes: t.roles }),
    };
  }
  const endpoint = graphBaseUrl(account);
  const path = `/v1.0/users/${encodeURIComponent(address)}?$select=id,mail,userPrincipalName`;
  const outcome = await callGraph(endpoint, t.token, { method: 'GET', path }, { timeoutMs: opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS, ...(opts.signal ? { signal: opts.signal } : {}) });
  const secrets = grantSecrets(graphGrant(account));
  const scrub = (s: string) => secrets.reduce((x, secret) => redact(x, secret), s);
  if (outcome.kind !== 'response') {
    return { ok: false, reason: ProviderReason.APIUnreachable, message: scrub(`Could not reach Microsoft Graph at ${endpoint}: ${describeNetworkFailure(outcome)}. Will retry.`), transient: true };
  }
  const said = graphError(outcome.body);
  if (outcome.status === 200) {
    return { ok: true, reason: ProviderReason.SenderVerified, message: `${address} is a user of the tenant, and the app may send mail.`, transient: false, facts: t.facts({ account: address }) };
  }
  if (outcome.status === 404 || graphCode(outcome.body) === 'Request_ResourceNotFound') {
    return {
      ok: false,
      reason: ProviderReason.SenderNotVerified,
      message: `${address} is no user or mailbox of the tenant (GET /v1.0/users answered 404${said ? `: "${scrub(said)}"` : ''}); use a mailbox of the tenant.`,
      transient: false,
    };
  }
  const transient = outcome.status === 429 || outcome.status >= 500;
  return {
    ok: false,
    unknown: !transient,
    reason: transient ? ProviderReason.ProviderUnavailable : 'MailboxNotReadable',
    message: `Microsoft Graph answered HTTP ${outcome.status} reading ${address}${said ? ` ("${scrub(said)}")` : ''}; ${transient ? 'will retry' : 'not known without sending'}.`,
    transient,
  };
}
