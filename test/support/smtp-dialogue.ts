// A raw SMTP client for tests: one command, one reply, over a net.Socket (TLS after
// STARTTLS), so a test can send exactly the bytes it means (bare CR, NUL, SIZE=...)
// and read exactly the replies a client MTA would.
import net from 'node:net';
import tls from 'node:tls';

export interface SmtpReplyLine {
  code: number;
  /** Text of each line, without the code and separator. */
  lines: string[];
  /** All lines joined by a space. */
  text: string;
}

export interface SmtpDialogue {
  greeting: SmtpReplyLine;
  /** Writes `line` + CRLF and reads one reply. */
  command(line: string): Promise<SmtpReplyLine>;
  /** Writes `bytes` exactly as given (no CRLF added, no dot-stuffing) and reads one reply. */
  send(bytes: Buffer | string): Promise<SmtpReplyLine>;
  /** Writes `bytes` exactly as given and reads nothing (a client part-way through DATA). */
  write(bytes: Buffer | string): void;
  /** Sends DATA, then the message (dot-stuffed, ended with CRLF.CRLF); resolves with the reply to DATA and to the message. */
  data(raw: Buffer | string): Promise<{ start: SmtpReplyLine; end?: SmtpReplyLine }>;
  startTls(options: { ca: string; servername?: string }): Promise<void>;
  /** Resolves once the server closed the connection (after a 421, say). */
  closed: Promise<void>;
  /** QUIT if still open, then destroy the socket. */
  close(): Promise<void>;
}

export const authPlain = (username: string, password: string) =>
  `AUTH PLAIN ${Buffer.from(`\0${username}\0${password}`).toString('base64')}`;

export async function openDialogue(port: number, host = '127.0.0.1'): Promise<SmtpDialogue> {
  let socket: net.Socket = net.connect({ port, host });
  socket.setNoDelay(true);
  let buffer = '';
  const replies: SmtpReplyLine[] = [];
  const waiting: { resolve(r: SmtpReplyLine): void; reject(e: Error): void }[] = [];
  let ended = false;
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));

  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const pending: string[] = [];
    for (;;) {
      const nl = buffer.indexOf('\r\n');
      if (nl < 0) break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 2);
      pending.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const taken = pending.splice(0);
        const r = { code: Number(line.slice(0, 3)), lines: taken.map((l) => l.slice(4)), text: taken.map((l) => l.slice(4)).join(' ') };
        const w = waiting.shift();
        if (w) w.resolve(r);
        else replies.push(r);
      }
    }
    if (pending.length) buffer = `${pending.join('\r\n')}\r\n${buffer}`;
  };
  const onClose = () => {
    ended = true;
    for (const w of waiting.splice(0)) w.reject(new Error('connection closed before a reply'));
    markClosed();
  };
  const wire = (s: net.Socket) => {
    s.on('data', onData);
    s.on('error', () => undefined);
    s.once('close', onClose);
  };
  wire(socket);

  const read = () =>
    new Promise<SmtpReplyLine>((resolve, reject) => {
      const r = replies.shift();
      if (r) return resolve(r);
      if (ended) return reject(new Error('connection closed before a reply'));
      waiting.push({ resolve, reject });
    });

  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const greeting = await read();

  const dialogue: SmtpDialogue = {
    greeting,
    closed,
    command(line) {
      socket.write(`${line}\r\n`);
      return read();
    },
    send(bytes) {
      socket.write(bytes);
      return read();
    },
    write(bytes) {
      socket.write(bytes);
    },
    async data(raw) {
      const start = await dialogue.command('DATA');
      if (start.code !== 354) return { start };
      const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
      // Dot-stuffing on CRLF line starts only: a bare CR or LF is sent as it is.
      const stuffed = Buffer.from(bytes.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
      const tail = stuffed.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n';
      socket.write(Buffer.concat([stuffed, Buffer.from(tail)]));
      return { start, end: await read() };
    },
    async startTls({ ca, servername = 'localhost' }) {
      const r = await dialogue.command('STARTTLS');
      if (r.code !== 220) throw new Error(`STARTTLS refused: ${r.code} ${r.text}`);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      const secure = tls.connect({ socket, ca, servername });
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      socket = secure;
      wire(secure);
    },
    async close() {
      if (!ended && socket.writable) {
        socket.write('QUIT\r\n');
        await Promise.race([closed, new Promise((r) => setTimeout(r, 500).unref())]);
      }
      socket.destroy();
      await closed;
    },
  };
  return dialogue;
}
