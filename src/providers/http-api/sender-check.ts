// The opening both providers' sender verifications share, and the facts they record.
import { domainOf } from '../../mail/address.ts';
import type { CheckResult } from '../types.ts';
import { elapsedSince } from './calls.ts';
import { ProviderReason } from './reasons.ts';

/** Facts of a sender verification. */
export interface SenderFacts {
  checkedAt: string;
  latencyMs: number;
  endpoint: string;
  address: string;
  /** How the address is allowed: a single verified sender, an authenticated (SendGrid) or sending (SparkPost) domain. */
  via?: 'SingleSender' | 'AuthenticatedDomain' | 'SendingDomain';
  /** The domain that authorises the address, when via a domain. */
  domain?: string;
}


/** Where a sender verification stands once its address is read: refused outright, or ready to ask the provider. */
export type SenderCheckStart =
  | { refused: CheckResult<SenderFacts> }
  | { refused?: undefined; normalized: string; domain: string; facts: (extra?: Partial<SenderFacts>) => SenderFacts };

/**
 * The opening both providers' sender verifications share: the address
 * normalised, its domain found (or an InvalidSenderAddress result), and a
 * builder for the facts every later result carries.
 */
export function startSenderCheck(endpoint: string, address: string, started: number, checkedAt: string): SenderCheckStart {
  const normalized = address.trim().toLowerCase();
  const facts = (extra: Partial<SenderFacts> = {}): SenderFacts => ({
    checkedAt,
    latencyMs: elapsedSince(started),
    endpoint,
    address: normalized,
    ...extra,
  });
  const domain = domainOf(normalized);
  if (!domain) {
    return {
      refused: {
        ok: false,
        reason: ProviderReason.InvalidSenderAddress,
        message: `"${address}" is not an email address with a domain; set a sender address such as noreply@example.com.`,
        transient: false,
        facts: facts(),
      },
    };
  }
  return { normalized, domain, facts };
}
