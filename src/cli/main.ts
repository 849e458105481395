// `postmaster`: the command line for GitOps pipelines (validate, offline) and
// operators on call (status, test, against the cluster of the kubeconfig).
// Also a kubectl plugin: installed as `kubectl-postmaster` it answers to
// `kubectl postmaster ...`.
import { basename } from 'node:path';
import { readFileSync } from 'node:fs';
import { CliError, CliErrorCode, ExitCode, EXIT_CODES_HELP } from './errors.ts';
import type { Io } from './io.ts';

interface Subcommand {
  help: (prog: string) => string;
  run: (argv: readonly string[], io: Io) => ExitCode | Promise<ExitCode>;
}

// Loaded on use: validate, which CI runs, never loads the Kubernetes client.
const subcommands: Record<string, { summary: string; load: () => Promise<Subcommand> }> = {
  validate: {
    summary: 'check manifests offline against the CRDs, their defaults and CEL rules',
    load: async () => import('./validate/command.ts').then((m) => ({ help: m.validateHelp, run: m.runValidate })),
  },
  status: {
    summary: 'the tree from identities to servers, targets and Secrets, with Ready',
    load: async () => import('./status/command.ts').then((m) => ({ help: m.statusHelp, run: m.runStatus })),
  },
  test: {
    summary: 'send a test message through an EmailServer and wait for the result',
    load: async () => import('./test-message.ts').then((m) => ({ help: m.testHelp, run: m.runTest })),
  },
};

export const mainHelp = (prog: string) => `Usage: ${prog} COMMAND [flags]

Commands:
${Object.entries(subcommands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

\`${prog} COMMAND --help\` tells more of each.

${EXIT_CODES_HELP}`;

export async function main(argv: readonly string[], io: Io): Promise<ExitCode> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      const topic = name === 'help' && rest[0] ? subcommands[rest[0]] : undefined;
      io.stdout(topic ? (await topic.load()).help(io.prog) : mainHelp(io.prog));
      return ExitCode.Ok;
    }
    if (!Object.hasOwn(subcommands, name)) throw new CliError(CliErrorCode.Usage, `unknown command "${name}"`, { showHelp: true });
    const sub = await subcommands[name]!.load();
    try {
      return await sub.run(rest, io);
    } catch (err) {
      if (err instanceof CliError && err.showHelp) {
        io.stderr(`${io.prog} ${name}: ${err.message}\n\n${sub.help(io.prog)}`);
        return err.exitCode;
      }
      throw err;
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`${io.prog}: ${err.message}\n${err.showHelp ? `\n${mainHelp(io.prog)}` : ''}`);
      return err.exitCode;
    }
    io.stderr(`${io.prog}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.Unavailable;
  }
}

/** The real process: its streams, environment and the name it was started as. */
export function processIo(): Io {
  const invokedAs = basename(process.argv[1] ?? 'postmaster').replace(/\.(ts|js)$/, '');
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stdin: () => readFileSync(0, 'utf8'),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
    prog: invokedAs === 'kubectl-postmaster' ? 'kubectl postmaster' : 'postmaster',
    signal: controller.signal,
  };
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2), processIo());
}
