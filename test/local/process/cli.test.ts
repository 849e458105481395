// The operator process as users start it: flags validated at start with a
// clear error, and the compiled dist/ runs like the TypeScript sources.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..', '..');
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, args, { cwd: repo }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('postmaster command line', () => {
  it.each([
    [['--workers=0'], '--workers: "0" is not an integer from 1 to 64'],
    [['--resync=soon'], '--resync: "soon" is not a duration like 30s, 10m or 1h'],
    [['--leader-election=maybe'], '--leader-election: "maybe" is not true or false'],
    [['--namespaces=Bad_Name'], '--namespaces: "Bad_Name" is not a namespace name'],
    [['--sendgrid-api-url=not a url'], '--sendgrid-api-url: "not a url" is not a URL'],
    [['--graph-api-url=not a url'], '--graph-api-url: "not a url" is not a URL'],
    [['--smtp-tls-cert=/tmp/c.pem'], '--smtp-tls-cert and --smtp-tls-key go together'],
    [['--lease-duration=5s', '--renew-deadline=10s'], '--renew-deadline must be shorter than --lease-duration'],
    [['--dns-server=dns.example.com'], '--dns-server: "dns.example.com" is not an IP address with an optional port'],
    [['--dns-server=10.0.0.10:99999'], '--dns-server: "10.0.0.10:99999" is not an IP address with an optional port'],
    [['--no-such-flag'], "Unknown option '--no-such-flag'"],
    [['--kubeconfig=/nonexistent/kubeconfig'], 'cannot load kubeconfig "/nonexistent/kubeconfig"'],
  ])('%s exits 2 naming the problem', async (args, message) => {
    const r = await run([join(repo, 'src', 'main.ts'), ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`postmaster: ${message}`);
  });

  it('environment variables stand in for flags', async () => {
    const r = await promisify(execFile)(process.execPath, [join(repo, 'src', 'main.ts')], {
      env: { ...process.env, POSTMASTER_WORKERS: 'many' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toContain('--workers: "many"');
  });

  it('builds to dist/ with tsc, and the built entry point runs', { timeout: 120_000 }, async () => {
    // Inside the repository, so the built files resolve node_modules as dist/ does.
    mkdirSync(join(repo, '.cache'), { recursive: true });
    const out = mkdtempSync(join(repo, '.cache', 'dist-'));
    const tsc = await run([join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json'), '--outDir', out]);
    expect(tsc.stdout + tsc.stderr).toBe('');
    const help = await run([join(out, 'main.js'), '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--leader-election-namespace');
    rmSync(out, { recursive: true, force: true });
  });
});
