// Second connections that tell a TLS/plain-text mix-up apart from other failures,
// and the wait for a socket to connect.
import net from 'node:net';
import tls from 'node:tls';
import { printable } from './naming.ts';

/** Resolves on `success`, rejects on 'error' or 'close'; removes its listeners either way. */
export function settle(socket: net.Socket, success: 'connect' | 'secureConnect'): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off(success, onSuccess);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onSuccess = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => onError(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
    socket.once(success, onSuccess);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/** Reads the first line a server sends in plain text, if any (to diagnose a TLS/plain mix-up). */
export async function probePlainGreeting(address: string, port: number, ms: number): Promise<string | undefined> {
  if (!address) return undefined;
  const socket = net.connect({ host: address, port });
  return settleProbe(socket, ms, (done) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
      const line = data.split(/\r?\n/)[0] ?? '';
      if (data.includes('\n') || data.length > 512) done(/^[2-5]\d\d[ -]/.test(line) ? printable(line) : undefined);
    });
  });
}

/** Whether a TLS handshake succeeds where no plain greeting came (to diagnose the reverse mix-up). */
export async function probeTls(address: string, port: number, ms: number): Promise<boolean> {
  if (!address) return false;
  const socket = tls.connect({ host: address, port, rejectUnauthorized: false });
  return (await settleProbe(socket, ms, (done) => socket.once('secureConnect', () => done(true)))) ?? false;
}

/** Runs a probe on `socket` for at most `ms`; always destroys the socket and waits for it. */
function settleProbe<T>(socket: net.Socket, ms: number, run: (done: (value: T | undefined) => void) => void): Promise<T | undefined> {
  return new Promise((resolve) => {
    let value: T | undefined;
    const timer = setTimeout(() => done(undefined), ms);
    const done = (v: T | undefined) => {
      value = v;
      clearTimeout(timer);
      socket.destroy();
    };
    socket.on('error', () => done(undefined));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(value);
    });
    run(done);
  });
}
