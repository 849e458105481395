// Whether a process group still runs, for test servers started in a group of their own.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Whether a live process of the group is left. Zombies (and the dead state X) do
 * not count: they hold no sockets, and orphans wait for PID 1 to reap them,
 * which here can take seconds.
 */
export function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its closing paren.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}
