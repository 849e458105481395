// SparkPost key check: is the key known and may it read the account (GET /api/v1/account),
// and does the IP pool exist (GET /api/v1/ip-pools/{id}). SparkPost has no endpoint that lists
// a key's own grants, so permission to send cannot be proven without sending.
import type { ApiAccount, CheckResult, ProviderFacts } from '../types.ts';
import { DEFAULT_STEP_TIMEOUT_MS, elapsedSince, oneShotAgents, type CallOutcome } from '../http-api/calls.ts';
import { emptyKeyResult, failureResult, keyPhrase, quoteErrors, type FailureContext } from '../http-api/failures.ts';
import { ProviderReason, type ProviderCheckOptions } from '../http-api/reasons.ts';
import { callSparkPost, sparkPostSdk, type SparkPostSdk } from './api.ts';
import { sparkPostBaseUrl, sparkPostRegionHint } from './urls.ts';

/** Internal: the pieces every SparkPost call of a check needs. */
export interface SparkPostSession {
  endpoint: string;
  call(fn: (sdk: SparkPostSdk) => Promise<unknown>): Promise<CallOutcome>;
  failure<F>(outcome: CallOutcome, what: string, facts?: F): CheckResult<F>;
  /** MissingPermission naming the area the key needs read access to. */
  forbidden<F>(outcome: CallOutcome, what: string, area: string, purpose: string, facts: F): CheckResult<F>;
}

export function sparkPostSession(account: ApiAccount, opts: ProviderCheckOptions = {}): SparkPostSession {
  const endpoint = sparkPostBaseUrl(account, opts.regionBaseUrls);
  const timeoutMs = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const sdk = sparkPostSdk(endpoint, account.apiKey, oneShotAgents);
  const settings = { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) };
  const ctx = (what: string): FailureContext => ({
    provider: 'SparkPost',
    endpoint,
    call: what,
    apiKey: account.apiKey,
    regionHint: sparkPostRegionHint(account.region),
    ...(opts.describeKey ? { describeKey: opts.describeKey } : {}),
  });
  return {
    endpoint,
    call: (fn) => callSparkPost(sdk, account.apiKey, fn, settings),
    failure: (outcome, what, facts) => failureResult(outcome, ctx(what), facts),
    forbidden: (outcome, what, area, purpose, facts) => ({
      ok: false,
      reason: ProviderReason.MissingPermission,
      message:
        `SparkPost accepted ${keyPhrase(opts.describeKey)} but refused ${what} with HTTP 403` +
        `${quoteErrors(outcome.kind === 'response' ? outcome.body : undefined, account.apiKey)}: ` +
        `in SparkPost (Configuration > API Keys) give the key read access to ${area}, which ${purpose}.`,
      transient: false,
      facts,
    }),
  };
}

function results(body: unknown): Record<string, unknown> | undefined {
  const r = (body as { results?: unknown } | null | undefined)?.results;
  return r && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : undefined;
}

function accountName(account: Record<string, unknown>): string | undefined {
  const company = typeof account.company_name === 'string' && account.company_name.trim() ? account.company_name.trim() : undefined;
  const id =
    typeof account.customer_id === 'number' || typeof account.customer_id === 'string' ? String(account.customer_id) : undefined;
  if (company && id) return `${company} (customer ${id})`;
  return company ?? (id ? `customer ${id}` : undefined);
}

export async function checkSparkPost(account: ApiAccount, opts: ProviderCheckOptions = {}): Promise<CheckResult<ProviderFacts>> {
  const started = performance.now();
  const checkedAt = new Date().toISOString();
  if (!account.apiKey?.trim()) return emptyKeyResult('SparkPost', opts.describeKey);
  const s = sparkPostSession(account, opts);
  const known: { name?: string } = {};
  const facts = (extra: Partial<ProviderFacts> = {}): ProviderFacts => ({
    checkedAt,
    latencyMs: elapsedSince(started),
    endpoint: s.endpoint,
    ...(known.name ? { account: known.name } : {}),
    ...extra,
  });

  const what = 'GET /api/v1/account';
  const acc = await s.call((sdk) => sdk.get({ uri: 'account' }));
  if (acc.kind === 'response' && acc.status === 403) {
    return s.forbidden(acc, what, 'Account', 'the connection test uses to prove the key works', facts());
  }
  if (acc.kind !== 'response' || acc.status >= 300) return s.failure(acc, what, facts());
  const accountObject = results(acc.body);
  if (!accountObject) {
    return {
      ok: false,
      reason: ProviderReason.UnexpectedResponse,
      message: `${what} at ${s.endpoint} answered without account results; check baseUrl (or any proxy in between).`,
      transient: false,
      facts: facts(),
    };
  }
  known.name = accountName(accountObject);

  const pool = account.ipPool?.trim();
  if (pool) {
    const poolCall = `GET /api/v1/ip-pools/${encodeURIComponent(pool)}`;
    const r = await s.call((sdk) => sdk.get({ uri: `ip-pools/${encodeURIComponent(pool)}` }));
    if (r.kind === 'response' && r.status === 404) {
      return {
        ok: false,
        reason: ProviderReason.IPPoolNotFound,
        message:
          `The IP pool "${pool}" does not exist in this SparkPost account (${poolCall} at ${s.endpoint} answered 404): ` +
          'create it under Configuration > IP Pools, or fix or remove ipPool in the spec (it is the pool ID, not its name).',
        transient: false,
        facts: facts(),
      };
    }
    if (r.kind === 'response' && r.status === 403) {
      return s.forbidden(r, poolCall, 'IP Pools', `the check needs to confirm that the IP pool "${pool}" exists`, facts());
    }
    if (r.kind !== 'response' || r.status >= 300) return s.failure(r, poolCall, facts());
  }

  return {
    ok: true,
    reason: ProviderReason.Connected,
    message:
      `SparkPost at ${s.endpoint} accepted ${keyPhrase(opts.describeKey)}${known.name ? ` (account ${known.name})` : ''}` +
      `${pool ? ` and the IP pool "${pool}" exists` : ''}.`,
    transient: false,
    facts: facts(pool ? { ipPool: pool } : {}),
  };
}
