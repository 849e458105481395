// RS256 JSON Web Tokens with Node's crypto: the client assertion of the
// Microsoft identity platform and the JWT bearer grant of Google.
import { createHash, createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export function signRs256(header: Record<string, unknown>, claims: Record<string, unknown>, privateKeyPem: string): string {
  const key = createPrivateKey(privateKeyPem);
  const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}

/**
 * The client assertion Microsoft documents for certificate credentials:
 * header x5t (base64url SHA-1 thumbprint of the DER certificate), claims
 * aud = the token endpoint, iss = sub = client id, a fresh jti, valid 10 minutes.
 */
export function microsoftClientAssertion(tokenUrl: string, clientId: string, certificatePem: string, privateKeyPem: string, nowMs = Date.now()): string {
  const der = new X509Certificate(certificatePem).raw;
  const now = Math.floor(nowMs / 1000);
  return signRs256(
    { x5t: b64url(createHash('sha1').update(der).digest()) },
    { aud: tokenUrl, iss: clientId, sub: clientId, jti: randomUUID(), nbf: now, iat: now, exp: now + 600 },
    privateKeyPem,
  );
}

/** Google's service-account assertion: iss = client_email, sub = the user impersonated, scope, aud = token URL, one hour. */
export function googleAssertion(
  key: { client_email: string; private_key: string; private_key_id?: string },
  subject: string,
  scope: string,
  tokenUrl: string,
  nowMs = Date.now(),
): string {
  const now = Math.floor(nowMs / 1000);
  return signRs256(
    key.private_key_id ? { kid: key.private_key_id } : {},
    { iss: key.client_email, sub: subject, scope, aud: tokenUrl, iat: now, exp: now + 3600 },
    key.private_key,
  );
}

/** The claims of a JWT access token, unverified (we only read what we were given, to report it). */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
