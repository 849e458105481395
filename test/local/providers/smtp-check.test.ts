// checkSmtp against real SMTP servers on loopback: every reason a person may meet,
// with the right transient flag and a message that says what to do.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkSmtp, SmtpReason } from '../../../src/providers/smtp/check.ts';
import type { SmtpEndpoint } from '../../../src/providers/types.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { startSmtpSink, type SinkOptions, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort, handleCounts, settledResources, silentServer, talkingServer, trackResources } from '../../support/smtp-sockets.ts';
import type { HandleCounts, ResourceTracker, SilentServer } from '../../support/smtp-sockets.ts';

const pki = testPki();
const login = { username: 'relay-user', password: 'Sup3r-Secret-Pa55' };

let baseline: HandleCounts;
let tracker: ResourceTracker;
const open: (SmtpSink | SilentServer)[] = [];

beforeAll(() => {
  baseline = handleCounts();
  tracker = trackResources();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  // Every check closed its sockets and cleared its timers; every server here is closed.
  const left = await settledResources(baseline, tracker);
  tracker.stop();
  expect(left).toEqual({ handles: baseline, alive: [] });
});

async function sink(opts: SinkOptions): Promise<SmtpSink> {
  const s = await startSmtpSink(opts);
  open.push(s);
  return s;
}

function endpoint(s: { port: number }, rest: Partial<SmtpEndpoint> & Pick<SmtpEndpoint, 'security'>): SmtpEndpoint {
  return { host: '127.0.0.1', port: s.port, ...rest };
}

describe('checkSmtp: success', () => {
  it('implicit TLS with the CA: Connected, with TLS and certificate facts', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { ca: pki.ca } }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected, transient: false });
    expect(r.message).toMatch(/^Connected to 127\.0\.0\.1:\d+ with implicit TLS \(TLSv1\.3\)/);
    const f = r.facts!;
    expect(f.tlsVersion).toBe('TLSv1.3');
    expect(f.tlsCipher).toMatch(/^TLS_/);
    expect(f.certificateSubject).toContain('CN=server.localhost');
    expect(f.certificateIssuer).toContain('CN=postmaster test CA');
    expect(Date.parse(f.certificateNotAfter!)).toBeGreaterThan(Date.now());
    expect(f.greeting).toContain('ESMTP');
    expect(f.extensions).toEqual(expect.arrayContaining(['PIPELINING', '8BITMIME']));
    expect(Date.parse(f.checkedAt)).not.toBeNaN();
    expect(f.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('STARTTLS with the CA: Connected, EHLO after the upgrade is what counts', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server, auth: login });
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS', tls: { ca: pki.ca } }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected, transient: false });
    expect(r.message).toContain('with STARTTLS (TLSv1.3)');
    // AUTH is offered only once the session is encrypted, and STARTTLS is not offered twice.
    expect(r.facts!.authMechanisms).toEqual(['PLAIN', 'LOGIN']);
    expect(r.facts!.extensions).not.toContain('STARTTLS');
  });

  it('plain (security None): Connected, no TLS facts', async () => {
    const s = await sink({ mode: 'None' });
    const r = await checkSmtp(endpoint(s, { security: 'None' }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected, transient: false });
    expect(r.message).toContain('in plain text (security None)');
    expect(r.facts!.tlsVersion).toBeUndefined();
    expect(r.facts!.extensions).toContain('PIPELINING');
    expect(r.message).not.toContain('STARTTLS');
  });

  it('plain against a server that offers STARTTLS: Connected, and the message suggests STARTTLS', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'None' }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected });
    expect(r.message).toContain('the server offers STARTTLS: consider security STARTTLS');
  });

  it('AUTH with the right login over STARTTLS: Connected and logged in', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server, auth: login });
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS', tls: { ca: pki.ca }, auth: login }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected });
    expect(r.message).toContain('logged in with PLAIN');
    expect(r.facts!.authMechanisms).toContain('PLAIN');
  });

  it('host name "localhost" resolves, and verifies against the certificate name', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.server });
    const r = await checkSmtp({ host: 'localhost', port: s.port, security: 'TLS', tls: { ca: pki.ca } });
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected });
  });

  it('insecureSkipVerify connects to an untrusted server, and says so loudly', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.selfSigned });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { insecureSkipVerify: true } }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected });
    expect(r.message).toContain('NOT verified');
  });
});

describe('checkSmtp: authentication', () => {
  it('wrong password: AuthenticationFailed, not transient, and the password appears nowhere', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server, auth: login });
    const wrong = { username: login.username, password: 'Wr0ng-Pa55word-42' };
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS', tls: { ca: pki.ca }, auth: wrong }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.AuthenticationFailed, transient: false });
    expect(r.message).toMatch(/refused the login with PLAIN \("535 .*"\): check the username and password/);
    const json = JSON.stringify(r);
    expect(json).not.toContain(wrong.password);
    expect(json).not.toContain(Buffer.from(wrong.password).toString('base64'));
    expect(json).not.toContain(Buffer.from(`\0${wrong.username}\0${wrong.password}`).toString('base64'));
  });

  it('credentials configured, server offers no AUTH: AuthenticationNotOffered', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server, noAuth: true });
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS', tls: { ca: pki.ca }, auth: login }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.AuthenticationNotOffered, transient: false });
    expect(r.message).toContain('offers no AUTH, but credentials are configured');
    expect(r.facts!.tlsVersion).toBe('TLSv1.3');
  });

  it('AUTH over plain text where the server wants TLS first (538): the message says STARTTLS, not "wrong password"', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server, auth: login });
    const r = await checkSmtp(endpoint(s, { security: 'None', auth: login }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.AuthenticationFailed, transient: false });
    expect(r.message).toMatch(/takes a login only over TLS \("538 .*"\): use security STARTTLS/);
  });

  it('AUTH configured, plain server without AUTH: the hint says servers offer AUTH over TLS', async () => {
    const s = await sink({ mode: 'None' });
    const r = await checkSmtp(endpoint(s, { security: 'None', auth: login }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.AuthenticationNotOffered, transient: false });
    expect(r.message).toContain('try security STARTTLS');
  });
});

describe('checkSmtp: certificates', () => {
  it('self-signed without a CA: CertificateUntrusted, with the facts of the certificate', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.selfSigned });
    const r = await checkSmtp(endpoint(s, { security: 'TLS' }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.CertificateUntrusted, transient: false });
    expect(r.message).toContain('set tls.caSecretRef to the CA that issued it');
    expect(r.facts!.certificateSubject).toBe('CN=self-signed.localhost');
  });

  it('the same self-signed certificate given as CA: Connected', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.selfSigned });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { ca: pki.selfSigned.cert } }));
    expect(r).toMatchObject({ ok: true, reason: SmtpReason.Connected });
  });

  it('CA-signed certificate without the CA (STARTTLS): CertificateUntrusted', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS' }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.CertificateUntrusted, transient: false });
    expect(r.message).toContain('issued by O=postmaster tests, CN=postmaster test CA');
  });

  it('a CA that did not issue it: CertificateUntrusted, says the CA given is not the one', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { ca: pki.selfSigned.cert } }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.CertificateUntrusted, transient: false });
    expect(r.message).toContain('the CA in tls.caSecretRef did not issue it');
  });

  it('expired certificate: CertificateExpired, with the date', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.expired });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { ca: pki.ca } }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.CertificateExpired, transient: false });
    expect(r.message).toContain('expired on 2021-01-01T00:00:00.000Z');
    expect(r.facts!.certificateNotAfter).toBe('2021-01-01T00:00:00.000Z');
  });

  it('server name not in the certificate: CertificateHostnameMismatch, naming what it is for', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { ca: pki.ca, serverName: 'mail.example.org' } }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.CertificateHostnameMismatch, transient: false });
    expect(r.message).toContain('is for localhost, 127.0.0.1, not mail.example.org');
    expect(r.message).toContain('tls.serverName');
  });

  it('minVersion the server cannot meet: TLSHandshakeFailed naming tls.minVersion', async () => {
    const s12 = await sink({ mode: 'TLS', tls: pki.server, maxTlsVersion: 'TLSv1.2' });
    const r = await checkSmtp(endpoint(s12, { security: 'TLS', tls: { ca: pki.ca, minVersion: 'TLSv1.3' } }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.TLSHandshakeFailed, transient: false });
    expect(r.message).toContain('tls.minVersion is TLSv1.3');
  });
});

describe('checkSmtp: security modes', () => {
  it('STARTTLS required but not offered: STARTTLSNotOffered, never plain text', async () => {
    const s = await sink({ mode: 'None' });
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS', tls: { ca: pki.ca } }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.STARTTLSNotOffered, transient: false });
    expect(r.message).toContain('does not offer STARTTLS');
  });

  it('security TLS against a plain SMTP port: SecurityModeMismatch, suggests STARTTLS', async () => {
    const s = await sink({ mode: 'STARTTLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'TLS', tls: { ca: pki.ca } }));
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.SecurityModeMismatch, transient: false });
    expect(r.message).toMatch(/Security TLS expects implicit TLS on 127\.0\.0\.1:\d+, but the server speaks plain SMTP there \("220 .*"\): try security STARTTLS/);
  });

  it('security STARTTLS against an implicit-TLS port: SecurityModeMismatch, suggests TLS', async () => {
    const s = await sink({ mode: 'TLS', tls: pki.server });
    const r = await checkSmtp(endpoint(s, { security: 'STARTTLS', tls: { ca: pki.ca } }), { stepTimeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.SecurityModeMismatch, transient: false });
    expect(r.message).toContain('expects implicit TLS');
    expect(r.message).toContain('set security TLS');
  });
});

describe('checkSmtp: network', () => {
  it('closed port: ConnectionRefused, transient', async () => {
    const port = await closedPort();
    const r = await checkSmtp({ host: '127.0.0.1', port, security: 'STARTTLS' });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.ConnectionRefused, transient: true });
    expect(r.message).toBe(`127.0.0.1:${port} refused the connection: is the server running and listening on port ${port}?`);
    expect(r.facts!.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('server that accepts and never speaks: Timeout, transient, within the step timeout', async () => {
    const silent = await silentServer();
    open.push(silent);
    const started = Date.now();
    const r = await checkSmtp({ host: '127.0.0.1', port: silent.port, security: 'None' }, { stepTimeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.Timeout, transient: true });
    expect(r.message).toBe(`127.0.0.1:${silent.port} accepted the connection but sent no greeting within 0.2s.`);
    // Greeting wait plus the implicit-TLS probe, each one step.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('silent server with implicit TLS: Timeout in the handshake', async () => {
    const silent = await silentServer();
    open.push(silent);
    const r = await checkSmtp({ host: '127.0.0.1', port: silent.port, security: 'TLS' }, { stepTimeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.Timeout, transient: true });
    expect(r.message).toContain('TLS handshake');
  });

  it('4xx greeting: ServiceUnavailable, transient, quoting the server', async () => {
    const busy = await talkingServer('421 4.3.2 mx.example.com too busy, try later\r\n');
    open.push(busy);
    const r = await checkSmtp({ host: '127.0.0.1', port: busy.port, security: 'STARTTLS' });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.ServiceUnavailable, transient: true });
    expect(r.message).toBe(`127.0.0.1:${busy.port} is not taking connections right now ("421 4.3.2 mx.example.com too busy, try later").`);
  });

  it('5xx greeting: ConnectionRejected, not transient', async () => {
    const no = await talkingServer('554 5.7.1 no SMTP service for you\r\n');
    open.push(no);
    const r = await checkSmtp({ host: '127.0.0.1', port: no.port, security: 'None' });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.ConnectionRejected, transient: false });
    expect(r.message).toContain('"554 5.7.1 no SMTP service for you"');
  });

  it('something that is not SMTP on the port: ProtocolError, not transient', async () => {
    const http = await talkingServer('HTTP/1.1 400 Bad Request\r\n\r\n');
    open.push(http);
    const r = await checkSmtp({ host: '127.0.0.1', port: http.port, security: 'None' });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.ProtocolError, transient: false });
    expect(r.message).toBe(`127.0.0.1:${http.port} does not speak SMTP: it sent "HTTP/1.1 400 Bad Request" at the greeting.`);
  });

  it('unresolvable host: DNSLookupFailed, transient', async () => {
    const r = await checkSmtp({ host: 'no-such-host.invalid', port: 25, security: 'None' }, { stepTimeoutMs: 3000 });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.DNSLookupFailed, transient: true });
    expect(r.message).toMatch(/^DNS lookup of no-such-host\.invalid failed \(\w+\): check the host name/);
  });

  it('aborted: Aborted, and the socket is closed', async () => {
    const silent = await silentServer();
    open.push(silent);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const r = await checkSmtp({ host: '127.0.0.1', port: silent.port, security: 'None' }, { signal: controller.signal });
    expect(r).toMatchObject({ ok: false, reason: SmtpReason.Aborted, transient: true });
  });
});
