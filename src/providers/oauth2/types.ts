// The three OAuth2 grants postmaster gets access tokens with, already resolved
// from Secrets, and the failure a token request ends in.

/** An Entra app's client credentials: a client secret, or a certificate (JWT client assertion). */
export interface EntraCredentials {
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  certificate?: { certificatePem: string; privateKeyPem: string };
}

/** Microsoft Entra client credentials grant for `scope`. */
export interface MicrosoftGrant extends EntraCredentials {
  flow: 'Microsoft';
  scope: string;
}

/** A Google service account with domain-wide delegation (JWT bearer grant), impersonating `subject`. */
export interface GoogleGrant {
  flow: 'Google';
  /** The JSON key file as downloaded from the Google Cloud console. */
  serviceAccountJson: string;
  subject: string;
  scope: string;
}

/** A refresh token at any token endpoint. */
export interface RefreshTokenGrant {
  flow: 'RefreshToken';
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  refreshToken: string;
  scope?: string;
}

export type OAuth2Grant = MicrosoftGrant | GoogleGrant | RefreshTokenGrant;

export const MICROSOFT_SMTP_SCOPE = 'https://outlook.office365.com/.default';
export const MICROSOFT_GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';

export const TokenReason = {
  /** The identity provider refused the request (bad client, secret, certificate, scope), or could not be asked. */
  TokenRequestFailed: 'TokenRequestFailed',
  /** invalid_grant: the refresh token, the assertion or the delegation is not (or no longer) valid. */
  InvalidGrant: 'InvalidGrant',
} as const;

/** A token request that did not give a token. The message quotes the provider's error, never a secret. */
export class TokenError extends Error {
  readonly reason: string;
  readonly transient: boolean;
  /** HTTP status of the token endpoint, when it answered. */
  readonly status?: number;
  constructor(reason: string, message: string, transient: boolean, status?: number) {
    super(message);
    this.name = 'TokenError';
    this.reason = reason;
    this.transient = transient;
    if (status !== undefined) this.status = status;
  }
}

export interface AccessToken {
  token: string;
  /** Epoch milliseconds at which the provider says it expires. */
  expiresAt: number;
  /** False when it came from the cache. */
  fresh: boolean;
}

/** Every secret a grant carries, for redaction. */
export function grantSecrets(grant: OAuth2Grant): string[] {
  const out: string[] = [];
  if (grant.flow === 'Microsoft') {
    if (grant.clientSecret) out.push(grant.clientSecret);
    if (grant.certificate) out.push(grant.certificate.privateKeyPem);
  } else if (grant.flow === 'Google') {
    out.push(grant.serviceAccountJson);
    const key = /"private_key"\s*:\s*"([^"]+)"/.exec(grant.serviceAccountJson)?.[1];
    if (key) out.push(key);
  } else {
    out.push(grant.refreshToken);
    if (grant.clientSecret) out.push(grant.clientSecret);
  }
  return out.filter((s) => s.length >= 4);
}
