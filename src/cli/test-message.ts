// `postmaster test`: asks the operator for a test message exactly as a person
// would (the email.postmaster.dev/test-to annotation, with a fresh value so it
// is sent even if the same address was tested before), then waits for the
// operator to record the outcome in status.testMessage.
import type { EmailServer, EmailServerStatus } from '../api/index.ts';
import { KubeError, objectPath } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
import { connect, connectionFlags, CONNECTION_HELP, unavailable, type Connection } from './cluster.ts';
import { CliError, CliErrorCode, ExitCode, EXIT_CODES_HELP, usageError } from './errors.ts';
import { oneOf, parseFlags, parseWait, type Io } from './io.ts';
import { parseTarget } from './status/command.ts';

/** The controller's annotation (README: "A test message on demand"). */
export const TEST_TO_ANNOTATION = 'email.postmaster.dev/test-to';
const FIELD_MANAGER = 'postmaster-cli';

export const testHelp = (prog: string) => `Usage: ${prog} test emailserver/NAME [--to ADDRESS] [--wait 60s]

Sends a test message through an EmailServer: sets the ${TEST_TO_ANNOTATION}
annotation to the address and a fresh nonce (so it is sent even when the same
address was tested before), waits for the operator to record the result in
status.testMessage, and prints it. The annotation stays on the object, as if
set with kubectl annotate.

Flags:
      --to ADDRESS       recipient (default: the server's spec.testRecipient)
      --wait DURATION    how long to wait for the result (default 60s; 0: do not wait)
  -o, --output FORMAT    text (default) or json (status.testMessage)
${CONNECTION_HELP}
  -h, --help             this help

The exit code is 0 when the upstream accepted the message, 1 when it refused it,
4 when no result came within --wait.
${EXIT_CODES_HELP}`;

type TestMessage = NonNullable<EmailServerStatus['testMessage']>;
const ADDRESS = /^[^\s<>()[\],;:"@#]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$/;

async function readServer(conn: Connection, namespace: string, name: string): Promise<EmailServer> {
  try {
    return await conn.client.get<EmailServer>(objectPath(resources.emailServer, namespace, name));
  } catch (err) {
    if (err instanceof KubeError && err.status === 404) {
      throw new CliError(CliErrorCode.NotFound, `EmailServer "${namespace}/${name}" not found`, { cause: err });
    }
    throw unavailable(err, conn.client.server);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

function describe(t: TestMessage, where: string): string {
  const id = t.messageId ? ` (message id ${t.messageId})` : '';
  const verdict = t.result === 'Sent' ? `accepted by the upstream${id}` : 'refused';
  return `${t.result}: test message to ${t.recipient || '(no recipient)'} through EmailServer ${where} ${verdict} at ${t.sentAt}.\n  ${t.message}\n`;
}

export async function runTest(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { values, positionals } = parseFlags(argv, {
    ...connectionFlags,
    to: { type: 'string' },
    wait: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help) {
    io.stdout(testHelp(io.prog));
    return ExitCode.Ok;
  }
  const output = oneOf('--output', values.output, ['text', 'json'], 'text');
  const waitMs = parseWait('--wait', values.wait ?? '60s');
  const target = parseTarget(positionals);
  if (!target || target.kind !== 'EmailServer') throw usageError('name the server: emailserver/NAME');
  if (values.to !== undefined && !ADDRESS.test(values.to)) throw usageError(`--to: "${values.to}" is not an email address`);

  const conn = connect(values);
  try {
    const ns = conn.namespace;
    const where = `${ns}/${target.name}`;
    const server = await readServer(conn, ns, target.name);
    if (values.to === undefined && !server.spec.testRecipient) {
      throw usageError(`EmailServer "${where}" has no spec.testRecipient: name the recipient with --to`);
    }
    // "true" asks the controller for spec.testRecipient; what follows # is a nonce it ignores.
    const value = `${values.to ?? 'true'} #${FIELD_MANAGER} ${new Date().toISOString()}`;
    try {
      await conn.client.request('PATCH', objectPath(resources.emailServer, ns, target.name), {
        patch: 'merge',
        body: { metadata: { annotations: { [TEST_TO_ANNOTATION]: value } } },
        query: { fieldManager: FIELD_MANAGER },
      });
    } catch (err) {
      throw unavailable(err, conn.client.server);
    }
    if (waitMs === 0) {
      io.stdout(output === 'json' ? JSON.stringify({ requested: value }) + '\n' : `Requested a test message: ${TEST_TO_ANNOTATION}=${value}\n`);
      return ExitCode.Ok;
    }
    const deadline = Date.now() + waitMs;
    for (;;) {
      const t = (await readServer(conn, ns, target.name)).status?.testMessage;
      if (t?.annotation === value) {
        io.stdout(output === 'json' ? JSON.stringify(t, null, 2) + '\n' : describe(t, where));
        return t.result === 'Sent' ? ExitCode.Ok : ExitCode.No;
      }
      if (Date.now() >= deadline || io.signal?.aborted) break;
      await sleep(Math.min(500, Math.max(0, deadline - Date.now())), io.signal);
    }
    if (io.signal?.aborted) {
      throw new CliError(CliErrorCode.Timeout, `interrupted before a result; the operator still sends it (${TEST_TO_ANNOTATION}=${value}).`);
    }
    throw new CliError(
      CliErrorCode.Timeout,
      `no result for the test message within ${values.wait ?? '60s'}: is the operator running, watching namespace "${ns}", ` +
        `with connection tests on? It sends the message when it gets to it (${TEST_TO_ANNOTATION}=${value}).`,
    );
  } finally {
    conn.close();
  }
}
