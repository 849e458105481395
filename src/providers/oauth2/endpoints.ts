// Where the identity providers and Microsoft Graph are: the public URLs, or
// the ones the operator was told to use instead (--microsoft-login-url,
// --google-token-url, --graph-api-url: egress proxies, tests).
export interface IdentityEndpoints {
  /** Microsoft identity platform authority host; tokens at {this}/{tenant}/oauth2/v2.0/token. */
  microsoftLogin: string;
  /** Google's OAuth2 token endpoint for service accounts (the JWT bearer grant). */
  googleToken: string;
  /** Microsoft Graph base URL, without /v1.0. */
  graph: string;
}

export const PUBLIC_ENDPOINTS: IdentityEndpoints = {
  microsoftLogin: 'https://login.microsoftonline.com',
  googleToken: 'https://oauth2.googleapis.com/token',
  graph: 'https://graph.microsoft.com',
};

let current: IdentityEndpoints = { ...PUBLIC_ENDPOINTS };

/** Set once at start (main.ts), or by a test. Absent fields keep the public URL. */
export function configureIdentityEndpoints(overrides: Partial<IdentityEndpoints>): void {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => typeof v === 'string' && v)) as Partial<IdentityEndpoints>;
  current = { ...PUBLIC_ENDPOINTS, ...defined };
}

export function identityEndpoints(): IdentityEndpoints {
  return current;
}

export function microsoftTokenUrl(tenantId: string): string {
  return `${current.microsoftLogin.replace(/\/+$/, '')}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
}
