// The `postmaster` command as users run it: the package's bin, as a child process.
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '..', '..');
export const POSTMASTER_BIN = join(repo, 'bin', 'postmaster.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function postmaster(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    // process.execPath: the Node the tests run on (the pinned one under npm scripts).
    const child = execFile(
      process.execPath,
      [POSTMASTER_BIN, ...args],
      { cwd: opts.cwd ?? repo, env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}
