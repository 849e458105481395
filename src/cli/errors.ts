// Every way the `postmaster` command can fail, in one catalogue: a stable code
// for scripts that read `-o json`, and the exit code it ends the process with.
// Exit codes are part of the interface (README "Command line"): change none.

export const ExitCode = {
  /** The answer is yes: manifests valid, everything Ready, the test message accepted. */
  Ok: 0,
  /** The answer is no: problems found, something not Ready, the test message refused. */
  No: 1,
  /** The command line itself is wrong. */
  Usage: 2,
  /** No answer could be had: a file or the cluster could not be read, an object does not exist. */
  Unavailable: 3,
  /** No answer in time: `test --wait` ran out before the operator recorded a result. */
  Timeout: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const CliErrorCode = {
  Usage: 'POSTMASTER_CLI_USAGE',
  FileUnreadable: 'POSTMASTER_CLI_FILE_UNREADABLE',
  KubeconfigUnloadable: 'POSTMASTER_CLI_KUBECONFIG',
  ClusterUnreachable: 'POSTMASTER_CLI_CLUSTER_UNREACHABLE',
  Forbidden: 'POSTMASTER_CLI_FORBIDDEN',
  NotFound: 'POSTMASTER_CLI_NOT_FOUND',
  Timeout: 'POSTMASTER_CLI_TIMEOUT',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

const exitCodes: Record<CliErrorCode, ExitCode> = {
  POSTMASTER_CLI_USAGE: ExitCode.Usage,
  POSTMASTER_CLI_FILE_UNREADABLE: ExitCode.Unavailable,
  POSTMASTER_CLI_KUBECONFIG: ExitCode.Unavailable,
  POSTMASTER_CLI_CLUSTER_UNREACHABLE: ExitCode.Unavailable,
  POSTMASTER_CLI_FORBIDDEN: ExitCode.Unavailable,
  POSTMASTER_CLI_NOT_FOUND: ExitCode.Unavailable,
  POSTMASTER_CLI_TIMEOUT: ExitCode.Timeout,
};

export class CliError extends Error {
  readonly code: CliErrorCode;
  /** For usage errors: print the subcommand's help after the message. */
  readonly showHelp: boolean;

  constructor(code: CliErrorCode, message: string, opts: { showHelp?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CliError';
    this.code = code;
    this.showHelp = opts.showHelp ?? false;
  }

  get exitCode(): ExitCode {
    return exitCodes[this.code];
  }
}

export const usageError = (message: string) => new CliError(CliErrorCode.Usage, message, { showHelp: true });

/** The exit codes as `--help` prints them. */
export const EXIT_CODES_HELP = `Exit codes:
  0  yes: valid, Ready, or the test message was accepted
  1  no: problems found, something not Ready, or the test message was refused
  2  the command line is wrong
  3  no answer: a file or the cluster could not be read, or the object does not exist
  4  no answer in time (test --wait)
`;
