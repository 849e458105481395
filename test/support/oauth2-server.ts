// A local OAuth2 token server for tests, following the documented contracts of
//  - the Microsoft identity platform v2.0 token endpoint, client credentials flow:
//    POST /{tenant}/oauth2/v2.0/token, form client_id, scope (…/.default), grant_type=client_credentials,
//    and client_secret, or client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer with a
//    client_assertion JWT (RS256, header x5t = base64url SHA-1 of the certificate, aud = the token URL,
//    iss = sub = client id, exp, nbf, jti); success {token_type, expires_in, ext_expires_in, access_token};
//    errors {error, error_description "AADSTSnnnn: …\r\nTrace ID: …", error_codes, timestamp, trace_id, correlation_id}.
//  - Google's OAuth2 token endpoint: the JWT bearer grant of service accounts
//    (grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer, assertion = RS256 JWT with iss = client_email,
//    sub = the user impersonated, scope, aud = token URL, iat, exp ≤ iat + 3600), and the refresh token grant
//    (grant_type=refresh_token, refresh_token, client_id, client_secret); errors {error, error_description}.
// Signatures are checked with the public keys of the test key pairs. Issued access tokens are JWTs
// (aud, tid, appid, roles, sub) that the fake SMTP and Graph servers check with isValid().
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, verify, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyReply } from 'fastify';

export interface EntraAppRegistration {
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  /** PEM certificate whose key signs client assertions. */
  certificatePem?: string;
  /** Application roles each resource's tokens carry, by resource (https://outlook.office365.com, https://graph.microsoft.com). */
  roles: Record<string, string[]>;
}

export interface GoogleServiceAccount {
  clientEmail: string;
  privateKeyId: string;
  publicKeyPem: string;
  /** Users the service account may impersonate (domain-wide delegation). */
  delegatedUsers: string[];
  scopes: string[];
}

export interface RefreshClient {
  clientId: string;
  clientSecret: string;
  /** Valid refresh tokens and the user each belongs to. */
  refreshTokens: Record<string, string>;
}

export interface IssuedToken {
  token: string;
  audience: string;
  subject: string;
  expiresAt: number;
  grant: 'client_credentials' | 'jwt-bearer' | 'refresh_token';
}

export interface TokenRequest {
  path: string;
  grantType: string;
  clientId?: string;
  status: number;
  error?: string;
}

export class FakeIdentityProvider {
  readonly apps: EntraAppRegistration[] = [];
  readonly serviceAccounts: GoogleServiceAccount[] = [];
  readonly refreshClients: RefreshClient[] = [];
  readonly issued: IssuedToken[] = [];
  readonly requests: TokenRequest[] = [];
  /** Lifetime of issued tokens, seconds. */
  expiresIn = 3599;
  /** Answer the next requests with this status (a 503 outage) while set. */
  outage: number | undefined;
  url = '';
  readonly #app = Fastify();

  constructor() {
    this.#app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    this.#app.post('/:tenant/oauth2/v2.0/token', async (req, reply) => {
      const form = (req.body ?? {}) as Record<string, string>;
      return this.#microsoft((req.params as { tenant: string }).tenant, form, reply);
    });
    this.#app.post('/google/token', async (req, reply) => this.#google((req.body ?? {}) as Record<string, string>, reply));
  }

  get googleTokenUrl(): string {
    return `${this.url}/google/token`;
  }

  microsoftTokenUrl(tenant: string): string {
    return `${this.url}/${tenant}/oauth2/v2.0/token`;
  }

  async start(): Promise<string> {
    await this.#app.listen({ host: '127.0.0.1', port: 0 });
    const address = this.#app.server.address() as { port: number };
    this.url = `http://127.0.0.1:${address.port}`;
    return this.url;
  }

  close(): Promise<void> {
    return this.#app.close();
  }

  /** Whether `token` is an unexpired token this server issued for `audience` and (when given) `subject`. */
  isValid(token: string, audience: string, subject?: string): boolean {
    const t = this.issued.find((i) => i.token === token);
    return !!t && t.audience === audience && t.expiresAt > Date.now() && (subject === undefined || t.subject.toLowerCase() === subject.toLowerCase());
  }

  /** Makes every issued token expire now (the resource servers then refuse them). */
  expireAll(): void {
    for (const t of this.issued) t.expiresAt = 0;
  }

  #record(path: string, form: Record<string, string>, status: number, error?: string): void {
    this.requests.push({ path, grantType: form.grant_type ?? '', ...(form.client_id ? { clientId: form.client_id } : {}), status, ...(error ? { error } : {}) });
  }

  #aadError(reply: FastifyReply, path: string, form: Record<string, string>, status: number, error: string, code: number, text: string) {
    this.#record(path, form, status, error);
    const trace = randomUUID();
    const correlation = randomUUID();
    const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    return reply.code(status).send({
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: trace,
      correlation_id: correlation,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    });
  }

  #issue(audience: string, subject: string, grant: IssuedToken['grant'], claims: Record<string, unknown>): { access_token: string; expires_in: number } {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = { aud: audience, sub: subject, iat: now, nbf: now, exp: now + this.expiresIn, jti: randomUUID(), ...claims };
    const token = `${b64({ typ: 'JWT', alg: 'RS256', kid: 'fake' })}.${b64(payload)}.${randomUUID().replace(/-/g, '')}`;
    this.issued.push({ token, audience, subject, expiresAt: Date.now() + this.expiresIn * 1000, grant });
    return { access_token: token, expires_in: this.expiresIn };
  }

  #microsoft(tenant: string, form: Record<string, string>, reply: FastifyReply) {
    const path = `/${tenant}/oauth2/v2.0/token`;
    if (this.outage) return this.#aadError(reply, path, form, this.outage, 'temporarily_unavailable', 50053, 'The service is temporarily unavailable.');
    if (!this.apps.some((a) => a.tenantId === tenant)) {
      return this.#aadError(reply, path, form, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }
    if (form.grant_type !== 'client_credentials') {
      return this.#aadError(reply, path, form, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    }
    const app = this.apps.find((a) => a.tenantId === tenant && a.clientId === form.client_id);
    if (!app) {
      return this.#aadError(reply, path, form, 400, 'unauthorized_client', 700016, `Application with identifier '${form.client_id}' was not found in the directory '${tenant}'.`);
    }
    const scope = form.scope ?? '';
    if (!/^https:\/\/[^ ]+\/\.default$/.test(scope)) {
      return this.#aadError(reply, path, form, 400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    const resource = scope.replace(/\/\.default$/, '');
    if (form.client_assertion !== undefined) {
      if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return this.#aadError(reply, path, form, 400, 'invalid_request', 50027, 'Invalid JWT token. The client assertion type is not supported.');
      }
      const problem = app.certificatePem ? checkAssertion(form.client_assertion, app.certificatePem, `${this.url}${path}`, app.clientId) : 'no certificate registered';
      if (problem) {
        return this.#aadError(reply, path, form, 401, 'invalid_client', 700027, `Client assertion failed signature validation (${problem}).`);
      }
    } else if (form.client_secret === undefined) {
      return this.#aadError(reply, path, form, 401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    } else if (form.client_secret !== app.clientSecret) {
      return this.#aadError(
        reply,
        path,
        form,
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    }
    this.#record(path, form, 200);
    const issued = this.#issue(resource, app.clientId, 'client_credentials', { tid: tenant, appid: app.clientId, roles: app.roles[resource] ?? [] });
    return reply.send({ token_type: 'Bearer', expires_in: issued.expires_in, ext_expires_in: issued.expires_in, access_token: issued.access_token });
  }

  #google(form: Record<string, string>, reply: FastifyReply) {
    const path = '/google/token';
    const fail = (status: number, error: string, description: string) => {
      this.#record(path, form, status, error);
      return reply.code(status).send({ error, error_description: description });
    };
    if (this.outage) return fail(this.outage, 'internal_failure', 'Backend Error');
    if (form.grant_type === 'refresh_token') {
      const client = this.refreshClients.find((c) => c.clientId === form.client_id);
      if (!client || client.clientSecret !== form.client_secret) return fail(401, 'invalid_client', 'Unauthorized');
      const user = client.refreshTokens[form.refresh_token ?? ''];
      if (!user) return fail(400, 'invalid_grant', 'Token has been expired or revoked.');
      this.#record(path, form, 200);
      const issued = this.#issue('https://mail.google.com/', user, 'refresh_token', { azp: client.clientId });
      return reply.send({ ...issued, token_type: 'Bearer', scope: 'https://mail.google.com/' });
    }
    if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return fail(400, 'unsupported_grant_type', 'Invalid grant_type: ' + form.grant_type);
    const parts = (form.assertion ?? '').split('.');
    if (parts.length !== 3) return fail(400, 'invalid_grant', 'Invalid JWT: Malformed.');
    const header = decode(parts[0]!);
    const claims = decode(parts[1]!);
    const account = this.serviceAccounts.find((a) => a.clientEmail === claims?.iss);
    if (!header || !claims || !account) return fail(400, 'invalid_grant', 'Invalid JWT Signature.');
    const signed = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), createPublicKey(account.publicKeyPem), Buffer.from(parts[2]!, 'base64url'));
    if (header.alg !== 'RS256' || !signed) return fail(400, 'invalid_grant', 'Invalid JWT Signature.');
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!(exp > now && iat <= now + 60 && exp - iat <= 3600)) {
      return fail(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    if (claims.aud !== this.googleTokenUrl) return fail(400, 'invalid_grant', 'Invalid JWT: Failed audience check.');
    const scopes = String(claims.scope ?? '').split(' ').filter(Boolean);
    const subject = typeof claims.sub === 'string' ? claims.sub : '';
    if (!subject || !account.delegatedUsers.includes(subject) || !scopes.every((s) => account.scopes.includes(s))) {
      return fail(
        401,
        'unauthorized_client',
        'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      );
    }
    this.#record(path, form, 200);
    const issued = this.#issue(scopes.join(' '), subject, 'jwt-bearer', { azp: account.clientEmail });
    return reply.send({ ...issued, token_type: 'Bearer' });
  }
}

function decode(part: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** What is wrong with a Microsoft client assertion, or undefined when it is good. */
function checkAssertion(jwt: string, certificatePem: string, tokenUrl: string, clientId: string): string | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3) return 'malformed';
  const header = decode(parts[0]!);
  const claims = decode(parts[1]!);
  if (!header || !claims) return 'malformed';
  const cert = new X509Certificate(certificatePem);
  const x5t = createHash('sha1').update(cert.raw).digest('base64url');
  if (header.alg !== 'RS256') return `alg ${String(header.alg)}`;
  if (header.x5t !== x5t) return 'x5t does not match a registered certificate';
  if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), cert.publicKey, Buffer.from(parts[2]!, 'base64url'))) return 'invalid signature';
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== tokenUrl) return `aud ${String(claims.aud)}`;
  if (claims.iss !== clientId || claims.sub !== clientId) return 'iss/sub';
  if (!(Number(claims.exp) > now) || Number(claims.nbf ?? 0) > now + 300) return 'expired';
  if (typeof claims.jti !== 'string' || !claims.jti) return 'no jti';
  return undefined;
}

/** An RSA key pair and a self-signed certificate (openssl CLI: node:crypto cannot issue X.509). */
export function testRsaCertificate(): { privateKeyPem: string; certificatePem: string; publicKeyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'postmaster-oauth-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=postmaster test app'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const privateKeyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
    const certificatePem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return { privateKeyPem, certificatePem, publicKeyPem: createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Google service account JSON key file for a fresh RSA key. */
export function testServiceAccount(clientEmail: string, tokenUri: string): { json: string; publicKeyPem: string; privateKeyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyId = randomUUID().replace(/-/g, '');
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'postmaster-tests',
    private_key_id: privateKeyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    client_id: '100000000000000000001',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
  });
  return { json, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKeyId };
}
