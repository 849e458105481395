// From an EmailServer's API block plus its resolved key to the account the
// SendGrid and SparkPost providers call.
import type { EmailServerSpec } from '../api/index.ts';
import type { ApiAccount, ApiProvider, Region } from '../providers/types.ts';
import { secretValueKey, type SecretKeyRef } from './secrets.ts';

/** How the routing layer is set up: provider base URLs that replace the public ones (proxies, tests). */
export interface RoutingOptions {
  apiBaseUrls: Partial<Record<ApiProvider, Partial<Record<Region, string>>>>;
}

/** The API block of an API provider, if that is the provider. */
export function apiBlock(spec: EmailServerSpec): { provider: ApiProvider; block: NonNullable<EmailServerSpec['sendgrid']> } | undefined {
  if (spec.provider === 'SendGrid' && spec.sendgrid) return { provider: 'SendGrid', block: spec.sendgrid };
  if (spec.provider === 'SparkPost' && spec.sparkpost) return { provider: 'SparkPost', block: spec.sparkpost };
  return undefined;
}

export function apiKeyRef(spec: EmailServerSpec): SecretKeyRef | undefined {
  const api = apiBlock(spec);
  if (!api) return undefined;
  const field = `spec.${api.provider.toLowerCase()}.apiKeySecretRef`;
  return { name: api.block.apiKeySecretRef.name, key: api.block.apiKeySecretRef.key ?? 'apiKey', field };
}

/** The API account of a server, when its key resolved. */
export function apiAccount(spec: EmailServerSpec, values: Map<string, string>, baseUrls: RoutingOptions['apiBaseUrls']): ApiAccount | undefined {
  const api = apiBlock(spec);
  const ref = apiKeyRef(spec);
  if (!api || !ref) return undefined;
  const apiKey = values.get(secretValueKey(ref));
  if (!apiKey) return undefined;
  const region = api.block.region ?? 'US';
  const account: ApiAccount = { apiKey, region };
  if (api.block.ipPool) account.ipPool = api.block.ipPool;
  const baseUrl = baseUrls[api.provider]?.[region];
  if (baseUrl) account.baseUrl = baseUrl;
  return account;
}

export const describeKey = (namespace: string, ref: SecretKeyRef) => `Secret "${namespace}/${ref.name}" key "${ref.key}"`;
