// SendGrid sender verification: SendGrid only sends From addresses of a verified Sender
// Identity, i.e. a verified single sender (GET /v3/verified_senders) or an address in a domain
// authenticated with valid DNS (GET /v3/whitelabel/domains). This asks both, domains first.
import type { ApiAccount, CheckResult } from '../types.ts';
import { type CallOutcome } from '../http-api/calls.ts';
import { emptyKeyResult, keyPhrase } from '../http-api/failures.ts';
import { ProviderReason, type ProviderCheckOptions } from '../http-api/reasons.ts';
import { startSenderCheck, type SenderFacts } from '../http-api/sender-check.ts';
import { sendGridSession, type SendGridSession } from './check.ts';

const PAGE = 100;
/** Enough for any real account (SendGrid caps authenticated domains at 3,000 per user). */
const MAX_PAGES = 40;

interface AuthenticatedDomain {
  domain: string;
  valid: boolean;
}

interface SingleSender {
  email: string;
  verified: boolean;
}

type Listing<T> = { ok: true; items: T[] } | { ok: false; outcome: CallOutcome; call: string };

async function listAuthenticatedDomains(s: SendGridSession): Promise<Listing<AuthenticatedDomain>> {
  const items: AuthenticatedDomain[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = { limit: PAGE, offset: page * PAGE };
    const r = await s.call({ method: 'GET', path: '/v3/whitelabel/domains', query });
    if (r.kind !== 'response' || r.status !== 200) return { ok: false, outcome: r, call: 'GET /v3/whitelabel/domains' };
    const rows = Array.isArray(r.body) ? (r.body as unknown[]) : [];
    for (const row of rows) {
      if (!row || typeof row !== 'object') continue;
      const { domain, valid } = row as { domain?: unknown; valid?: unknown };
      if (typeof domain === 'string') items.push({ domain: domain.toLowerCase().replace(/\.$/, ''), valid: valid === true });
    }
    if (rows.length < PAGE) break;
  }
  return { ok: true, items };
}

async function listSingleSenders(s: SendGridSession): Promise<Listing<SingleSender>> {
  const items: SingleSender[] = [];
  let lastSeenID: number | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: Record<string, number> = { limit: PAGE };
    if (lastSeenID !== undefined) query.lastSeenID = lastSeenID;
    const r = await s.call({ method: 'GET', path: '/v3/verified_senders', query });
    if (r.kind !== 'response' || r.status !== 200) return { ok: false, outcome: r, call: 'GET /v3/verified_senders' };
    const results = (r.body as { results?: unknown } | null)?.results;
    const rows = Array.isArray(results) ? (results as unknown[]) : [];
    let maxId: number | undefined;
    for (const row of rows) {
      if (!row || typeof row !== 'object') continue;
      const { from_email: email, verified, id } = row as { from_email?: unknown; verified?: unknown; id?: unknown };
      if (typeof email === 'string') items.push({ email: email.toLowerCase(), verified: verified === true });
      if (typeof id === 'number' && (maxId === undefined || id > maxId)) maxId = id;
    }
    if (rows.length < PAGE || maxId === undefined || maxId === lastSeenID) break;
    lastSeenID = maxId;
  }
  return { ok: true, items };
}

/** The domain and its parents, most specific first, never a bare top-level domain. */
function domainAndParents(domain: string): string[] {
  const labels = domain.split('.');
  const out: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) out.push(labels.slice(i).join('.'));
  return out;
}

export async function verifySendGridSender(
  account: ApiAccount,
  address: string,
  opts: ProviderCheckOptions = {},
): Promise<CheckResult<SenderFacts>> {
  const started = performance.now();
  const checkedAt = new Date().toISOString();
  if (!account.apiKey?.trim()) return emptyKeyResult('SendGrid', opts.describeKey);
  const s = sendGridSession(account, opts);
  const opening = startSenderCheck(s.endpoint, address, started, checkedAt);
  if (opening.refused) return opening.refused;
  const { normalized, domain, facts } = opening;

  // Authenticated domains (the way most production senders are allowed).
  const candidates = domainAndParents(domain);
  const domains = await listAuthenticatedDomains(s);
  let pendingDomain: string | undefined;
  if (domains.ok) {
    for (const candidate of candidates) {
      const matches = domains.items.filter((d) => d.domain === candidate);
      if (matches.some((d) => d.valid)) {
        return {
          ok: true,
          reason: ProviderReason.SenderVerified,
          message: `SendGrid may send as ${normalized}: the domain ${candidate} is authenticated and its DNS records are valid.`,
          transient: false,
          facts: facts({ via: 'AuthenticatedDomain', domain: candidate }),
        };
      }
      if (matches.length && !pendingDomain) pendingDomain = candidate;
    }
  } else if (!(domains.outcome.kind === 'response' && domains.outcome.status === 403)) {
    return s.failure(domains.outcome, domains.call, facts());
  }

  // Single sender verification.
  const senders = await listSingleSenders(s);
  let pendingSender = false;
  if (senders.ok) {
    const mine = senders.items.filter((x) => x.email === normalized);
    if (mine.some((x) => x.verified)) {
      return {
        ok: true,
        reason: ProviderReason.SenderVerified,
        message: `SendGrid may send as ${normalized}: it is a verified single sender.`,
        transient: false,
        facts: facts({ via: 'SingleSender' }),
      };
    }
    pendingSender = mine.length > 0;
  } else if (!(senders.outcome.kind === 'response' && senders.outcome.status === 403)) {
    return s.failure(senders.outcome, senders.call, facts());
  }

  if (!domains.ok && !senders.ok) {
    return {
      ok: false,
      reason: ProviderReason.MissingPermission,
      message:
        `SendGrid accepted ${keyPhrase(opts.describeKey)} but refused to list both authenticated domains and verified senders (HTTP 403), ` +
        `so ${normalized} cannot be checked: give the key read access to Sender Authentication (scope whitelabel.read for domains).`,
      transient: false,
      facts: facts(),
    };
  }
  const found: string[] = [];
  if (pendingDomain) found.push(`the domain ${pendingDomain} is added but its DNS records are not valid yet (finish Domain Authentication and press Verify)`);
  if (pendingSender) found.push(`${normalized} is a single sender whose verification email has not been confirmed`);
  const unchecked: string[] = [];
  if (!domains.ok) unchecked.push('authenticated domains (the key may not read them: scope whitelabel.read)');
  if (!senders.ok) unchecked.push('single senders (the key may not read them)');
  return {
    ok: false,
    reason: ProviderReason.SenderNotVerified,
    message:
      `SendGrid will not send as ${normalized}: ` +
      (found.length ? `${found.join('; ')}. ` : `neither ${normalized} nor its domain is verified in this account. `) +
      `In SendGrid, Settings > Sender Authentication, authenticate the domain ${domain} or verify ${normalized} as a single sender.` +
      (unchecked.length ? ` Not checked: ${unchecked.join(', ')}.` : ''),
    transient: false,
    facts: facts(),
  };
}
