// SendGrid key check: is the key known (GET /v3/scopes), may it send (mail.send), who is the
// account (username or company, when the key may read them), and does the IP pool exist.
import type { ApiAccount, CheckResult, ProviderFacts } from '../types.ts';
import { DEFAULT_STEP_TIMEOUT_MS, elapsedSince, type CallOutcome } from '../http-api/calls.ts';
import { emptyKeyResult, failureResult, keyPhrase, type FailureContext } from '../http-api/failures.ts';
import { ProviderReason, type ProviderCheckOptions } from '../http-api/reasons.ts';
import { callSendGrid, type SendGridCall } from './api.ts';
import { sendGridBaseUrl, sendGridRegionHint } from './urls.ts';

/** The scope a key needs to send mail. */
export const SEND_SCOPE = 'mail.send';
/** The scope a key needs for the IP pool check. */
export const IP_POOLS_READ_SCOPE = 'ips.pools.read';

/** Scopes worth reporting in facts (a full-access key has hundreds). */
export const RELEVANT_SCOPES = [
  SEND_SCOPE,
  IP_POOLS_READ_SCOPE,
  'whitelabel.read',
  'user.username.read',
  'user.profile.read',
  'user.email.read',
] as const;

/** Internal: the pieces every SendGrid call of a check needs. */
export interface SendGridSession {
  endpoint: string;
  call(c: SendGridCall): Promise<CallOutcome>;
  failure<F>(outcome: CallOutcome, what: string, facts?: F): CheckResult<F>;
}

export function sendGridSession(account: ApiAccount, opts: ProviderCheckOptions = {}): SendGridSession {
  const endpoint = sendGridBaseUrl(account, opts.regionBaseUrls);
  const timeoutMs = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const settings = { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) };
  return {
    endpoint,
    call: (c) => callSendGrid(endpoint, account.apiKey, c, settings),
    failure: (outcome, what, facts) => {
      const ctx: FailureContext = {
        provider: 'SendGrid',
        endpoint,
        call: what,
        apiKey: account.apiKey,
        regionHint: sendGridRegionHint(account.region),
        ...(opts.describeKey ? { describeKey: opts.describeKey } : {}),
      };
      return failureResult(outcome, ctx, facts);
    },
  };
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function field(body: unknown, name: string): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const v = (body as Record<string, unknown>)[name];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

export async function checkSendGrid(account: ApiAccount, opts: ProviderCheckOptions = {}): Promise<CheckResult<ProviderFacts>> {
  const started = performance.now();
  const checkedAt = new Date().toISOString();
  if (!account.apiKey?.trim()) return emptyKeyResult('SendGrid', opts.describeKey);
  const s = sendGridSession(account, opts);
  const facts = (extra: Partial<ProviderFacts> = {}): ProviderFacts => ({
    checkedAt,
    latencyMs: elapsedSince(started),
    endpoint: s.endpoint,
    ...extra,
  });
  const key = keyPhrase(opts.describeKey);

  // 1. Is the key known, and what may it do?
  const scopesCall = await s.call({ method: 'GET', path: '/v3/scopes' });
  if (scopesCall.kind !== 'response' || scopesCall.status !== 200) {
    return s.failure(scopesCall, 'GET /v3/scopes', facts());
  }
  const allScopes = (scopesCall.body as { scopes?: unknown } | null)?.scopes;
  if (!Array.isArray(allScopes)) {
    return {
      ok: false,
      reason: ProviderReason.UnexpectedResponse,
      message: `GET /v3/scopes at ${s.endpoint} answered 200 without a scopes list; check baseUrl (or any proxy in between).`,
      transient: false,
      facts: facts(),
    };
  }
  const scopes = new Set(stringsOf(allScopes));
  const relevant = RELEVANT_SCOPES.filter((sc) => scopes.has(sc));
  if (!scopes.has(SEND_SCOPE)) {
    return {
      ok: false,
      reason: ProviderReason.MissingSendScope,
      message:
        `SendGrid accepted ${key} but it may not send mail: it lacks the "${SEND_SCOPE}" scope. ` +
        'In SendGrid, Settings > API Keys, give the key "Mail Send" access (or create a restricted key with it) and update the Secret.',
      transient: false,
      facts: facts({ scopes: relevant }),
    };
  }

  // 2. Who is it? Best effort: only with a scope that allows it, and failures do not fail the check.
  let accountName: string | undefined;
  if (scopes.has('user.username.read')) {
    const r = await s.call({ method: 'GET', path: '/v3/user/username' });
    if (r.kind === 'response' && r.status === 200) accountName = field(r.body, 'username');
  } else if (scopes.has('user.profile.read')) {
    const r = await s.call({ method: 'GET', path: '/v3/user/profile' });
    if (r.kind === 'response' && r.status === 200) accountName = field(r.body, 'company');
  }
  const known = (extra: Partial<ProviderFacts> = {}) =>
    facts({ scopes: relevant, ...(accountName ? { account: accountName } : {}), ...extra });

  // 3. The IP pool named in the spec.
  const pool = account.ipPool?.trim();
  if (pool) {
    if (!scopes.has(IP_POOLS_READ_SCOPE)) {
      return {
        ok: false,
        reason: ProviderReason.MissingPermission,
        message:
          `SendGrid accepted ${key}, but it may not read IP pools, so the IP pool "${pool}" cannot be checked: ` +
          `give the key the "${IP_POOLS_READ_SCOPE}" scope (IP Management: read access), or remove ipPool from the spec.`,
        transient: false,
        facts: known(),
      };
    }
    const poolPath = `/v3/ips/pools/${encodeURIComponent(pool)}`;
    const r = await s.call({ method: 'GET', path: poolPath });
    if (r.kind === 'response' && r.status === 404) {
      return {
        ok: false,
        reason: ProviderReason.IPPoolNotFound,
        message:
          `The IP pool "${pool}" does not exist in this SendGrid account (GET ${poolPath} at ${s.endpoint} answered 404): ` +
          'create it under Settings > IP Addresses > IP Pools, or fix or remove ipPool in the spec.',
        transient: false,
        facts: known(),
      };
    }
    if (r.kind !== 'response' || r.status !== 200) return s.failure(r, `GET ${poolPath}`, known());
  }

  return {
    ok: true,
    reason: ProviderReason.Connected,
    message:
      `SendGrid at ${s.endpoint} accepted ${key}${accountName ? ` (account ${accountName})` : ''}; ` +
      `it may send mail${pool ? ` and the IP pool "${pool}" exists` : ''}.`,
    transient: false,
    facts: known(pool ? { ipPool: pool } : {}),
  };
}
