// Renders manifests/ from the Helm chart, the way cert-manager's static manifests
// come from its chart: the chart is the one source, and a test fails when what
// is committed differs from what this script writes.
//
//   node scripts/render-manifests.ts           write (npm run manifests)
//   node scripts/render-manifests.ts --check   exit 1 and name the files that differ
//
// It first copies crds/ (generated from src/api) into the chart, so the chart,
// manifests/ and crds/ carry the same CRDs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { renderManifests, type RenderedFile } from './lib/manifests.ts';

const repo = join(import.meta.dirname, '..');

function helmBinary(): string {
  if (process.env.HELM) return process.env.HELM;
  const out = execFileSync('bash', [join(repo, 'test', 'helm', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = out.trim().split('\n').pop();
  if (!path) throw new Error('test/helm/build.sh printed no path');
  return path;
}

const check = process.argv.includes('--check');
const files: RenderedFile[] = renderManifests(repo, helmBinary());

// Files this script owns: everything under manifests/ and the chart's CRD copies.
const owned = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(repo, join(e.parentPath, e.name)))
    : [];
const current = new Set([...owned(join(repo, 'manifests')), ...owned(join(repo, 'charts', 'postmaster', 'files', 'crds'))]);

const differ: string[] = [];
for (const f of files) {
  current.delete(f.path);
  const abs = join(repo, f.path);
  const old = existsSync(abs) ? readFileSync(abs, 'utf8') : undefined;
  if (old === f.content) continue;
  differ.push(f.path);
  if (!check) {
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, f.content);
    console.log(`wrote ${f.path}`);
  }
}
for (const stale of current) {
  differ.push(stale);
  if (!check) {
    rmSync(join(repo, stale));
    console.log(`removed ${stale}`);
  }
}
if (check && differ.length > 0) {
  console.error(`out of date (run npm run manifests): ${differ.join(', ')}`);
  process.exit(1);
}
