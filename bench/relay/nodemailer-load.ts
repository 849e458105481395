// The HTTP door's peer, run as a process of its own (as the operator is): pooled
// nodemailer composing the same message the HTTP door composes (From, To, Subject,
// text body) straight to the sink, at the same concurrency. Prints one JSON line
// in the shape of smtp-load's, with the process's CPU time over the measured run.
//
//   node bench/relay/nodemailer-load.ts PORT MESSAGES CONCURRENCY POOL SIZE
import { createTransport } from 'nodemailer';
import { bodyText, percentile } from './report.ts';

const [port, messages, concurrency, pool, size] = process.argv.slice(2).map(Number) as [number, number, number, number, number];
const transport = createTransport({
  host: '127.0.0.1',
  port,
  secure: false,
  ignoreTLS: true,
  pool: true,
  maxConnections: pool,
  maxMessages: Infinity,
});
const text = bodyText(size);
const send = (i: number) =>
  transport.sendMail({ from: '"Bench" <bench@example.com>', to: [`rcpt${i}@example.com`], subject: `bench message ${i}`, text });

async function run(n: number): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const t = performance.now();
        await send(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies };
}

await run(Math.min(500, messages)); // warm-up: pool connections, JIT
const cpuBefore = process.cpuUsage();
const { seconds, latencies } = await run(messages);
const cpu = process.cpuUsage(cpuBefore);
transport.close();
latencies.sort((a, b) => a - b);
console.log(
  JSON.stringify({ messages: latencies.length, seconds, msgPerSec: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), cpuSeconds: (cpu.user + cpu.system) / 1e6 }),
);
