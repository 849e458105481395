// Incoming-mailbox checks (IMAP with imapflow, POP3 with our client) against a real
// Dovecot started on loopback, plus small scripted servers for what Dovecot cannot
// be made to do (never answer, hide STARTTLS, serve an expired certificate, echo a
// password). Every check is wrapped in `check()`, which asserts that the result
// holds no password and that the check left no socket or timer behind.
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMailbox, MailboxReason, transientReasons } from '../../../src/providers/mailbox/index.ts';
import type { CheckOptions, CheckResult, MailboxEndpoint, MailboxFacts } from '../../../src/providers/types.ts';
import { startDovecot, type Dovecot } from '../../support/dovecot.ts';

let dovecot: Dovecot;
let expired: { key: string; cert: string };
let baseline: Map<string, number>;
const wrongPassword = 'Wrong-Password-9f3c1e';

beforeAll(async () => {
  baseline = resources();
  dovecot = await startDovecot();
  expired = await dovecot.expiredCertificate();
  console.log(`Dovecot ${dovecot.version} ready in ${Math.round(dovecot.startMs)} ms`);
});

afterAll(async () => {
  await dovecot?.stop();
  // Dovecot, scripted servers and every check are gone: nothing of ours is left open.
  expect(added(withoutTimers(baseline), resources({ timers: false }))).toEqual({});
});

/** Active handles and requests by kind. Immediates are Node's own next-turn work, never a leak. */
function resources(opts: { timers: boolean } = { timers: true }): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === 'Immediate' || (!opts.timers && kind === 'Timeout')) continue;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return new Map([...counts].sort());
}

function withoutTimers(counts: Map<string, number>): Map<string, number> {
  return new Map([...counts].filter(([kind]) => kind !== 'Timeout'));
}

/**
 * Connections accepted by the scripted servers and not yet closed. Their server side closes a
 * moment after the client side did, so the handle count waits for them (they cannot close
 * before the check closed its end); Dovecot runs in its own processes and needs no such wait.
 */
const serverSide = new Set<Promise<void>>();

async function settledResources(): Promise<Map<string, number>> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(serverSide), new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
  clearTimeout(timer);
  return resources();
}

/**
 * The kinds of handles and timers that are more numerous after than before: what a check left
 * open. Fewer is fine (something from an earlier test finished closing meanwhile).
 */
function added(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const more: Record<string, number> = {};
  for (const [kind, n] of after) if (n > (before.get(kind) ?? 0)) more[kind] = n - (before.get(kind) ?? 0);
  return more;
}

/** Runs a check and asserts what every check must hold: no secret in the result, nothing left open. */
async function check(endpoint: MailboxEndpoint, opts?: CheckOptions): Promise<CheckResult<MailboxFacts>> {
  const before = resources();
  const result = await checkMailbox(endpoint, opts);
  expect(added(before, await settledResources()), 'sockets and timers left by the check').toEqual({});
  const json = JSON.stringify(result);
  for (const secret of [endpoint.auth.password, dovecot.password, wrongPassword]) expect(json).not.toContain(secret);
  expect(result.transient).toBe(transientReasons[result.reason as MailboxReason]);
  expect(result.message).toMatch(new RegExp(`${endpoint.protocol} server ${endpoint.host}:${endpoint.port}|${endpoint.host}`));
  return result;
}

function imap(overrides: Partial<MailboxEndpoint> = {}): MailboxEndpoint {
  return {
    protocol: 'IMAP',
    host: '127.0.0.1',
    port: dovecot.ports.imaps,
    security: 'TLS',
    auth: { username: dovecot.username, password: dovecot.password },
    tls: { ca: dovecot.ca },
    ...overrides,
  };
}

function pop3(overrides: Partial<MailboxEndpoint> = {}): MailboxEndpoint {
  return imap({ protocol: 'POP3', port: dovecot.ports.pop3s, ...overrides });
}

describe('IMAP against Dovecot', () => {
  it('logs in over implicit TLS with the CA and reports greeting and capabilities', async () => {
    const r = await check(imap());
    expect(r).toMatchObject({ ok: true, reason: MailboxReason.Connected, transient: false });
    expect(r.message).toContain(`as "${dovecot.username}"`);
    expect(r.facts?.greeting).toMatch(/Dovecot/);
    expect(r.facts?.capabilities).toContain('IMAP4rev1');
    expect(r.facts?.latencyMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(r.facts?.checkedAt ?? '')).not.toBeNaN();
  });

  it('reports a wrong password as AuthenticationFailed, not transient, without the password', async () => {
    const r = await check(imap({ auth: { username: dovecot.username, password: wrongPassword } }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.AuthenticationFailed, transient: false });
    expect(r.message).toContain(dovecot.username);
    expect(r.message).toContain('AUTHENTICATIONFAILED');
  });

  it('upgrades with STARTTLS on the plain port', async () => {
    const r = await check(imap({ port: dovecot.ports.imap, security: 'STARTTLS' }));
    expect(r).toMatchObject({ ok: true, reason: MailboxReason.Connected });
    expect(r.message).toContain('(STARTTLS)');
  });

  it('logs in in plain text with security None (Dovecot trusts loopback)', async () => {
    const r = await check(imap({ port: dovecot.ports.imap, security: 'None' }));
    expect(r).toMatchObject({ ok: true, reason: MailboxReason.Connected });
  });

  it('reports a missing mailbox as MailboxNotFound after a good login', async () => {
    const r = await check(imap({ mailbox: 'Archive/Nope' }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.MailboxNotFound, transient: false });
    expect(r.message).toContain('"Archive/Nope"');
    expect(r.facts?.capabilities).toContain('IMAP4rev1');
  });

  it('opens a mailbox other than INBOX when it exists', async () => {
    const r = await check(imap({ mailbox: 'INBOX' }));
    expect(r.ok).toBe(true);
  });

  it('does not trust the server certificate without the CA', async () => {
    const r = await check(imap({ tls: {} }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.CertificateUntrusted, transient: false });
  });

  it('does not trust a certificate for another name (tls.serverName)', async () => {
    const r = await check(imap({ tls: { ca: dovecot.ca, serverName: 'mail.example.org' } }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.CertificateUntrusted });
    expect(r.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('honours serverName and minVersion TLSv1.3', async () => {
    const r = await check(imap({ tls: { ca: dovecot.ca, serverName: 'localhost', minVersion: 'TLSv1.3' } }));
    expect(r.ok).toBe(true);
  });

  it('connects without verification when insecureSkipVerify is set', async () => {
    const r = await check(imap({ tls: { insecureSkipVerify: true } }));
    expect(r.ok).toBe(true);
  });

  it('reports TLS against a plain-text port as TLSHandshakeFailed', async () => {
    const r = await check(imap({ port: dovecot.ports.imap, security: 'TLS' }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.TLSHandshakeFailed, transient: false });
  });
});

describe('POP3 against Dovecot', () => {
  it('logs in over implicit TLS with the CA and reports capabilities', async () => {
    const r = await check(pop3());
    expect(r).toMatchObject({ ok: true, reason: MailboxReason.Connected, transient: false });
    expect(r.facts?.greeting).toMatch(/Dovecot/);
    expect(r.facts?.capabilities).toEqual(expect.arrayContaining(['USER', 'UIDL']));
  });

  it('reports a wrong password as AuthenticationFailed without the password', async () => {
    const r = await check(pop3({ auth: { username: dovecot.username, password: wrongPassword } }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.AuthenticationFailed, transient: false });
    expect(r.message).toContain('[AUTH]');
  });

  it('upgrades with STLS on the plain port and asks for capabilities again', async () => {
    const r = await check(pop3({ port: dovecot.ports.pop3, security: 'STARTTLS' }));
    expect(r).toMatchObject({ ok: true, reason: MailboxReason.Connected });
    // Dovecot offers STLS only before TLS: the list shown is the one asked for over TLS.
    expect(r.facts?.capabilities).not.toContain('STLS');
  });

  it('logs in in plain text with security None', async () => {
    const r = await check(pop3({ port: dovecot.ports.pop3, security: 'None' }));
    expect(r.ok).toBe(true);
  });

  it('does not trust the server certificate without the CA', async () => {
    const r = await check(pop3({ tls: {} }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.CertificateUntrusted, transient: false });
  });

  it('reports TLS against a plain-text port as TLSHandshakeFailed', async () => {
    const r = await check(pop3({ port: dovecot.ports.pop3, security: 'TLS' }));
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.TLSHandshakeFailed });
  });
});

describe('network failures', () => {
  it('reports a closed port as ConnectionRefused, transient', async () => {
    const port = await closedPort();
    for (const protocol of ['IMAP', 'POP3'] as const) {
      const r = await check(imap({ protocol, port }));
      expect(r).toMatchObject({ ok: false, reason: MailboxReason.ConnectionRefused, transient: true });
      expect(r.message).toContain(`127.0.0.1:${port}`);
    }
  });

  it('reports an unresolvable host as DNSLookupFailed, transient', async () => {
    const r = await check(imap({ host: 'mail.postmaster-test.invalid', port: 993 }), { stepTimeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, reason: MailboxReason.DNSLookupFailed, transient: true });
    expect(r.message).toContain('mail.postmaster-test.invalid');
  });

  it('reports a server that accepts and never speaks as Timeout, within the step timeout', async () => {
    await withServer(silent, async (port) => {
      const cases: [MailboxEndpoint, string][] = [
        [imap({ port, security: 'None' }), 'waiting for the greeting'],
        [imap({ port, security: 'TLS' }), 'doing the TLS handshake'],
        [imap({ port, security: 'STARTTLS' }), 'waiting for the greeting'],
        [pop3({ port, security: 'None' }), 'waiting for the greeting'],
        [pop3({ port, security: 'TLS' }), 'doing the TLS handshake'],
      ];
      for (const [endpoint, step] of cases) {
        const started = performance.now();
        const r = await check(endpoint, { stepTimeoutMs: 300 });
        const elapsed = performance.now() - started;
        expect(r, `${endpoint.protocol} ${endpoint.security}`).toMatchObject({
          ok: false,
          reason: MailboxReason.Timeout,
          transient: true,
        });
        expect(r.message).toContain(`within 300ms while ${step}`);
        expect(elapsed).toBeGreaterThanOrEqual(290);
        expect(elapsed).toBeLessThan(1500);
      }
    });
  });

  it('gives up when aborted, rejecting with the reason and leaving nothing open', async () => {
    await withServer(silent, async (port) => {
      for (const endpoint of [imap({ port, security: 'None' }), pop3({ port, security: 'None' })]) {
        const before = resources();
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('shutting down')), 50);
        await expect(checkMailbox(endpoint, { signal: controller.signal })).rejects.toThrow('shutting down');
        expect(added(before, await settledResources())).toEqual({});
      }
      await expect(checkMailbox(imap({ port }), { signal: AbortSignal.abort() })).rejects.toThrow();
    });
  });
});

describe('servers that misbehave', () => {
  it('reports IMAP without STARTTLS as STARTTLSNotOffered when security is STARTTLS', async () => {
    await withServer(
      lines('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready', (line) => {
        const [tag, command] = line.split(' ');
        return command?.toUpperCase() === 'CAPABILITY'
          ? [`* CAPABILITY IMAP4rev1 AUTH=PLAIN`, `${tag} OK done`]
          : [`${tag} BAD unexpected`];
      }),
      async (port) => {
        const r = await check(imap({ port, security: 'STARTTLS' }));
        expect(r).toMatchObject({ ok: false, reason: MailboxReason.STARTTLSNotOffered, transient: false });
      },
    );
  });

  it('reports POP3 without STLS as STARTTLSNotOffered when security is STARTTLS', async () => {
    await withServer(
      lines('+OK fake ready', (line) =>
        /^CAPA/i.test(line) ? ['+OK', 'USER', 'UIDL', '.'] : /^QUIT/i.test(line) ? ['+OK bye'] : ['-ERR no'],
      ),
      async (port) => {
        const r = await check(pop3({ port, security: 'STARTTLS' }));
        expect(r).toMatchObject({ ok: false, reason: MailboxReason.STARTTLSNotOffered, transient: false });
        expect(r.facts?.greeting).toBe('fake ready');
      },
    );
  });

  it('logs in to POP3 with SASL PLAIN when the server offers no USER', async () => {
    const secret = 'Sasl-Only-Passw0rd';
    const token = Buffer.from(`\0alice\0${secret}`).toString('base64');
    await withServer(
      lines('+OK fake ready', (line) => {
        if (/^CAPA/i.test(line)) return ['+OK', 'SASL PLAIN', '.'];
        if (/^USER /i.test(line)) return ['-ERR USER is not offered'];
        if (line.toUpperCase() === 'AUTH PLAIN') return ['+ '];
        if (line === token) return ['+OK welcome'];
        if (/^STAT/i.test(line)) return ['+OK 2 640'];
        if (/^QUIT/i.test(line)) return ['+OK bye'];
        return ['-ERR [AUTH] no'];
      }),
      async (port) => {
        const r = await check(pop3({ port, security: 'None', auth: { username: 'alice', password: secret } }));
        expect(r).toMatchObject({ ok: true, reason: MailboxReason.Connected });
        expect(r.facts?.capabilities).toEqual(['SASL PLAIN']);
      },
    );
  });

  it('keeps the password out even when a server echoes it back', async () => {
    const secret = 'Echoed-Secret-Passw0rd';
    await withServer(
      lines('+OK fake ready', (line) => {
        if (/^CAPA/i.test(line)) return ['+OK', 'USER', '.'];
        if (/^USER /i.test(line)) return ['+OK send PASS'];
        if (/^PASS /i.test(line)) return [`-ERR [AUTH] wrong password: ${line.slice(5)}`];
        return ['-ERR no'];
      }),
      async (port) => {
        const r = await check(pop3({ port, security: 'None', auth: { username: 'alice', password: secret } }));
        expect(r).toMatchObject({ ok: false, reason: MailboxReason.AuthenticationFailed });
        expect(r.message).toContain('[redacted]');
        expect(JSON.stringify(r)).not.toContain(secret);
      },
    );
  });

  it('reports an expired certificate as CertificateExpired, not transient', async () => {
    await withServer(
      lines('* OK never reached', () => []),
      async (port) => {
        for (const endpoint of [imap({ port }), pop3({ port })]) {
          const r = await check(endpoint);
          expect(r).toMatchObject({ ok: false, reason: MailboxReason.CertificateExpired, transient: false });
          expect(r.message).toContain('CERT_HAS_EXPIRED');
        }
      },
      expired,
    );
  });
});

/** A port on loopback that nothing listens on (bound once, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

/** A server that accepts and never speaks (it reads, so it notices when the client hangs up). */
function silent(socket: Socket): void {
  socket.resume();
}

/** A connection handler that sends `greeting` and answers each line with `answer(line)`. */
function lines(greeting: string, answer: (line: string) => string[]): (socket: Socket) => void {
  return (socket) => {
    socket.write(`${greeting}\r\n`);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i).replace(/\r$/, '');
        buffer = buffer.slice(i + 1);
        const out = answer(line);
        // One write per answer: separate small writes would wait on delayed ACKs (Nagle).
        if (out.length) socket.write(out.map((l) => `${l}\r\n`).join(''));
      }
    });
  };
}

/**
 * Runs `fn` with a scripted server on a free loopback port (TLS when `tls` is given), then
 * closes it and every connection it accepted, waiting until their handles are gone.
 */
async function withServer(
  onConnection: (socket: Socket) => void,
  fn: (port: number) => Promise<void>,
  tls?: TlsOptions,
): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = tls ? createTlsServer(tls, onConnection) : createServer(onConnection);
  // Every accepted TCP connection, including TLS ones that never finish the handshake.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    const closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        serverSide.delete(closed);
        resolve();
      }),
    );
    serverSide.add(closed);
    socket.on('error', () => undefined);
  });
  // A TLS client that refuses the certificate ends the handshake; that is the point of the test.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no port');
  try {
    await fn(address.port);
  } finally {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await Promise.all([closed, ...serverSide]);
  }
}
