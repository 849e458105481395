// SMTP connection tests driven through the operator and read from status on
// the real API server: each mode and failure gives its own reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl } from '../../support/kubectl.ts';
import { apply, resource, secret } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { startPostfix, type Postfix } from '../../support/postfix.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort, silentServer, type SilentServer } from '../../support/smtp-sockets.ts';
import { expectNoLeaks } from '../../support/no-leaks.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

expectNoLeaks();

const LOGIN = { username: 'relay-user', password: 'correct-horse-battery' };
let ns: string;
let op: Operator;
const sinks: SmtpSink[] = [];
let silent: SilentServer;
let postfix: Postfix;

const ports: Record<string, number> = {};

beforeAll(async () => {
  const pki = testPki();
  ns = await createNamespace('conn-smtp');
  const start = async (name: string, opts: Parameters<typeof startSmtpSink>[0]) => {
    const s = await startSmtpSink(opts);
    sinks.push(s);
    ports[name] = s.port;
  };
  await start('tls', { mode: 'TLS', tls: pki.server, auth: LOGIN });
  await start('starttls', { mode: 'STARTTLS', tls: pki.server, auth: LOGIN });
  await start('plain', { mode: 'None', noAuth: true });
  await start('selfsigned', { mode: 'TLS', tls: pki.selfSigned });
  await start('expired', { mode: 'TLS', tls: pki.expired });
  await start('nostarttls', { mode: 'None', noAuth: true });
  silent = await silentServer();
  ports.silent = silent.port;
  ports.closed = await closedPort();
  postfix = await startPostfix();

  op = await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--check-step-timeout=2s'] });
  const target = (name: string, spec: Record<string, unknown>) =>
    resource('SmtpTarget', name, { host: '127.0.0.1', checkInterval: '1h', ...spec });
  const withCa = { caSecretRef: { name: 'test-ca' } };
  const creds = { secretRef: { name: 'relay-login' } };
  await apply(
    ns,
    secret('relay-login', LOGIN),
    secret('wrong-login', { username: LOGIN.username, password: 'not-the-password' }),
    secret('test-ca', { 'ca.crt': pki.ca }),
    secret('self-ca', { 'ca.crt': pki.selfSigned.cert }),
    target('implicit-tls', { port: ports.tls, security: 'TLS', credentials: creds, tls: withCa }),
    target('starttls', { port: ports.starttls, security: 'STARTTLS', credentials: creds, tls: withCa }),
    target('plain', { port: ports.plain, security: 'None' }),
    target('wrong-password', { port: ports.starttls, security: 'STARTTLS', credentials: { secretRef: { name: 'wrong-login' } }, tls: withCa }),
    target('untrusted', { port: ports.selfsigned, security: 'TLS' }),
    target('self-signed-with-ca', { port: ports.selfsigned, security: 'TLS', tls: { caSecretRef: { name: 'self-ca' } } }),
    target('expired', { port: ports.expired, security: 'TLS', tls: withCa }),
    target('no-starttls', { port: ports.nostarttls, security: 'STARTTLS' }),
    target('tls-on-plain-port', { port: ports.plain, security: 'TLS' }),
    target('closed', { port: ports.closed, security: 'None' }),
    target('silent', { port: ports.silent, security: 'None' }),
    target('postfix', { port: postfix.port, security: 'None' }),
  );
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await Promise.all(sinks.map((s) => s.close()));
  await silent?.close();
  await postfix?.stop();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

const connected = (name: string) =>
  eventually(async () => {
    const c = await getCondition('smtptarget', ns, name, 'Connected');
    expect(c?.status === 'True' || c?.status === 'False', `${name}: ${JSON.stringify(c)}`).toBe(true);
    return c!;
  }, 30_000);

describe('SmtpTarget connection tests through the operator', () => {
  it.each([
    ['implicit-tls', 'Connected'],
    ['starttls', 'Connected'],
    ['plain', 'Connected'],
    ['self-signed-with-ca', 'Connected'],
    ['postfix', 'Connected'],
  ])('%s connects', async (name, reason) => {
    expect(await connected(name)).toMatchObject({ status: 'True', reason });
    expect(await getCondition('smtptarget', ns, name, 'Ready')).toMatchObject({ status: 'True' });
  });

  it.each([
    ['wrong-password', 'AuthenticationFailed', true],
    ['untrusted', 'CertificateUntrusted', true],
    ['expired', 'CertificateExpired', true],
    ['no-starttls', 'STARTTLSNotOffered', true],
    ['tls-on-plain-port', 'SecurityModeMismatch', true],
    ['closed', 'ConnectionRefused', false],
    ['silent', 'Timeout', false],
  ])('%s fails with %s (stalled: %s)', async (name, reason, stalled) => {
    const c = await connected(name);
    expect(c).toMatchObject({ status: 'False', reason });
    const ready = await getCondition('smtptarget', ns, name, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason });
    // Terminal failures stall; transient ones keep reconciling with backoff.
    expect(await getCondition('smtptarget', ns, name, stalled ? 'Stalled' : 'Reconciling')).toMatchObject({ status: 'True' });
  });

  it('suggests the right security mode', async () => {
    expect((await connected('tls-on-plain-port')).message).toMatch(/try security STARTTLS|security None/);
  });

  it('records what it learned about the server', async () => {
    await connected('implicit-tls');
    const t = await getObject<{ status: { connection: Record<string, unknown> } }>('smtptarget', ns, 'implicit-tls');
    expect(t?.status.connection).toMatchObject({
      tlsVersion: expect.stringMatching(/^TLSv1\.[23]$/),
      certificateNotAfter: expect.stringMatching(/^\d{4}-/),
      greeting: expect.any(String),
      extensions: expect.arrayContaining(['AUTH']),
      authMechanisms: expect.arrayContaining(['PLAIN']),
    });
    const p = await getObject<{ status: { connection: { greeting: string; extensions: string[] } } }>('smtptarget', ns, 'postfix');
    expect(p?.status.connection.greeting).toContain('Postfix');
    expect(p?.status.connection.extensions).toContain('PIPELINING');
  });

  it('re-tests at once when a Secret changes, and never shows the password', async () => {
    await connected('wrong-password');
    await apply(ns, secret('wrong-login', LOGIN));
    await eventually(async () => {
      expect(await getCondition('smtptarget', ns, 'wrong-password', 'Connected')).toMatchObject({ status: 'True' });
    }, 10_000);
    const all = JSON.stringify(await getObject('smtptarget', ns, 'wrong-password'));
    expect(all).not.toContain(LOGIN.password);
    expect(all).not.toContain('not-the-password');
    expect(op.logs()).not.toContain(LOGIN.password);
    expect(op.logs()).not.toContain('not-the-password');
  });
});
