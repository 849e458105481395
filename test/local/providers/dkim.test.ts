// DKIM without Kubernetes: keys judged and published, DNS checked against a real
// dnsmasq, and messages signed by the SMTP transport on their way to a real sink,
// verified by mailauth and by dkimpy over the bytes the sink received.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDkimRecord, checkDmarc, createTxtLookup } from '../../../src/providers/dkim/dns.ts';
import { generatePrivateKey, parsePrivateKey, txtStrings, type ParsedKey } from '../../../src/providers/dkim/keys.ts';
import { SmtpTransport } from '../../../src/providers/smtp/transport.ts';
import type { DkimSigning, OutboundMessage } from '../../../src/providers/types.ts';
import { DEFAULT_SIGNED_HEADERS } from '../../../src/api/index.ts';
import { verifyWithDkimpy, verifyWithMailauth } from '../../support/dkim-verify.ts';
import { startDnsmasq, type Dnsmasq } from '../../support/dnsmasq.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';

const parsed = (pem: string): ParsedKey => {
  const k = parsePrivateKey(pem, 'test key');
  if (!k.ok) throw new Error(k.message);
  return k.key;
};

const rsaPem = generatePrivateKey('RSA-3072');
const edPem = generatePrivateKey('Ed25519');
const rsa = parsed(rsaPem);
const ed = parsed(edPem);
// A PNG of one pixel: an inline image the HTML shows by cid.
const PIXEL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==', 'base64');

let dns: Dnsmasq;
let sink: SmtpSink;

beforeAll(async () => {
  dns = await startDnsmasq({
    'rsa._domainkey.example.com': txtStrings(rsa.record),
    'ed._domainkey.example.com': txtStrings(ed.record),
    'other._domainkey.example.com': txtStrings(parsed(generatePrivateKey('RSA-2048')).record),
    '_dmarc.example.com': ['v=DMARC1; p=reject; rua=mailto:dmarc@example.com'],
  });
  sink = await startSmtpSink({ mode: 'None' });
});

afterAll(async () => {
  await sink?.close();
  await dns?.stop();
});

describe('keys', () => {
  it('publishes RSA as the SPKI and Ed25519 as the raw 32-byte key (RFC 8463), in strings of at most 255 bytes', () => {
    expect(rsa).toMatchObject({ algorithm: 'rsa-sha256', bits: 3072 });
    expect(rsa.record).toMatch(/^v=DKIM1; k=rsa; p=MII[A-Za-z0-9+/=]+$/);
    const strings = txtStrings(rsa.record);
    expect(strings.length).toBeGreaterThan(1);
    expect(strings.every((s) => Buffer.byteLength(s) <= 255)).toBe(true);
    expect(strings.join('')).toBe(rsa.record);
    expect(ed).toMatchObject({ algorithm: 'ed25519-sha256', bits: 256 });
    expect(Buffer.from(ed.publicKey, 'base64')).toHaveLength(32);
  });

  it('refuses RSA keys under 1024 bits, other key types and what is not a key, never echoing the key', () => {
    const short = execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:512'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const tooShort = parsePrivateKey(short, 'Secret "ns/dkim" key "private.key"');
    expect(tooShort).toMatchObject({ ok: false, reason: 'KeyTooShort' });
    expect(JSON.stringify(tooShort)).not.toContain(short.split('\n')[1]);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    expect(parsePrivateKey(ec.privateKey, 'x')).toMatchObject({ ok: false, reason: 'KeyInvalid' });
    expect(parsePrivateKey('not a key', 'x')).toMatchObject({ ok: false, reason: 'KeyInvalid' });
  });
});

describe('DNS checks against dnsmasq', () => {
  const lookup = () => createTxtLookup({ servers: [dns.server], timeoutMs: 500, tries: 1 });

  it('finds the published record, a record of another key, and no record', async () => {
    await expect(checkDkimRecord(lookup(), 'rsa._domainkey.example.com', rsa.publicKey, 'rsa')).resolves.toMatchObject({ ok: true, reason: 'RecordPublished' });
    await expect(checkDkimRecord(lookup(), 'ed._domainkey.example.com', ed.publicKey, 'ed25519')).resolves.toMatchObject({ ok: true });
    await expect(checkDkimRecord(lookup(), 'other._domainkey.example.com', rsa.publicKey, 'rsa')).resolves.toMatchObject({ ok: false, reason: 'RecordMismatch', transient: false });
    await expect(checkDkimRecord(lookup(), 'none._domainkey.example.com', rsa.publicKey, 'rsa')).resolves.toMatchObject({ ok: false, reason: 'RecordMissing', transient: false });
    await expect(checkDmarc(lookup(), 'mail.example.com')).resolves.toMatchObject({ ok: true, facts: { name: '_dmarc.example.com', policy: 'reject' } });
    await expect(checkDmarc(lookup(), 'example.org')).resolves.toMatchObject({ ok: false, reason: 'DmarcMissing' });
  });
});

describe('the SMTP transport signs what it sends', () => {
  const signing = (keys: DkimSigning['keys']): DkimSigning => ({ keys, headers: [...DEFAULT_SIGNED_HEADERS] });
  const message = (subject: string, dkim: DkimSigning): OutboundMessage => ({
    from: { name: 'Zoë Ops', address: 'ops@example.com' },
    messageId: `<${crypto.randomUUID()}@example.com>`,
    replyTo: 'help@example.com',
    to: ['Ann <ann@example.org>'],
    subject,
    text: 'Grüße — plain text\n\nwith  two  spaces and trailing space \n',
    html: '<p>Grüße</p><img src="cid:pixel@example.com">',
    attachments: [
      { filename: 'pixel.png', contentType: 'image/png', content: PIXEL, contentId: 'pixel@example.com', disposition: 'inline' },
      { filename: 'report.csv', contentType: 'text/csv', content: Buffer.from('a,b\n1,2\n') },
    ],
    dkim,
  });

  it('RSA and Ed25519 signatures over a multipart message with an inline image and a UTF-8 subject verify with mailauth and dkimpy', async () => {
    const transport = new SmtpTransport({ host: sink.host, port: sink.port, security: 'None' });
    try {
      const keys = signing([
        { domain: 'example.com', selector: 'rsa', privateKey: rsaPem, algorithm: 'rsa-sha256' },
        { domain: 'example.com', selector: 'ed', privateKey: edPem, algorithm: 'ed25519-sha256' },
      ]);
      await transport.send(message('Prüfung ✓ 日本語 weekly report', keys));
    } finally {
      await transport.close();
    }
    const raw = sink.messages.at(-1)!.raw;
    const text = raw.toString('latin1');
    expect(text).toMatch(/multipart\/related/);
    expect(text).toMatch(/Content-ID: <pixel@example\.com>/);
    expect(text.match(/^DKIM-Signature:/gm)).toHaveLength(2);
    const header = text.slice(0, text.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
    const h = /h=([^;]+);/.exec(header)![1]!.toLowerCase();
    for (const f of ['from', 'to', 'subject', 'date', 'message-id', 'reply-to', 'mime-version', 'content-type']) expect(h).toContain(f);

    for (const verdicts of [await verifyWithMailauth(raw, dns.server), await verifyWithDkimpy(raw, dns.server)]) {
      expect(verdicts.map((v) => [v.selector, v.algorithm, v.pass, v.detail]).sort()).toEqual([
        ['ed', 'ed25519-sha256', true, 'pass'],
        ['rsa', 'rsa-sha256', true, 'pass'],
      ]);
    }
  });

  it('a signature that does not match DNS fails both verifiers (the verifiers are not rubber stamps)', async () => {
    const transport = new SmtpTransport({ host: sink.host, port: sink.port, security: 'None' });
    try {
      // Signed with the RSA key, published under "other" with another key.
      await transport.send(message('mismatch', signing([{ domain: 'example.com', selector: 'other', privateKey: rsaPem, algorithm: 'rsa-sha256' }])));
    } finally {
      await transport.close();
    }
    const raw = sink.messages.at(-1)!.raw;
    expect((await verifyWithMailauth(raw, dns.server)).map((v) => v.pass)).toEqual([false]);
    expect((await verifyWithDkimpy(raw, dns.server)).map((v) => v.pass)).toEqual([false]);
  });

  it('without keys nothing is signed; a key that cannot sign fails the send instead of sending unsigned', async () => {
    const transport = new SmtpTransport({ host: sink.host, port: sink.port, security: 'None' });
    const before = sink.messages.length;
    try {
      const { dkim: _, ...plain } = message('plain', signing([]));
      await transport.send(plain);
      expect(sink.messages.at(-1)!.raw.toString()).not.toMatch(/DKIM-Signature/);
      await expect(
        transport.send(message('broken', signing([{ domain: 'example.com', selector: 'rsa', privateKey: 'garbage', algorithm: 'rsa-sha256' }]))),
      ).rejects.toMatchObject({ name: 'SendError', outcomeUnknown: false });
    } finally {
      await transport.close();
    }
    expect(sink.messages.length).toBe(before + 1);
  });

  it('LookupFailed, transient, when the DNS server is down', async () => {
    await dns.stop();
    await expect(checkDkimRecord(createTxtLookup({ servers: [dns.server], timeoutMs: 300, tries: 1 }), 'rsa._domainkey.example.com', rsa.publicKey, 'rsa')).resolves.toMatchObject({
      ok: false,
      reason: 'LookupFailed',
      transient: true,
    });
  });
});
