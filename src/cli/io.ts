// What a subcommand may touch of the process: its output streams, stdin, the
// environment and the name it was invoked by, so tests run commands in-process
// and `kubectl postmaster` prints its own name in help.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.ts';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** All of stdin, read on demand (only `validate -` needs it). */
  stdin(): string;
  /** Whether stdout is a terminal: colour and progress only then. */
  isTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** "postmaster", or "kubectl postmaster" when run as a kubectl plugin. */
  prog: string;
  /** Aborted on SIGINT: long waits end early. */
  signal?: AbortSignal;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict flag parsing with -h/--help on every subcommand; unknown flags are usage errors. */
export function parseFlags<const O extends Options>(argv: readonly string[], options: O) {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usageError((err as Error).message.split('\n')[0]!);
  }
}

/** A flag that takes one of a few words. */
export function oneOf<const W extends string>(flag: string, value: string | undefined, words: readonly W[], fallback: W): W {
  if (value === undefined) return fallback;
  if ((words as readonly string[]).includes(value)) return value as W;
  throw usageError(`${flag}: "${value}" is not one of ${words.join(', ')}`);
}

/** Go-style durations as kubectl takes them: 30s, 2m, 1m30s, 500ms. */
export function parseWait(flag: string, value: string): number {
  if (value === '0') return 0;
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(value);
  if (!m || value === '' || m.slice(1).every((g) => g === undefined)) {
    throw usageError(`${flag}: "${value}" is not a duration like 30s, 2m or 1m30s`);
  }
  const [h, min, s, ms] = m.slice(1).map((g) => Number(g ?? 0)) as [number, number, number, number];
  return ((h * 60 + min) * 60 + s) * 1000 + ms;
}
