// SparkPost sender verification: SparkPost sends only From addresses in a sending domain of
// the account whose ownership is verified (DKIM, CNAME or mailbox) and that compliance has not
// blocked. GET /api/v1/sending-domains/{domain} tells all three.
import type { ApiAccount, CheckResult } from '../types.ts';
import { emptyKeyResult } from '../http-api/failures.ts';
import { ProviderReason, type ProviderCheckOptions } from '../http-api/reasons.ts';
import { startSenderCheck, type SenderFacts } from '../http-api/sender-check.ts';
import { sparkPostSession } from './check.ts';

interface DomainStatus {
  ownership_verified?: unknown;
  dkim_status?: unknown;
  cname_status?: unknown;
  mx_status?: unknown;
  compliance_status?: unknown;
}

function statusOf(body: unknown): DomainStatus | undefined {
  const results = (body as { results?: unknown } | null | undefined)?.results;
  if (!results || typeof results !== 'object') return undefined;
  const status = (results as { status?: unknown }).status;
  return status && typeof status === 'object' ? (status as DomainStatus) : undefined;
}

export async function verifySparkPostSender(
  account: ApiAccount,
  address: string,
  opts: ProviderCheckOptions = {},
): Promise<CheckResult<SenderFacts>> {
  const started = performance.now();
  const checkedAt = new Date().toISOString();
  if (!account.apiKey?.trim()) return emptyKeyResult('SparkPost', opts.describeKey);
  const s = sparkPostSession(account, opts);
  const opening = startSenderCheck(s.endpoint, address, started, checkedAt);
  if (opening.refused) return opening.refused;
  const { normalized, domain, facts } = opening;

  const what = `GET /api/v1/sending-domains/${domain}`;
  const r = await s.call((sdk) => sdk.sendingDomains.get(encodeURIComponent(domain)));
  if (r.kind === 'response' && r.status === 404) {
    return {
      ok: false,
      reason: ProviderReason.SendingDomainNotFound,
      message:
        `SparkPost will not send as ${normalized}: ${domain} is not a sending domain of this account (${what} answered 404). ` +
        `Add ${domain} under Configuration > Sending Domains and verify it (DKIM or CNAME record).`,
      transient: false,
      facts: facts({ domain }),
    };
  }
  if (r.kind === 'response' && r.status === 403) {
    return s.forbidden(r, what, 'Sending Domains', `the check needs to confirm that ${domain} is verified`, facts({ domain }));
  }
  if (r.kind !== 'response' || r.status >= 300) return s.failure(r, what, facts({ domain }));
  const status = statusOf(r.body);
  if (!status) {
    return {
      ok: false,
      reason: ProviderReason.UnexpectedResponse,
      message: `${what} at ${s.endpoint} answered without a status object; check baseUrl (or any proxy in between).`,
      transient: false,
      facts: facts({ domain }),
    };
  }
  if (status.compliance_status === 'blocked') {
    return {
      ok: false,
      reason: ProviderReason.SendingDomainBlocked,
      message: `SparkPost will not send as ${normalized}: the sending domain ${domain} is blocked by SparkPost compliance; contact SparkPost support.`,
      transient: false,
      facts: facts({ domain }),
    };
  }
  if (status.ownership_verified !== true) {
    const states = (['dkim_status', 'cname_status', 'mx_status'] as const)
      .filter((k) => typeof status[k] === 'string')
      .map((k) => `${k.replace('_status', '').toUpperCase()} ${String(status[k])}`);
    return {
      ok: false,
      reason: ProviderReason.SendingDomainNotVerified,
      message:
        `SparkPost will not send as ${normalized}: the ownership of the sending domain ${domain} is not verified` +
        `${states.length ? ` (${states.join(', ')})` : ''}. Publish the DKIM (or CNAME) record SparkPost shows under ` +
        'Configuration > Sending Domains, then verify the domain there.',
      transient: false,
      facts: facts({ domain }),
    };
  }
  return {
    ok: true,
    reason: ProviderReason.SenderVerified,
    message: `SparkPost may send as ${normalized}: ${domain} is a sending domain with verified ownership.`,
    transient: false,
    facts: facts({ via: 'SendingDomain', domain }),
  };
}
