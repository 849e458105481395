// OAuth2 for SMTP (AUTH XOAUTH2) with the three grants, against a local token
// server that follows Microsoft's and Google's documented token endpoints and
// real smtp-server sinks that check the bearer token as Exchange and Gmail do.
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configureIdentityEndpoints } from '../../../src/providers/oauth2/endpoints.ts';
import { forgetTokens } from '../../../src/providers/oauth2/token.ts';
import { MICROSOFT_SMTP_SCOPE, type OAuth2Grant } from '../../../src/providers/oauth2/types.ts';
import { checkSmtp } from '../../../src/providers/smtp/check.ts';
import { SmtpTransport } from '../../../src/providers/smtp/transport.ts';
import type { SmtpEndpoint } from '../../../src/providers/types.ts';
import { FakeIdentityProvider, testRsaCertificate, testServiceAccount } from '../../support/oauth2-server.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';

const TENANT = '11111111-2222-3333-4444-555555555555';
const CLIENT = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const SECRET = `secret~${crypto.randomUUID()}`;
const REFRESH = `1//refresh-${crypto.randomUUID()}`;
const GOOGLE_CLIENT_SECRET = `GOCSPX-${crypto.randomUUID()}`;
const MAILBOX = 'mailer@contoso.example';
const GMAIL_USER = 'alerts@example.com';

const idp = new FakeIdentityProvider();
const cert = testRsaCertificate();
let sa: ReturnType<typeof testServiceAccount>;
let exchange: SmtpSink;
let gmail: SmtpSink;

beforeAll(async () => {
  await idp.start();
  sa = testServiceAccount('mailer@postmaster-tests.iam.gserviceaccount.com', idp.googleTokenUrl);
  idp.apps.push({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET, certificatePem: cert.certificatePem, roles: { 'https://outlook.office365.com': ['SMTP.SendAsApp'] } });
  idp.serviceAccounts.push({
    clientEmail: 'mailer@postmaster-tests.iam.gserviceaccount.com',
    privateKeyId: sa.privateKeyId,
    publicKeyPem: sa.publicKeyPem,
    delegatedUsers: [GMAIL_USER],
    scopes: ['https://mail.google.com/'],
  });
  idp.refreshClients.push({ clientId: 'desktop-client', clientSecret: GOOGLE_CLIENT_SECRET, refreshTokens: { [REFRESH]: GMAIL_USER } });
  configureIdentityEndpoints({ microsoftLogin: idp.url, googleToken: idp.googleTokenUrl });
  exchange = await startSmtpSink({
    mode: 'None',
    allowInsecureAuth: true,
    oauth2: { style: 'Exchange', check: (user, token) => user !== 'refused@contoso.example' && idp.isValid(token, 'https://outlook.office365.com'), disabledFor: ['disabled@contoso.example'] },
  });
  gmail = await startSmtpSink({ mode: 'None', allowInsecureAuth: true, oauth2: { style: 'Gmail', check: (user, token) => idp.isValid(token, 'https://mail.google.com/', user) } });
});

afterAll(async () => {
  configureIdentityEndpoints({});
  await Promise.all([idp.close(), exchange?.close(), gmail?.close()]);
});

beforeEach(() => {
  forgetTokens();
  idp.outage = undefined;
  idp.expiresIn = 3599;
});

const microsoft = (extra: Partial<Extract<OAuth2Grant, { flow: 'Microsoft' }>> = {}): OAuth2Grant => ({
  flow: 'Microsoft',
  tenantId: TENANT,
  clientId: CLIENT,
  clientSecret: SECRET,
  scope: MICROSOFT_SMTP_SCOPE,
  ...extra,
});
const google = (subject = GMAIL_USER): OAuth2Grant => ({ flow: 'Google', serviceAccountJson: sa.json, subject, scope: 'https://mail.google.com/' });
const refresh = (refreshToken = REFRESH): OAuth2Grant => ({
  flow: 'RefreshToken',
  tokenUrl: idp.googleTokenUrl,
  clientId: 'desktop-client',
  clientSecret: GOOGLE_CLIENT_SECRET,
  refreshToken,
});
const endpoint = (sink: SmtpSink, user: string, grant: OAuth2Grant): SmtpEndpoint => ({
  host: sink.host,
  port: sink.port,
  security: 'None',
  auth: { user, oauth2: grant },
});
const noSecrets = (text: string) => {
  for (const s of [SECRET, REFRESH, GOOGLE_CLIENT_SECRET, cert.privateKeyPem, sa.json]) expect(text).not.toContain(s);
  for (const t of idp.issued) expect(text).not.toContain(t.token);
};

describe('connection test with AUTH XOAUTH2', () => {
  it.each([
    ['Microsoft client secret', () => endpoint(exchange, MAILBOX, microsoft())],
    ['Microsoft certificate', () => endpoint(exchange, MAILBOX, microsoft({ clientSecret: undefined, certificate: { certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem } }))],
    ['Google service account', () => endpoint(gmail, GMAIL_USER, google())],
    ['refresh token', () => endpoint(gmail, GMAIL_USER, refresh())],
  ])('%s: Connected, logged in with XOAUTH2', async (_name, make) => {
    const result = await checkSmtp(make(), { stepTimeoutMs: 3000 });
    expect(result, result.message).toMatchObject({ ok: true, reason: 'Connected' });
    expect(result.message).toContain('logged in with XOAUTH2');
    noSecrets(JSON.stringify(result));
  });

  it('sends the documented forms: client_credentials with the .default scope, the JWT bearer grant, the refresh grant', async () => {
    await checkSmtp(endpoint(exchange, MAILBOX, microsoft({ clientSecret: undefined, certificate: { certificatePem: cert.certificatePem, privateKeyPem: cert.privateKeyPem } })));
    await checkSmtp(endpoint(gmail, GMAIL_USER, google()));
    await checkSmtp(endpoint(gmail, GMAIL_USER, refresh()));
    const ok = idp.requests.filter((r) => r.status === 200).slice(-3);
    expect(ok.map((r) => r.grantType)).toEqual(['client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'refresh_token']);
    expect(ok[0]!.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
  });

  it('quotes the identity provider on a wrong client secret: TokenRequestFailed, terminal, without trace ids or the secret', async () => {
    const result = await checkSmtp(endpoint(exchange, MAILBOX, microsoft({ clientSecret: 'not-the-secret-value' })));
    expect(result).toMatchObject({ ok: false, reason: 'TokenRequestFailed', transient: false });
    expect(result.message).toContain('invalid_client: AADSTS7000215: Invalid client secret provided');
    expect(result.message).not.toMatch(/Trace ID|Correlation ID/);
    expect(result.message).not.toContain('not-the-secret-value');
  });

  it('an unknown application and a wrong tenant are TokenRequestFailed with their AADSTS codes', async () => {
    expect((await checkSmtp(endpoint(exchange, MAILBOX, microsoft({ clientId: 'ffffffff-0000-0000-0000-000000000000' })))).message).toContain('AADSTS700016');
    expect((await checkSmtp(endpoint(exchange, MAILBOX, microsoft({ tenantId: 'other.onmicrosoft.com' })))).message).toContain('AADSTS90002');
  });

  it('a revoked refresh token is InvalidGrant, terminal', async () => {
    const result = await checkSmtp(endpoint(gmail, GMAIL_USER, refresh('1//revoked')));
    expect(result).toMatchObject({ ok: false, reason: 'InvalidGrant', transient: false });
    expect(result.message).toContain('Token has been expired or revoked');
  });

  it('a service account without delegation for the user is TokenRequestFailed (unauthorized_client)', async () => {
    const result = await checkSmtp(endpoint(gmail, 'someone-else@example.com', google('someone-else@example.com')));
    expect(result).toMatchObject({ ok: false, reason: 'TokenRequestFailed', transient: false });
    expect(result.message).toContain('unauthorized_client');
  });

  it('an identity provider outage is transient', async () => {
    idp.outage = 503;
    const result = await checkSmtp(endpoint(exchange, MAILBOX, microsoft()));
    expect(result).toMatchObject({ ok: false, reason: 'TokenRequestFailed', transient: true });
  });

  it('a token the server refuses is XOAUTH2Rejected with its 535 text, Exchange and Gmail alike', async () => {
    const ms = await checkSmtp(endpoint(exchange, 'refused@contoso.example', microsoft()));
    expect(ms).toMatchObject({ ok: false, reason: 'XOAUTH2Rejected', transient: false });
    expect(ms.message).toContain('535 5.7.3 Authentication unsuccessful');
    // A token for another user: Gmail's 334 JSON challenge, then 535.
    const g = await checkSmtp(endpoint(gmail, 'other@example.com', google()));
    expect(g).toMatchObject({ ok: false, reason: 'XOAUTH2Rejected' });
    expect(g.message).toMatch(/535 .*\{"status":"400"/);
    noSecrets(ms.message + g.message);
  });

  it('SMTP AUTH disabled for the tenant or mailbox is SmtpAuthDisabled', async () => {
    const result = await checkSmtp(endpoint(exchange, 'disabled@contoso.example', microsoft()));
    expect(result).toMatchObject({ ok: false, reason: 'SmtpAuthDisabled', transient: false });
    expect(result.message).toContain('5.7.139');
    expect(result.message).toContain('Set-CASMailbox');
  });

  it('caches the token between checks and renews it once when the server refuses it', async () => {
    const before = idp.requests.length;
    await checkSmtp(endpoint(exchange, MAILBOX, microsoft()));
    await checkSmtp(endpoint(exchange, MAILBOX, microsoft()));
    expect(idp.requests.length - before).toBe(1);
    idp.expireAll();
    const result = await checkSmtp(endpoint(exchange, MAILBOX, microsoft()));
    expect(result.ok).toBe(true);
    expect(idp.requests.length - before).toBe(2);
  });
});

describe('SMTP transport with XOAUTH2', () => {
  it('sends with the token the connection test fetched, and survives a token that expires mid-run', async () => {
    const ep = endpoint(exchange, MAILBOX, microsoft());
    expect((await checkSmtp(ep)).ok).toBe(true);
    const tokensBefore = idp.requests.length;
    const transport = new SmtpTransport(ep);
    try {
      const sent = exchange.messages.length;
      await transport.send({ from: { address: MAILBOX }, to: ['a@example.org'], subject: 'one', text: 'first' });
      expect(idp.requests.length).toBe(tokensBefore);
      // The token expires; the next connection logs in with a new one, and the send does not fail.
      idp.expireAll();
      await transport.close();
      const again = new SmtpTransport(ep);
      try {
        await again.send({ from: { address: MAILBOX }, to: ['b@example.org'], subject: 'two', text: 'second' });
      } finally {
        await again.close();
      }
      expect(exchange.messages.length - sent).toBe(2);
      expect(exchange.messages.at(-1)!.user).toBe(MAILBOX);
      const parsed = await simpleParser(exchange.messages.at(-1)!.raw);
      expect(parsed.subject).toBe('two');
      expect(idp.requests.length).toBe(tokensBefore + 1);
    } finally {
      await transport.close();
    }
  });

  it('a token request that fails on send is an auth failure, not permanent, and names no secret', async () => {
    const transport = new SmtpTransport(endpoint(exchange, MAILBOX, microsoft({ clientSecret: 'wrong-secret-value' })));
    try {
      const err = await transport.send({ from: { address: MAILBOX }, to: ['a@example.org'], subject: 'x', text: 'x' }).catch((e: unknown) => e as Error & { reason: string; permanent: boolean });
      expect(err).toMatchObject({ reason: 'UpstreamAuthFailed', permanent: false });
      expect(String((err as Error).message)).not.toContain('wrong-secret-value');
    } finally {
      await transport.close();
    }
  });
});
