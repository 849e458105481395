// Socket plumbing shared by the IMAP and POP3 checks: TLS options from the
// endpoint, and a tracker that closes every socket a check opened and waits
// until their handles are gone, so no path leaves a socket behind.
import { isIP, type Socket } from 'node:net';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import type { MailboxEndpoint } from '../types.ts';

/** Node TLS options for the endpoint: CA, server name (SNI and verification), minimum version, verification. */
export function tlsOptions(endpoint: MailboxEndpoint): ConnectionOptions {
  const t = endpoint.tls ?? {};
  const opts: ConnectionOptions = { host: endpoint.host, port: endpoint.port };
  if (t.ca !== undefined) opts.ca = t.ca;
  if (t.minVersion !== undefined) opts.minVersion = t.minVersion;
  if (t.insecureSkipVerify) opts.rejectUnauthorized = false;
  const name = t.serverName ?? endpoint.host;
  if (isIP(name) === 0) {
    // SNI and the certificate check both use the name.
    opts.servername = name;
  } else if (t.serverName !== undefined) {
    // An IP address cannot be sent as SNI; verify the certificate against it all the same.
    opts.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert);
  }
  return opts;
}

/** Every socket a check opened; closeAll() destroys them and resolves once their handles are closed. */
export class SocketTracker {
  /** Each socket with a promise of its 'close' event, which Node emits once the handle is gone. */
  readonly #sockets = new Map<Socket, Promise<void>>();

  add<S extends Socket>(socket: S): S {
    // `socket.closed` turns true before the handle is closed, so the event is what counts.
    this.#sockets.set(socket, new Promise<void>((resolve) => socket.once('close', () => resolve())));
    // A late error after the check ended (a reset during teardown) must not become an uncaught exception.
    socket.on('error', () => undefined);
    return socket;
  }

  /**
   * Destroys every socket and waits for their 'close' events (at most `capMs`, so a socket
   * Node never reports closed cannot hang a check). Safe to call more than once.
   */
  async closeAll(capMs = 2000): Promise<void> {
    for (const socket of this.#sockets.keys()) socket.destroy();
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, capMs)));
    try {
      await Promise.race([Promise.all(this.#sockets.values()), cap]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Runs `work` unless the signal is (or becomes) aborted. On abort, `onAbort` tears the
 * connection down; once `work` has settled (and so cleaned up), the promise rejects
 * with the signal's reason, like fetch().
 */
export async function abortable<T>(
  signal: AbortSignal | undefined,
  onAbort: () => void,
  work: () => Promise<T>,
): Promise<T> {
  if (!signal) return work();
  signal.throwIfAborted();
  const listener = (): void => onAbort();
  signal.addEventListener('abort', listener, { once: true });
  try {
    const result = await work();
    signal.throwIfAborted();
    return result;
  } catch (err) {
    signal.throwIfAborted();
    throw err;
  } finally {
    signal.removeEventListener('abort', listener);
  }
}
