// OAuth2 SmtpTargets and the MicrosoftGraph provider through the operator on the
// real API server: each credential type Ready, each failure with its own reason,
// mail through both doors, a token that expires mid-run renewed without a failed
// send, and no secret or token in status, events or logs. The identity provider,
// the SMTP servers and Graph are local servers that follow the documented contracts.
import { createTransport } from 'nodemailer';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGraphApi } from '../../support/graph-api.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource, secret } from '../../support/manifests.ts';
import { expectNoLeaks } from '../../support/no-leaks.ts';
import { FakeIdentityProvider, testRsaCertificate, testServiceAccount } from '../../support/oauth2-server.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

expectNoLeaks();

const TENANT = 'contoso.onmicrosoft.com';
const SMTP_APP = '0b0b0b0b-0000-4000-8000-000000000001';
const GRAPH_APP = '0b0b0b0b-0000-4000-8000-000000000002';
const NO_ROLE_APP = '0b0b0b0b-0000-4000-8000-000000000003';
const SECRET = `smtp~${crypto.randomUUID()}`;
const GRAPH_SECRET = `graph~${crypto.randomUUID()}`;
const REFRESH = `1//${crypto.randomUUID()}`;
const CLIENT_SECRET = `GOCSPX-${crypto.randomUUID()}`;
const MAILBOX = 'mailer@contoso.example';
const GMAIL_USER = 'alerts@example.com';
const GRAPH_SENDER = 'app@contoso.example';

const idp = new FakeIdentityProvider();
const graph = new FakeGraphApi(idp);
const cert = testRsaCertificate();
let sa: ReturnType<typeof testServiceAccount>;
let ns: string;
let op: Operator;
let exchange: SmtpSink;
let gmail: SmtpSink;
let fallback: SmtpSink;
let senderToken: string;

beforeAll(async () => {
  ns = await createNamespace('conn-oauth2');
  await idp.start();
  await graph.start();
  sa = testServiceAccount('mailer@tests.iam.gserviceaccount.com', idp.googleTokenUrl);
  idp.apps.push(
    { tenantId: TENANT, clientId: SMTP_APP, clientSecret: SECRET, certificatePem: cert.certificatePem, roles: { 'https://outlook.office365.com': ['SMTP.SendAsApp'] } },
    { tenantId: TENANT, clientId: GRAPH_APP, clientSecret: GRAPH_SECRET, roles: { 'https://graph.microsoft.com': ['Mail.Send'] } },
    { tenantId: TENANT, clientId: NO_ROLE_APP, clientSecret: GRAPH_SECRET, roles: { 'https://graph.microsoft.com': [] } },
  );
  idp.serviceAccounts.push({
    clientEmail: 'mailer@tests.iam.gserviceaccount.com',
    privateKeyId: sa.privateKeyId,
    publicKeyPem: sa.publicKeyPem,
    delegatedUsers: [GMAIL_USER],
    scopes: ['https://mail.google.com/'],
  });
  idp.refreshClients.push({ clientId: 'desktop', clientSecret: CLIENT_SECRET, refreshTokens: { [REFRESH]: GMAIL_USER } });
  graph.mailboxes = [GRAPH_SENDER];
  exchange = await startSmtpSink({
    mode: 'None',
    allowInsecureAuth: true,
    oauth2: {
      style: 'Exchange',
      check: (user, token) => user !== 'refused@contoso.example' && idp.isValid(token, 'https://outlook.office365.com'),
      disabledFor: ['disabled@contoso.example'],
    },
  });
  gmail = await startSmtpSink({ mode: 'None', allowInsecureAuth: true, oauth2: { style: 'Gmail', check: (user, token) => idp.isValid(token, 'https://mail.google.com/', user) } });
  fallback = await startSmtpSink({ mode: 'None' });

  op = await startOperator({
    kubeconfig: kubeconfig(),
    namespaces: [ns],
    extraArgs: ['--check-step-timeout=3s', `--microsoft-login-url=${idp.url}`, `--google-token-url=${idp.googleTokenUrl}`, `--graph-api-url=${graph.url}`],
  });
  const microsoft = (secretName: string, extra: Record<string, string> = { clientSecretKey: 'client-secret' }) => ({
    tenantId: TENANT,
    clientId: SMTP_APP,
    secretRef: { name: secretName },
    ...extra,
  });
  const target = (name: string, sink: SmtpSink, oauth2?: Record<string, unknown>) =>
    resource('SmtpTarget', name, {
      host: '127.0.0.1',
      port: sink.port,
      security: 'None',
      checkInterval: '1h',
      ...(oauth2 ? { credentials: { type: 'OAuth2', oauth2 } } : {}),
    });
  const graphServer = (name: string, clientId: string, extra: Record<string, unknown> = {}) =>
    resource('EmailServer', name, {
      provider: 'MicrosoftGraph',
      checkInterval: '1h',
      microsoftGraph: { app: { tenantId: TENANT, clientId, secretRef: { name: 'graph-app' }, clientSecretKey: 'client-secret' } },
      ...extra,
    });
  await apply(
    ns,
    secret('entra-secret', { 'client-secret': SECRET }),
    secret('entra-wrong', { 'client-secret': 'not-the-client-secret-value' }),
    secret('entra-cert', { 'certificate.pem': cert.certificatePem, 'private-key.pem': cert.privateKeyPem }),
    secret('google-sa', { 'service-account.json': sa.json }),
    secret('refresh', { 'client-secret': CLIENT_SECRET, 'refresh-token': REFRESH }),
    secret('refresh-revoked', { 'client-secret': CLIENT_SECRET, 'refresh-token': '1//revoked' }),
    secret('graph-app', { 'client-secret': GRAPH_SECRET }),
    target('ms-secret', exchange, { user: MAILBOX, microsoft: microsoft('entra-secret') }),
    target('ms-cert', exchange, { user: MAILBOX, microsoft: microsoft('entra-cert', { certificateKey: 'certificate.pem', privateKeyKey: 'private-key.pem' }) }),
    target('google', gmail, { user: GMAIL_USER, google: { secretRef: { name: 'google-sa' } } }),
    target('refresh', gmail, { user: GMAIL_USER, refreshToken: { tokenUrl: idp.googleTokenUrl, clientId: 'desktop', secretRef: { name: 'refresh' } } }),
    target('ms-wrong-secret', exchange, { user: MAILBOX, microsoft: microsoft('entra-wrong') }),
    target('refresh-revoked', gmail, { user: GMAIL_USER, refreshToken: { tokenUrl: idp.googleTokenUrl, clientId: 'desktop', secretRef: { name: 'refresh-revoked' } } }),
    target('ms-refused', exchange, { user: 'refused@contoso.example', microsoft: microsoft('entra-secret') }),
    target('ms-disabled', exchange, { user: 'disabled@contoso.example', microsoft: microsoft('entra-secret') }),
    target('fallback', fallback),
    resource('EmailServer', 'o365', { provider: 'SMTP', smtp: { targetRef: { name: 'ms-secret' } }, checkInterval: '1h' }),
    graphServer('graph', GRAPH_APP, { fallback: { smtpTargetRef: { name: 'fallback' } } }),
    graphServer('graph-no-role', NO_ROLE_APP),
    resource('SenderIdentity', 'mailer', { email: MAILBOX, serverRef: { name: 'o365' } }),
    resource('SenderIdentity', 'app', { email: GRAPH_SENDER, serverRef: { name: 'graph' } }),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sender' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'send-mail' },
      rules: [{ apiGroups: ['email.postmaster.dev'], resources: ['senderidentities'], verbs: ['send'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'sender-sends' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'send-mail' },
      subjects: [{ kind: 'ServiceAccount', name: 'sender', namespace: ns }],
    },
  );
  senderToken = (await kubectlOk(['create', 'token', 'sender', '-n', ns, '--duration=1h', '--audience', 'postmaster'])).trim();
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await Promise.all([idp.close(), graph.close(), exchange?.close(), gmail?.close(), fallback?.close()]);
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

const settled = (kind: string, name: string, type: string) =>
  eventually(async () => {
    const c = await getCondition(kind, ns, name, type);
    expect(c?.status === 'True' || c?.status === 'False', `${kind}/${name} ${type}: ${JSON.stringify(c)}`).toBe(true);
    return c!;
  }, 30_000);

async function httpSend(sender: string, subject: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${senderToken}` },
    body: JSON.stringify({ sender, to: ['ops@example.org'], subject, text: 'hello' }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function smtpSend(identity: string, from: string, subject: string): Promise<string> {
  const client = createTransport({ host: '127.0.0.1', port: op.smtpPort, secure: false, ignoreTLS: true, auth: { user: identity, pass: senderToken } });
  try {
    const info = await client.sendMail({ from, to: 'ops@example.org', subject, text: 'hello over SMTP' });
    return info.response;
  } finally {
    client.close();
  }
}

describe('SmtpTarget credentials of type OAuth2', () => {
  it.each([
    ['ms-secret', 'True', 'Connected'],
    ['ms-cert', 'True', 'Connected'],
    ['google', 'True', 'Connected'],
    ['refresh', 'True', 'Connected'],
    ['ms-wrong-secret', 'False', 'TokenRequestFailed'],
    ['refresh-revoked', 'False', 'InvalidGrant'],
    ['ms-refused', 'False', 'XOAUTH2Rejected'],
    ['ms-disabled', 'False', 'SmtpAuthDisabled'],
  ])('%s: Connected %s (%s)', async (name, status, reason) => {
    const c = await settled('smtptarget', name, 'Connected');
    expect(c, c.message).toMatchObject({ status, reason });
    if (status === 'False') expect(await getCondition('smtptarget', ns, name, 'Stalled')).toMatchObject({ status: 'True' });
  });

  it('quotes the identity provider and records XOAUTH2 as the mechanism', async () => {
    const wrong = await settled('smtptarget', 'ms-wrong-secret', 'Connected');
    expect(wrong.message).toContain('AADSTS7000215: Invalid client secret provided');
    expect(wrong.message).not.toMatch(/Trace ID/);
    expect((await settled('smtptarget', 'ms-refused', 'Connected')).message).toContain('535 5.7.3');
    const ok = await getObject<{ status: { connection: { authMechanisms: string[] } } }>('smtptarget', ns, 'ms-secret');
    expect(ok?.status.connection.authMechanisms).toContain('XOAUTH2');
  });
});

describe('EmailServer provider MicrosoftGraph', () => {
  it('Connected with the Mail.Send role; MissingPermission without it', async () => {
    expect(await settled('emailserver', 'graph', 'Connected')).toMatchObject({ status: 'True', reason: 'Connected' });
    const missing = await settled('emailserver', 'graph-no-role', 'Connected');
    expect(missing).toMatchObject({ status: 'False', reason: 'MissingPermission' });
    expect(await getCondition('emailserver', ns, 'graph-no-role', 'Stalled')).toMatchObject({ status: 'True' });
  });

  it('Verified is Unknown with a reason when the app may not read users, and the identity is Ready', async () => {
    await eventually(async () => {
      expect(await getCondition('senderidentity', ns, 'app', 'Verified')).toMatchObject({ status: 'Unknown', reason: 'MailboxNotReadable' });
      expect(await getCondition('senderidentity', ns, 'app', 'Ready')).toMatchObject({ status: 'True' });
    }, 30_000);
  });
});

describe('sending through both doors', () => {
  it('an OAuth2 SmtpTarget: HTTP and SMTP doors', async () => {
    await eventually(async () => expect(await getCondition('senderidentity', ns, 'mailer', 'Ready')).toMatchObject({ status: 'True' }), 30_000);
    const before = exchange.messages.length;
    const http = await httpSend('mailer', 'via http');
    expect(http.status, JSON.stringify(http.body)).toBe(200);
    expect(http.body).toMatchObject({ provider: 'SMTP', route: 'primary' });
    expect(await smtpSend('mailer', MAILBOX, 'via smtp')).toMatch(/^250 /);
    expect(exchange.messages.length - before).toBe(2);
    expect(exchange.messages.at(-1)!.user).toBe(MAILBOX);
  });

  it('Microsoft Graph: HTTP and SMTP doors, the MIME message as sent', async () => {
    const before = graph.messages.length;
    const http = await httpSend('app', 'graph via http');
    expect(http.status, JSON.stringify(http.body)).toBe(200);
    expect(http.body).toMatchObject({ provider: 'MicrosoftGraph', route: 'primary' });
    expect(await smtpSend('app', GRAPH_SENDER, 'graph via smtp')).toMatch(/^250 /);
    expect(graph.messages.length - before).toBe(2);
    const parsed = await simpleParser(graph.messages.at(-1)!.mime);
    expect(parsed.subject).toBe('graph via smtp');
    expect(parsed.from?.value[0]?.address).toBe(GRAPH_SENDER);
    expect(parsed.messageId).toMatch(/^<.+@.+>$/);
  });

  it('a Graph 503 goes to the fallback SmtpTarget', async () => {
    graph.failWith({ status: 503, times: 1 });
    const before = fallback.messages.length;
    const sent = await httpSend('app', 'graph down');
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ route: 'fallback' });
    expect(fallback.messages.length - before).toBe(1);
  });

  it('a token that expires mid-run is renewed without a failed send', async () => {
    const tokenRequests = idp.requests.filter((r) => r.status === 200).length;
    idp.expireAll();
    const smtpBefore = exchange.messages.length;
    const graphBefore = graph.messages.length;
    expect((await httpSend('mailer', 'after expiry (smtp)')).status).toBe(200);
    expect((await httpSend('app', 'after expiry (graph)')).status).toBe(200);
    expect(exchange.messages.length - smtpBefore).toBe(1);
    expect(graph.messages.length - graphBefore).toBe(1);
    expect(idp.requests.filter((r) => r.status === 200).length).toBeGreaterThan(tokenRequests);
  });
});

describe('secrets', () => {
  it('no secret and no token in status, events or logs', async () => {
    const objects = await kubectlOk(['get', 'smtptargets,emailservers,senderidentities', '-n', ns, '-o', 'json']);
    const events = await kubectlOk(['get', 'events', '-n', ns, '-o', 'json']);
    const all = objects + events + op.logs();
    for (const s of [SECRET, GRAPH_SECRET, REFRESH, CLIENT_SECRET, 'not-the-client-secret-value', sa.json, cert.privateKeyPem.split('\n')[1]!]) {
      expect(all).not.toContain(s);
    }
    for (const t of idp.issued) expect(all).not.toContain(t.token);
  });
});
