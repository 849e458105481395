// How the SMTP checks name things: error codes, sentences, printable server text, and our EHLO name.
import net from 'node:net';
import { hostname } from 'node:os';

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object') {
    const { code, message } = err as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code) return code;
    if (typeof message === 'string' && message) return message;
  }
  return String(err);
}

/** Messages are sentences: a capital first letter, whatever step wrote them. */
export function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 120)}…` : clean;
}

/** Our EHLO name: the host name when it is qualified, else the address literal. */
export function clientName(socket: net.Socket | undefined): string {
  const name = hostname();
  if (name.includes('.')) return name;
  const local = socket?.localAddress ?? '127.0.0.1';
  return net.isIPv6(local) ? `[IPv6:${local}]` : `[${local}]`;
}
