// Where the SendGrid v3 API lives. Global users and subusers use api.sendgrid.com; EU regional
// subusers must use api.eu.sendgrid.com (their keys are refused by the global host and vice versa).
import type { Region } from '../types.ts';
import { trimSlashes } from '../http-api/calls.ts';

export const SENDGRID_REGION_URLS: Readonly<Record<Region, string>> = Object.freeze({
  US: 'https://api.sendgrid.com',
  EU: 'https://api.eu.sendgrid.com',
});

/**
 * The base URL (scheme and host, no `/v3`) for an account: `baseUrl` when set, else the
 * region's URL from `regionUrls` (the public ones unless replaced).
 */
export function sendGridBaseUrl(
  account: { region: Region; baseUrl?: string },
  regionUrls: Partial<Record<Region, string>> = {},
): string {
  const raw = account.baseUrl?.trim() || regionUrls[account.region] || SENDGRID_REGION_URLS[account.region];
  if (!raw) throw new Error(`unknown SendGrid region ${JSON.stringify(account.region)}`);
  // Accept a base URL given with the version path, as SendGrid's docs often show it.
  return trimSlashes(trimSlashes(raw).replace(/\/v3$/, ''));
}

/** The sentence that tells a person which region setting fits a refused key. */
export function sendGridRegionHint(region: Region): string {
  return region === 'EU'
    ? 'region is EU (https://api.eu.sendgrid.com), which only accepts keys of EU regional subusers: if this key belongs to a global account or subuser, set region: US.'
    : 'region is US (https://api.sendgrid.com): if this key belongs to an EU regional subuser, set region: EU, because EU subuser keys only work at https://api.eu.sendgrid.com.';
}
