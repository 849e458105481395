// What DKIM signing costs per message: N messages through the SMTP transport
// (the pool the send endpoint uses) to a local sink, unsigned and signed with
// RSA-2048, Ed25519 and both, in one run at the same concurrency; and the
// signer alone over the same message, which is the CPU each message adds.
//
//   npm run bench:dkim                  # 2000 messages, concurrency 16
//   npm run bench:dkim -- 5000 32
import { SMTPServer } from 'smtp-server';
import { generatePrivateKey } from '../src/providers/dkim/keys.ts';
import { dkimSignatures } from '../src/providers/dkim/sign.ts';
import { SmtpTransport } from '../src/providers/smtp/transport.ts';
import type { DkimKey, DkimSigning, OutboundMessage } from '../src/providers/types.ts';
import { DEFAULT_SIGNED_HEADERS } from '../src/api/index.ts';

const N = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const POOL = 5;

let received = 0;
const sink = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData: (stream, _session, cb) => stream.resume().on('end', () => ((received += 1), cb())),
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const port = (sink.server.address() as { port: number }).port;

const rsa: DkimKey = { domain: 'example.com', selector: 'rsa', privateKey: generatePrivateKey('RSA-2048'), algorithm: 'rsa-sha256' };
const ed: DkimKey = { domain: 'example.com', selector: 'ed', privateKey: generatePrivateKey('Ed25519'), algorithm: 'ed25519-sha256' };
const signing = (keys: DkimKey[]): DkimSigning | undefined => (keys.length ? { keys, headers: [...DEFAULT_SIGNED_HEADERS] } : undefined);

const message = (i: number, dkim: DkimSigning | undefined): OutboundMessage => ({
  from: { name: 'Bench', address: 'bench@example.com' },
  messageId: `<${i}.${Date.now()}@example.com>`,
  to: [`rcpt${i}@example.org`],
  subject: `bench message ${i}`,
  text: 'x'.repeat(2000),
  ...(dkim ? { dkim } : {}),
});

async function run(label: string, dkim: DkimSigning | undefined) {
  const transport = new SmtpTransport({ host: '127.0.0.1', port, security: 'None', pool: { maxConnections: POOL, maxMessagesPerConnection: 100_000 } });
  for (let i = 0; i < 50; i++) await transport.send(message(i, dkim)); // warm-up: pool, JIT
  const before = received;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < N; i = next++) await transport.send(message(i, dkim));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await transport.close();
  if (received - before !== N) throw new Error(`${label}: sink received ${received - before} of ${N}`);
  return { label, rate: N / seconds };
}

/** The signer alone, one message after another: CPU time per message. */
async function signOnly(dkim: DkimSigning): Promise<number> {
  const raw = Buffer.from(
    `From: Bench <bench@example.com>\r\nTo: rcpt@example.org\r\nSubject: bench\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <1@example.com>\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
      `${'x'.repeat(76)}\r\n`.repeat(27),
  );
  for (let i = 0; i < 50; i++) await dkimSignatures(raw, dkim);
  const count = 500;
  const started = performance.now();
  for (let i = 0; i < count; i++) await dkimSignatures(raw, dkim);
  return ((performance.now() - started) * 1000) / count;
}

const rows = [];
for (const [label, keys] of [
  ['unsigned', []],
  ['RSA-2048', [rsa]],
  ['Ed25519', [ed]],
  ['RSA-2048 + Ed25519', [rsa, ed]],
] as [string, DkimKey[]][]) {
  const r = await run(label, signing(keys));
  rows.push({ ...r, signUs: keys.length ? await signOnly(signing(keys)!) : 0 });
}

console.log(`\n${N} messages of ~2 kB, concurrency ${CONCURRENCY}, ${POOL} SMTP connections to a local smtp-server sink\n`);
console.log('| signing | throughput | vs unsigned | signer alone, per message |');
console.log('|---|---|---|---|');
const base = rows[0]!.rate;
for (const r of rows) {
  console.log(`| ${r.label} | ${r.rate.toFixed(0)} msg/s | ${(r.rate / base).toFixed(2)} | ${r.signUs ? `${r.signUs.toFixed(0)} µs` : '-'} |`);
}
await new Promise<void>((r) => sink.close(() => r()));
