// Small shared pieces of the relay benchmark: the message body, percentiles,
// process memory, and the CPU profile's self-time summary.
import { readFileSync } from 'node:fs';

export interface LoadResult {
  messages: number;
  seconds: number;
  msgPerSec: number;
  p50Ms: number;
  p99Ms: number;
  latenciesUs?: number[];
  /** CPU time the sending process spent on these messages (all its threads), when known. */
  cpuSeconds?: number;
}

/** The same body smtp-load sends: lines of 75 characters, about `size` bytes. */
export function bodyText(size: number): string {
  return ('x'.repeat(75) + '\r\n').repeat(Math.max(1, Math.floor(size / 77)));
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Several runs of the same path as one: messages and time added, percentiles of all latencies. */
export function merge(runs: LoadResult[]): LoadResult {
  const messages = runs.reduce((n, r) => n + r.messages, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const all = runs.flatMap((r) => r.latenciesUs ?? []).sort((a, b) => a - b);
  const cpuSeconds = runs.every((r) => r.cpuSeconds !== undefined) ? runs.reduce((n, r) => n + r.cpuSeconds!, 0) : undefined;
  return { messages, seconds, msgPerSec: messages / seconds, p50Ms: percentile(all, 50) / 1000, p99Ms: percentile(all, 99) / 1000, ...(cpuSeconds === undefined ? {} : { cpuSeconds }) };
}

export interface Memory {
  rssMiB: number;
  hwmMiB: number;
}

/** VmRSS and VmHWM (peak RSS) of a live process, from /proc/<pid>/status. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

// Clock ticks per second of /proc/<pid>/stat's times: USER_HZ, 100 on Linux (getconf CLK_TCK).
const USER_HZ = 100;

/**
 * CPU seconds a live process has used, all its threads, user and system, from
 * /proc/<pid>/stat. Unlike msg/s, CPU per message barely moves when a neighbour
 * takes the machine's cores for a while, so it shows a change of a few percent.
 */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Where a frame's code lives: a package under node_modules, a file of src/, Node's own, or native. */
function owner(f: ProfileNode['callFrame']): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f.url);
  if (pkg) return pkg[1]!;
  const src = /\/(src\/.*)$/.exec(f.url);
  if (src) return src[1]!;
  if (f.url.startsWith('node:')) return 'node:internal';
  return f.url ? f.url : f.functionName.startsWith('(') ? f.functionName : `native ${f.functionName}`;
}

/**
 * Self time per function of a V8 .cpuprofile (by: 'function'), or per package or
 * source file (by: 'owner'), largest first, as shares of the whole.
 */
export function selfTimes(path: string, top: number, by: 'function' | 'owner' = 'function'): { name: string; ms: number; share: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time before sample i; the time after it belongs to it.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const f = byId.get(id)!.callFrame;
    const where = f.url ? ` ${f.url.replace(/^file:\/\/.*?\/node_modules\//, '').replace(/^file:\/\/.*?\/(src\/)/, '$1')}:${f.lineNumber + 1}` : '';
    const name = by === 'owner' ? owner(f) : `${f.functionName || '(anonymous)'}${where}`;
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
}
