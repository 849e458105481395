// Provider API checks, mailbox logins, sender verification and the test-message
// annotation, driven through the operator and read from status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDovecot, type Dovecot } from '../../support/dovecot.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource, secret } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { FakeSendGridApi, type RunningFake } from '../../support/sendgrid-api.ts';
import { FakeSparkPostApi } from '../../support/sparkpost-api.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { expectNoLeaks } from '../../support/no-leaks.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

expectNoLeaks();

const SG_GOOD = 'SG.good-key-for-tests';
const SG_NOSEND = 'SG.key-without-mail-send';
const SP_GOOD = 'sparkpost-good-key-0123456789';
let ns: string;
let op: Operator;
let sendgrid: FakeSendGridApi;
let sparkEu: FakeSparkPostApi;
let sparkUs: FakeSparkPostApi;
let dovecot: Dovecot;
let sink: SmtpSink;
const running: RunningFake[] = [];

beforeAll(async () => {
  ns = await createNamespace('conn-providers');
  sendgrid = new FakeSendGridApi({
    keys: {
      [SG_GOOD]: { label: 'good', scopes: ['mail.send', 'ips.pools.read', 'scopes.read', 'user.profile.read', 'user.account.read', 'whitelabel.read'] },
      [SG_NOSEND]: { label: 'nosend', scopes: ['scopes.read', 'user.profile.read'] },
    },
    ipPools: ['transactional'],
    verifiedSenders: [{ email: 'verified@example.com', verified: true }],
    authenticatedDomains: [{ domain: 'mail.example.org', valid: true }],
  });
  sparkEu = new FakeSparkPostApi({
    region: 'EU',
    keys: { [SP_GOOD]: { label: 'good' } },
    ipPools: ['marketing-eu'],
    sendingDomains: [{ domain: 'example.eu', ownershipVerified: true }],
  });
  sparkUs = new FakeSparkPostApi({ region: 'US' });
  const sg = await sendgrid.start();
  const eu = await sparkEu.start();
  const us = await sparkUs.start();
  running.push(sg, eu, us);
  dovecot = await startDovecot();
  sink = await startSmtpSink({ mode: 'None', noAuth: true, rejectSenders: { 'nobody@example.com': 553 } });

  op = await startOperator({
    kubeconfig: kubeconfig(),
    namespaces: [ns],
    extraArgs: [
      '--check-step-timeout=2s',
      `--sendgrid-api-url=${sg.url}`,
      `--sparkpost-api-url=${us.url}`,
      `--sparkpost-eu-api-url=${eu.url}`,
    ],
  });
  const server = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
    resource('EmailServer', name, { checkInterval: '1h', ...spec }, annotations);
  const sgKey = (name: string) => ({ apiKeySecretRef: { name } });
  const mailbox = (protocol: string, port: number, password: string) => ({
    protocol,
    host: '127.0.0.1',
    port,
    security: 'TLS',
    credentials: { secretRef: { name: password === dovecot.password ? 'mailbox' : 'mailbox-wrong' } },
    tls: { caSecretRef: { name: 'dovecot-ca' } },
  });
  await apply(
    ns,
    secret('sg-good', { apiKey: SG_GOOD }),
    secret('sg-bad', { apiKey: 'SG.this-key-is-unknown' }),
    secret('sg-nosend', { apiKey: SG_NOSEND }),
    secret('sp-good', { apiKey: SP_GOOD }),
    secret('mailbox', { username: dovecot.username, password: dovecot.password }),
    secret('mailbox-wrong', { username: dovecot.username, password: 'wrong-mailbox-password' }),
    secret('dovecot-ca', { 'ca.crt': dovecot.ca }),
    server('sendgrid', { provider: 'SendGrid', sendgrid: { ...sgKey('sg-good'), ipPool: 'transactional' } }),
    server('sendgrid-bad-key', { provider: 'SendGrid', sendgrid: sgKey('sg-bad') }),
    server('sendgrid-no-scope', { provider: 'SendGrid', sendgrid: sgKey('sg-nosend') }),
    server('sendgrid-no-pool', { provider: 'SendGrid', sendgrid: { ...sgKey('sg-good'), ipPool: 'missing-pool' } }),
    server('sparkpost-eu', { provider: 'SparkPost', sparkpost: { ...sgKey('sp-good'), region: 'EU', ipPool: 'marketing-eu' } }),
    server('sparkpost-no-pool', { provider: 'SparkPost', sparkpost: { ...sgKey('sp-good'), region: 'EU', ipPool: 'nope' } }),
    // The EU key sent to the US origin: refused there.
    server('sparkpost-wrong-region', { provider: 'SparkPost', sparkpost: { ...sgKey('sp-good'), region: 'US' } }),
    server('imap', { provider: 'SendGrid', sendgrid: sgKey('sg-good'), incoming: mailbox('IMAP', dovecot.ports.imaps, dovecot.password) }),
    server('imap-wrong', { provider: 'SendGrid', sendgrid: sgKey('sg-good'), incoming: mailbox('IMAP', dovecot.ports.imaps, 'x') }),
    server('pop3', { provider: 'SendGrid', sendgrid: sgKey('sg-good'), incoming: mailbox('POP3', dovecot.ports.pop3s, dovecot.password) }),
    server('pop3-wrong', { provider: 'SendGrid', sendgrid: sgKey('sg-good'), incoming: mailbox('POP3', dovecot.ports.pop3s, 'x') }),
    resource('SmtpTarget', 'sink', { host: '127.0.0.1', port: sink.port, security: 'None' }),
    server('relay', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, senderEmail: 'ops@example.com' }),
    resource('SenderIdentity', 'sg-verified', { email: 'verified@example.com', serverRef: { name: 'sendgrid' } }),
    resource('SenderIdentity', 'sg-domain', { email: 'news@mail.example.org', serverRef: { name: 'sendgrid' } }),
    resource('SenderIdentity', 'sg-unverified', { email: 'someone@elsewhere.com', serverRef: { name: 'sendgrid' } }),
    resource('SenderIdentity', 'sp-verified', { email: 'hello@example.eu', serverRef: { name: 'sparkpost-eu' } }),
    resource('SenderIdentity', 'sp-unverified', { email: 'hello@example.fr', serverRef: { name: 'sparkpost-eu' } }),
    resource('SenderIdentity', 'smtp-accepted', { email: 'ops@example.com', serverRef: { name: 'relay' } }),
    resource('SenderIdentity', 'smtp-refused', { email: 'nobody@example.com', serverRef: { name: 'relay' } }),
  );
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await Promise.all(running.map((r) => r.close()));
  await dovecot?.stop();
  await sink?.close();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

const settled = (kind: string, name: string, type: string) =>
  eventually(async () => {
    const c = await getCondition(kind, ns, name, type);
    expect(c?.status === 'True' || c?.status === 'False', `${kind}/${name} ${type}: ${JSON.stringify(c)}`).toBe(true);
    return c!;
  }, 30_000);

describe('provider API checks', () => {
  it.each([
    ['sendgrid', 'True', 'Connected'],
    ['sendgrid-bad-key', 'False', 'InvalidAPIKey'],
    ['sendgrid-no-scope', 'False', 'MissingSendScope'],
    ['sendgrid-no-pool', 'False', 'IPPoolNotFound'],
    ['sparkpost-eu', 'True', 'Connected'],
    ['sparkpost-no-pool', 'False', 'IPPoolNotFound'],
    ['sparkpost-wrong-region', 'False', 'InvalidAPIKey'],
  ])('%s: Connected %s (%s)', async (name, status, reason) => {
    expect(await settled('emailserver', name, 'Connected')).toMatchObject({ status, reason });
  });

  it('names the Secret of a refused key and never the key', async () => {
    const c = await settled('emailserver', 'sendgrid-bad-key', 'Connected');
    expect(c.message).toContain(`Secret "${ns}/sg-bad" key "apiKey"`);
    const all = JSON.stringify(await getObject('emailserver', ns, 'sendgrid-bad-key')) + op.logs();
    for (const key of [SG_GOOD, SG_NOSEND, SP_GOOD, 'SG.this-key-is-unknown']) expect(all).not.toContain(key);
  });

  it('records the provider facts and reaches the EU origin for an EU account', async () => {
    await settled('emailserver', 'sparkpost-eu', 'Connected');
    const s = await getObject<{ status: { provider: { endpoint: string; ipPool: string } } }>('emailserver', ns, 'sparkpost-eu');
    expect(s?.status.provider).toMatchObject({ endpoint: running[1]!.url, ipPool: 'marketing-eu' });
    expect(sparkEu.requests.length).toBeGreaterThan(0);
  });

  it('answers 429 and 5xx as transient: Reconciling, not Stalled', async () => {
    sendgrid.failWith({ status: 503 });
    await apply(ns, resource('EmailServer', 'sendgrid-503', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg-good' } } }));
    expect(await settled('emailserver', 'sendgrid-503', 'Connected')).toMatchObject({ status: 'False', reason: 'ProviderUnavailable' });
    expect(await getCondition('emailserver', ns, 'sendgrid-503', 'Reconciling')).toMatchObject({ status: 'True' });
    sendgrid.failWith({ status: 429, resetInSeconds: 1 });
    await apply(ns, resource('EmailServer', 'sendgrid-429', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg-good' } } }));
    expect(await settled('emailserver', 'sendgrid-429', 'Connected')).toMatchObject({ status: 'False', reason: 'RateLimited' });
    sendgrid.clearFailure();
    // Backoff retries bring it back without anyone touching it.
    await eventually(async () => expect(await getCondition('emailserver', ns, 'sendgrid-503', 'Ready')).toMatchObject({ status: 'True' }), 30_000);
  });
});

describe('SparkPost trouble', () => {
  it.each([
    [500, 'ProviderUnavailable'],
    [429, 'RateLimited'],
  ])('a %s from SparkPost is transient (%s): Reconciling, not Stalled', async (code, reason) => {
    const name = `sparkpost-${code}`;
    // Only this server's checks fail: the path names the IP pool only it uses.
    sparkEu.failWith({ status: code, path: new RegExp(`/ip-pools/pool-${code}$`) });
    await apply(ns, resource('EmailServer', name, { provider: 'SparkPost', sparkpost: { apiKeySecretRef: { name: 'sp-good' }, region: 'EU', ipPool: `pool-${code}` } }));
    expect(await settled('emailserver', name, 'Connected')).toMatchObject({ status: 'False', reason });
    expect(await getCondition('emailserver', ns, name, 'Reconciling')).toMatchObject({ status: 'True' });
    expect(await getCondition('emailserver', ns, name, 'Stalled')).toBeUndefined();
    sparkEu.clearFailure();
  });
});

describe('incoming mailbox', () => {
  it.each([
    ['imap', 'True', 'Connected'],
    ['pop3', 'True', 'Connected'],
    ['imap-wrong', 'False', 'AuthenticationFailed'],
    ['pop3-wrong', 'False', 'AuthenticationFailed'],
  ])('%s: IncomingConnected %s (%s)', async (name, status, reason) => {
    expect(await settled('emailserver', name, 'IncomingConnected')).toMatchObject({ status, reason });
    // A broken mailbox is reported but does not hold mail back.
    expect(await settled('emailserver', name, 'Ready')).toMatchObject({ status: 'True' });
  });
});

describe('sender verification', () => {
  it.each([
    ['sg-verified', 'True'],
    ['sg-domain', 'True'],
    ['sg-unverified', 'False'],
    ['sp-verified', 'True'],
    ['sp-unverified', 'False'],
    ['smtp-accepted', 'True'],
    ['smtp-refused', 'False'],
  ])('%s: Verified %s', async (name, status) => {
    const verified = await settled('senderidentity', name, 'Verified');
    expect(verified).toMatchObject({ status });
    const ready = await settled('senderidentity', name, 'Ready');
    expect(ready.status).toBe(status);
    if (status === 'False') expect(ready.message).toMatch(/@/);
  });

  it('sends nothing while verifying over SMTP', () => {
    expect(sink.senders).toEqual(expect.arrayContaining(['ops@example.com', 'nobody@example.com']));
    expect(sink.messages).toHaveLength(0);
  });
});

describe('test message on demand', () => {
  it('sends once per annotation value and records it in status and an event', async () => {
    await kubectlOk(['annotate', 'emailserver', 'relay', '-n', ns, 'email.postmaster.dev/test-to=ops-inbox@example.com']);
    const status = await eventually(async () => {
      const s = await getObject<{ status: { testMessage?: Record<string, string> } }>('emailserver', ns, 'relay');
      expect(s?.status.testMessage).toMatchObject({ result: 'Sent', recipient: 'ops-inbox@example.com' });
      return s!.status.testMessage!;
    }, 20_000);
    expect(status.annotation).toBe('ops-inbox@example.com');
    expect(sink.messages).toHaveLength(1);
    expect(sink.messages[0]!.to).toEqual(['ops-inbox@example.com']);
    // More reconciles (a label change) do not send it again.
    await kubectlOk(['label', 'emailserver', 'relay', '-n', ns, 'poke=1']);
    await new Promise((r) => setTimeout(r, 1500));
    expect(sink.messages).toHaveLength(1);
    const annotations = JSON.parse(await kubectlOk(['get', 'emailserver', 'relay', '-n', ns, '-o', 'json'])).metadata.annotations;
    expect(annotations['email.postmaster.dev/test-to']).toBe('ops-inbox@example.com');
    const events = await kubectlOk(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=relay', '-o', 'json']);
    expect(JSON.parse(events).items.map((e: { reason: string }) => e.reason)).toContain('TestMessageSent');
  });
});
