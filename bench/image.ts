// How the image runs the operator, read from the Dockerfile, so the benchmarks run
// it the same way: the Node flags of the ENTRYPOINT and the ENV of the final stage
// (MALLOC_ARENA_MAX and the like change memory as much as the flags do).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ImageRuntime {
  nodeArgs: string[];
  env: Record<string, string>;
}

export function imageRuntime(repo: string): ImageRuntime {
  const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of finalStage.matchAll(/^ENV ([A-Za-z_][A-Za-z0-9_]*)=(\S+)$/gm)) env[m[1]!] = m[2]!;
  return { nodeArgs: entrypoint.filter((a) => a.startsWith('--')), env };
}
