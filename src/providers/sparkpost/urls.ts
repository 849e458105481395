// Where the SparkPost API lives. SparkPost and SparkPost EU are separate services: an account
// (and its keys) exists in one of them only. Enterprise accounts have their own origin (baseUrl).
import type { Region } from '../types.ts';
import { trimSlashes } from '../http-api/calls.ts';

/** API origins; the SDK appends `/api/v1/`. */
export const SPARKPOST_REGION_URLS: Readonly<Record<Region, string>> = Object.freeze({
  US: 'https://api.sparkpost.com',
  EU: 'https://api.eu.sparkpost.com',
});

/**
 * The API origin for an account (no `/api/v1`): `baseUrl` when set, else the region's
 * origin from `regionUrls` (the public ones unless replaced).
 */
export function sparkPostBaseUrl(
  account: { region: Region; baseUrl?: string },
  regionUrls: Partial<Record<Region, string>> = {},
): string {
  const raw = account.baseUrl?.trim() || regionUrls[account.region] || SPARKPOST_REGION_URLS[account.region];
  if (!raw) throw new Error(`unknown SparkPost region ${JSON.stringify(account.region)}`);
  // SparkPost documents its base URL with the path (https://api.sparkpost.com/api/v1): accept both.
  return trimSlashes(trimSlashes(raw).replace(/\/api\/v1$/, ''));
}

/** The sentence that tells a person which region setting fits a refused key. */
export function sparkPostRegionHint(region: Region): string {
  return region === 'EU'
    ? 'region is EU (https://api.eu.sparkpost.com): keys made in the US service (app.sparkpost.com) do not work there, set region: US for those.'
    : 'region is US (https://api.sparkpost.com): keys made in SparkPost EU (app.eu.sparkpost.com) only work with region: EU.';
}
