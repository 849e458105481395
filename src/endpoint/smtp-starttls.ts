// STARTTLS first: when the SMTP door has a certificate, a connection that has not
// upgraded yet is not offered AUTH at all. smtp-server lists AUTH in every EHLO and
// refuses it with 538 before STARTTLS, so clients that trust the EHLO list send
// the password in clear first. smtp-server has no option for this, so each new
// connection's EHLO handler is wrapped to leave AUTH out until the session is secure.
import type { SMTPServer } from 'smtp-server';

/** The parts of smtp-server's per-connection object this relies on (pinned version, covered by tests). */
interface Connection {
  secure: boolean;
  handler_EHLO(command: Buffer, callback: () => void): void;
  _isSupported(command: string): boolean;
}

interface ServerInternals {
  connections: Set<Connection>;
  connect(socket: unknown, options: unknown): void;
}

export function offerAuthOnlyAfterStarttls(server: SMTPServer): void {
  const internals = server as unknown as ServerInternals;
  const connect = internals.connect.bind(server);
  internals.connect = (socket, options) => {
    connect(socket, options);
    // Set iteration is insertion order: the connection just made is the last one.
    let latest: Connection | undefined;
    for (const c of internals.connections) latest = c;
    if (latest) hideAuthUntilSecure(latest);
  };
}

function hideAuthUntilSecure(connection: Connection): void {
  const ehlo = connection.handler_EHLO;
  connection.handler_EHLO = function (this: Connection, command, callback) {
    if (this.secure) return ehlo.call(this, command, callback);
    const isSupported = this._isSupported;
    this._isSupported = (name) => name !== 'AUTH' && isSupported.call(this, name);
    try {
      ehlo.call(this, command, callback);
    } finally {
      this._isSupported = isSupported;
    }
  };
}
