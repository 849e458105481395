// The CRDs as users meet them: generated, applied with kubectl, explained, and strict.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { API_VERSION, crdFiles, kinds } from '../../../src/api/index.ts';
import { renderYaml } from '../../../src/api/render.ts';
import { undocumentedFields, type JsonSchema } from '../../../src/api/schema.ts';
import { createNamespace, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { invalidCases } from './invalid-manifests.ts';

const repo = join(import.meta.dirname, '..', '..', '..');

describe('generated CRDs', () => {
  it('crds/ matches src/api (run `npm run generate` after changing the API)', () => {
    for (const { file, content } of crdFiles(renderYaml)) {
      expect(readFileSync(join(repo, 'crds', file), 'utf8'), `crds/${file} is out of date`).toBe(content);
    }
    expect(readdirSync(join(repo, 'crds')).sort()).toEqual(crdFiles(renderYaml).map((f) => f.file).sort());
  });

  it('documents every field', () => {
    for (const k of kinds) {
      expect(undocumentedFields(k.spec, `${k.kind}.spec`)).toEqual([]);
      expect(undocumentedFields(k.status, `${k.kind}.status`)).toEqual([]);
    }
  });
});

describe('examples against the real API server', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace('examples');
  });

  it('accepts every example with server-side apply and lists them with printer columns', async () => {
    const files = readdirSync(join(repo, 'examples')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const file of files) {
      // Examples that name their own namespaces (the cross-namespace one) apply as written.
      const own = /^\s+namespace:/m.test(readFileSync(join(repo, 'examples', file), 'utf8'));
      const r = await kubectl(['apply', '--server-side', ...(own ? [] : ['-n', ns]), '-f', join(repo, 'examples', file)]);
      expect(r.stderr, file).toBe('');
      expect(r.code, `${file}: ${r.stderr}`).toBe(0);
    }
    const servers = await kubectlOk(['get', 'emailservers', '-n', ns]);
    expect(servers.split('\n')[0]).toMatch(/^NAME\s+PROVIDER\s+DEFAULT\s+IN USE\s+READY\s+REASON\s+AGE$/);
    expect(servers).toMatch(/sendgrid\s+SendGrid\s+false/);
    expect(servers).toMatch(/internal-relay\s+SMTP\s+true/);

    const all = await kubectlOk(['get', 'email', '-A']);
    expect(all).toMatch(/smtptarget\.email\.postmaster\.dev\/office365\s+smtp\.office365\.com\s+587\s+STARTTLS/);
    expect(all).toMatch(/emailserver\.email\.postmaster\.dev\/sparkpost-eu\s+SparkPost/);
    expect(all).toMatch(/senderidentity\.email\.postmaster\.dev\/alerts\s+alerts@example\.com/);
    // The cross-namespace example brings its own namespaces.
    expect(all).toMatch(/team-checkout\s+senderidentity\.email\.postmaster\.dev\/checkout-receipts/);

    // Defaults are filled in by the API server, visible to GitOps diffs as they will be.
    const target = JSON.parse(await kubectlOk(['get', 'smtptarget', 'internal-relay', '-n', ns, '-o', 'json']));
    expect(target.spec).toMatchObject({ security: 'None', checkInterval: '10m' });
    const relay = JSON.parse(await kubectlOk(['get', 'smtptarget', 'office365', '-n', ns, '-o', 'json']));
    expect(relay.spec.credentials).toEqual({
      secretRef: { name: 'office365-smtp' },
      usernameKey: 'username',
      passwordKey: 'password',
    });
  });

  it.each(invalidCases)('refuses $kind with $name, naming $field', async (c) => {
    const manifest: Record<string, unknown> = {
      apiVersion: API_VERSION,
      kind: c.kind,
      metadata: { name: 'invalid', namespace: ns },
    };
    if (c.spec) manifest.spec = c.spec;
    const r = await kubectl(['apply', '--server-side', '-f', '-'], stringify(manifest));
    expect(r.code, `accepted: ${r.stdout}`).not.toBe(0);
    // The message names the field exactly: not a bare prefix of a longer name.
    expect(r.stderr).toMatch(new RegExp(`(^|[^\\w.])\\.?${c.field.replace(/\./g, '\\.')}([^\\w]|$)`, 'm'));
  });
});

/** Every field path of a schema, for `kubectl explain`. */
function fieldPaths(node: JsonSchema, prefix: string): { path: string; description: string }[] {
  const out: { path: string; description: string }[] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const path = `${prefix}.${name}`;
    out.push({ path, description: child.description });
    const inner = child.items ?? child;
    out.push(...fieldPaths(inner, path));
  }
  return out;
}

describe('kubectl explain', () => {
  it('teaches smtptarget.spec.security', async () => {
    const out = (await explain('smtptarget.spec.security')).replace(/\s+/g, ' ');
    expect(out).toContain('ENUM: TLS STARTTLS None');
    expect(out).toContain('STARTTLS: connect in plain text and upgrade; the upgrade is required');
  });

  it('prints the description of every spec field of every kind', async () => {
    const paths = kinds.flatMap((k) => fieldPaths(k.spec, `${k.singular}.spec`));
    expect(paths.length).toBeGreaterThan(60);
    const failures: string[] = [];
    await inBatches(paths, 6, async ({ path, description }) => {
      const out = (await explain(path)).replace(/\s+/g, ' ');
      const firstWords = description.split(/\s+/).slice(0, 6).join(' ');
      if (!out.includes(firstWords)) failures.push(`${path}: expected "${firstWords}"`);
    });
    expect(failures).toEqual([]);
  });
});

async function explain(path: string): Promise<string> {
  // The API server publishes new CRD schemas to OpenAPI a few seconds after they are established.
  for (let attempt = 0; ; attempt++) {
    const r = await kubectl(['explain', path]);
    if (r.code === 0) return r.stdout;
    if (attempt > 30) throw new Error(`kubectl explain ${path}: ${r.stderr}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: size }, async () => {
      for (let item = queue.shift(); item; item = queue.shift()) await fn(item);
    }),
  );
}
