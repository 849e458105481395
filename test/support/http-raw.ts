// A raw HTTP/1.1 client for tests that must send exactly the bytes they mean:
// broken framing, invalid UTF-8, a body that trickles in or never finishes.
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** The status line and header fields, as received. */
  headers: string;
  /** The body parsed as JSON (undefined when empty). */
  body: unknown;
}

export interface RawHttpOptions {
  /** Wait this long before each chunk after the first (a slow client). */
  gapMs?: number;
  /** Give up (and fail) after this long without the server closing (default 15 s). */
  timeoutMs?: number;
}

/**
 * Writes `chunks` (then nothing more) and reads until the server closes the
 * connection. Send `Connection: close` when the request may succeed.
 */
export function rawHttp(port: number, chunks: (string | Buffer)[], opts: RawHttpOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const data: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${opts.timeoutMs ?? 15_000} ms`));
    }, opts.timeoutMs ?? 15_000);
    socket.on('data', (c: Buffer) => data.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      for (const t of timers) clearTimeout(t);
      const text = Buffer.concat(data).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (!status) return reject(new Error(`no HTTP response: ${JSON.stringify(text)}`));
      const rest = split < 0 ? '' : text.slice(split + 4);
      resolve({ status, headers: head, body: rest ? JSON.parse(rest) : undefined });
    });
    socket.on('connect', () => {
      chunks.forEach((c, i) => {
        if (!opts.gapMs || i === 0) return void socket.write(c);
        timers.push(setTimeout(() => socket.writable && socket.write(c), i * opts.gapMs));
      });
    });
  });
}
