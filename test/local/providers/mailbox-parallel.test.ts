// Two private Dovecots started at the same moment (as two test files do when vitest runs
// them in parallel) stay apart, and many checks at once against both all succeed.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkMailbox } from '../../../src/providers/mailbox/index.ts';
import type { MailboxEndpoint } from '../../../src/providers/types.ts';
import { startDovecot, type Dovecot } from '../../support/dovecot.ts';

let servers: Dovecot[] = [];

beforeAll(async () => {
  servers = await Promise.all([startDovecot(), startDovecot()]);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

it('starts two instances at once with their own ports, dirs, CAs and users', () => {
  const [a, b] = servers as [Dovecot, Dovecot];
  const portsA = Object.values(a.ports);
  const portsB = Object.values(b.ports);
  expect(new Set([...portsA, ...portsB]).size).toBe(8);
  expect(a.dir).not.toBe(b.dir);
  expect(a.ca).not.toBe(b.ca);
  expect(a.password).not.toBe(b.password);
});

it('serves concurrent IMAP and POP3 checks on both, each with its own credentials and CA', async () => {
  const endpoints: MailboxEndpoint[] = servers.flatMap((s) => {
    const base = { host: '127.0.0.1', auth: { username: s.username, password: s.password }, tls: { ca: s.ca } };
    return [
      { ...base, protocol: 'IMAP', port: s.ports.imaps, security: 'TLS' },
      { ...base, protocol: 'IMAP', port: s.ports.imap, security: 'STARTTLS' },
      { ...base, protocol: 'POP3', port: s.ports.pop3s, security: 'TLS' },
      { ...base, protocol: 'POP3', port: s.ports.pop3, security: 'STARTTLS' },
    ] satisfies MailboxEndpoint[];
  });
  const results = await Promise.all([...endpoints, ...endpoints].map((e) => checkMailbox(e, { stepTimeoutMs: 5000 })));
  expect(results.map((r) => r.reason)).toEqual(results.map(() => 'Connected'));

  // The CA of one instance does not vouch for the other.
  const [a, b] = servers as [Dovecot, Dovecot];
  const crossed = await checkMailbox({
    protocol: 'IMAP',
    host: '127.0.0.1',
    port: b.ports.imaps,
    security: 'TLS',
    auth: { username: b.username, password: b.password },
    tls: { ca: a.ca },
  });
  expect(crossed.reason).toBe('CertificateUntrusted');
});

it('stop() ends the instance and removes its dir', async () => {
  const extra = await startDovecot();
  expect(existsSync(extra.dir)).toBe(true);
  await extra.stop();
  await extra.stop();
  expect(existsSync(extra.dir)).toBe(false);
  const after = await checkMailbox({
    protocol: 'POP3',
    host: '127.0.0.1',
    port: extra.ports.pop3,
    security: 'None',
    auth: { username: extra.username, password: extra.password },
  });
  expect(after.reason).toBe('ConnectionRefused');
});
