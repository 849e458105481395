// `postmaster validate`, offline: the examples pass, every manifest the API
// server refuses is refused with the same field named, and the output points
// at the file and line, for people (text), tools (JSON) and GitHub annotations.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readSources } from '../../../src/cli/validate/documents.ts';
import { validateSources, type Finding } from '../../../src/cli/validate/command.ts';
import { validateOurObject } from '../../../src/cli/validate/objects.ts';
import { fieldString } from '../../../src/cli/validate/problem.ts';
import { postmaster } from '../../support/cli.ts';
import { invalidCases, invalidManifest } from '../../support/invalid-manifests.ts';

const repo = join(import.meta.dirname, '..', '..', '..');
const examples = join(repo, 'examples');
const tmp = mkdtempSync(join(tmpdir(), 'postmaster-validate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fileWith = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

describe('the examples', () => {
  it('all pass, every object of our kinds checked', () => {
    const files = readdirSync(examples).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    const report = validateSources(readSources([examples], () => ''), { strict: false });
    expect(report.findings).toEqual([]);
    expect(report.files).toBe(files.length);
    expect(report.checked).toBeGreaterThanOrEqual(16);
  });

  it('pass through the command, exit 0', async () => {
    const r = await postmaster(['validate', 'examples']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+ objects valid in \d+ files \(\d+ of other kinds skipped\)\n$/);
  });

  it('pass as kustomize prints them, piped to stdin', async () => {
    const dir = join(tmp, 'kustomize');
    mkdirSync(dir);
    // The examples that bring their own namespaces are not for a one-namespace kustomization.
    const files = readdirSync(examples).filter((f) => f.endsWith('.yaml') && !/^\s+namespace:/m.test(readFileSync(join(examples, f), 'utf8')));
    for (const f of files) cpSync(join(examples, f), join(dir, f));
    writeFileSync(join(dir, 'kustomization.yaml'), stringify({ namespace: 'mail', resources: files }));
    const built = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    const r = await postmaster(['validate', '-'], { input: built });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('objects valid in 1 file');
  });
});

describe('the manifests the API server refuses', () => {
  it.each(invalidCases)('$kind with $name is refused, naming $field', (c) => {
    const { problems } = validateOurObject(invalidManifest(c) as never);
    expect(problems.length, 'accepted offline').toBeGreaterThan(0);
    expect(problems.map((p) => fieldString(p.path))).toContain(c.field);
  });

  it('are refused by the command, one line each naming file, line, object and field', async () => {
    const docs = invalidCases.map((c) => stringify(invalidManifest(c))).join('---\n');
    const file = fileWith('invalid.yaml', docs);
    const r = await postmaster(['validate', file]);
    expect(r.code).toBe(1);
    for (const c of invalidCases) {
      expect(r.stdout).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+: ${c.kind}/invalid: ${c.field.replace(/\./g, '\\.')}: `, 'm'));
    }
  });
});

const TWO_DOCS = `apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated
---
apiVersion: email.postmaster.dev/v1alpha1
kind: SmtpTarget
metadata:
  name: relay
  namespace: mail
spec:
  host: smtp.example.com
  port: 70000
  security: None
  tls:
    insecureSkipVerify: yes
`;

describe('output', () => {
  it('text: file:line: Kind/name: field: message, then a summary', async () => {
    const file = fileWith('two.yaml', TWO_DOCS);
    const r = await postmaster(['validate', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      `${file}:13: SmtpTarget/relay: spec.port: Invalid value: 70000: should be less than or equal to 65535\n` +
        `${file}:15: SmtpTarget/relay: spec.tls: Invalid value: "object": tls settings apply only when security is TLS or STARTTLS\n` +
        '2 problems in 1 file (1 object checked, 1 of other kinds skipped)\n',
    );
  });

  it('json: every problem with its file, line, object and field', async () => {
    const file = fileWith('two.yaml', TWO_DOCS);
    const r = await postmaster(['validate', '-o', 'json', file]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { problems: Finding[]; checked: number; skipped: number };
    expect(out).toMatchObject({ checked: 1, skipped: 1, files: 1, objects: 2 });
    expect(out.problems[0]).toEqual({
      file,
      line: 13,
      kind: 'SmtpTarget',
      name: 'relay',
      namespace: 'mail',
      field: 'spec.port',
      type: 'Invalid',
      source: 'schema',
      message: 'Invalid value: 70000: should be less than or equal to 65535',
    });
  });

  it('github: one annotation per problem on its line', async () => {
    const r = await postmaster(['validate', '-o', 'github', '-'], { input: TWO_DOCS });
    expect(r.stdout.split('\n')[0]).toBe(
      '::error file=<stdin>,line=13,title=SmtpTarget/relay%3A spec.port::Invalid value: 70000: should be less than or equal to 65535',
    );
  });
});

describe('reading manifests', () => {
  it('walks directories, reads YAML 1.1 as kubectl does, and unwraps Lists', () => {
    const dir = join(tmp, 'tree', 'nested');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'list.yml'), stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ apiVersion: 'email.postmaster.dev/v1alpha1', kind: 'SenderIdentity', metadata: { name: 'a' }, spec: { email: 'a@' } }],
    }));
    // `yes` is a boolean to kubectl (YAML 1.1): valid here.
    writeFileSync(join(dir, 'yes.yaml'), 'apiVersion: email.postmaster.dev/v1alpha1\nkind: EmailServer\nmetadata: {name: b}\nspec:\n  provider: SendGrid\n  sendgrid: {apiKeySecretRef: {name: k}}\n  default: yes\n');
    writeFileSync(join(dir, 'notes.txt'), 'not: [a manifest');
    const report = validateSources(readSources([join(tmp, 'tree')], () => ''), { strict: false });
    expect(report.files).toBe(2);
    expect(report.findings.map((f) => `${f.kind}/${f.name} ${f.field} @${f.line}`)).toEqual([
      'SenderIdentity/a spec.email @9',
      'SenderIdentity/a spec.email @9',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their line', async () => {
    const r = await postmaster(['validate', '-'], { input: 'apiVersion: v1\nkind: A\nkind: B\n' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^<stdin>:3: Map keys must be unique/);
  });

  it('--strict refuses kinds it does not know and documents that are no objects', async () => {
    const r = await postmaster(['validate', '--strict', '-'], { input: `${TWO_DOCS}---\n- just\n- a list\n` });
    expect(r.stdout).toContain('<stdin>:1: ConfigMap/unrelated: kind ConfigMap (v1) is not one postmaster validates (--strict)');
    expect(r.stdout).toContain('<stdin>:18: not a Kubernetes object');
  });

  it('refuses an unknown version or kind of our group', async () => {
    const r = await postmaster(['validate', '-'], { input: 'apiVersion: email.postmaster.dev/v1\nkind: SmtpTarget\nmetadata: {name: x}\n' });
    expect(r.stdout).toContain('<stdin>:2: SmtpTarget/x: kind: no matches for kind "SmtpTarget" in version "email.postmaster.dev/v1"');
  });
});

describe('exit codes and help', () => {
  it.each([
    [['validate'], 2, 'validate needs at least one FILE, DIR or - (stdin)'],
    [['validate', '-o', 'xml', 'examples'], 2, '--output: "xml" is not one of text, json, github'],
    [['validate', '--no-such-flag', 'examples'], 2, "Unknown option '--no-such-flag'"],
    [['validate', '/nonexistent/manifests'], 3, 'cannot read /nonexistent/manifests: no such file or directory'],
    [['frobnicate'], 2, 'unknown command "frobnicate"'],
  ])('%j exits %i', async (args, code, message) => {
    const r = await postmaster(args);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
  });

  it.each([[['--help']], [['validate', '--help']], [['status', '-h']], [['test', '--help']], [['help', 'status']]])(
    '%j prints help with the exit codes',
    async (args) => {
      const r = await postmaster(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: postmaster /);
      expect(r.stdout).toContain('Exit codes:\n  0  yes');
    },
  );

  it('is a kubectl plugin: kubectl finds kubectl-postmaster on PATH, and help names it so', () => {
    // As npm links a bin: a symlink to bin/postmaster.js.
    const bin = join(tmp, 'plugins');
    mkdirSync(bin, { recursive: true });
    symlinkSync(join(repo, 'bin', 'postmaster.js'), join(bin, 'kubectl-postmaster'));
    const env = { ...process.env, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}` };
    const out = execFileSync('kubectl', ['postmaster', 'validate', '--help'], { encoding: 'utf8', env });
    expect(out).toMatch(/^Usage: kubectl postmaster validate /);
    expect(execFileSync('kubectl', ['plugin', 'list'], { encoding: 'utf8', env })).toContain(join(bin, 'kubectl-postmaster'));
  });
});

describe('durations', () => {
  it('reads --wait as kubectl does, and 0 as do not wait', async () => {
    const { parseWait } = await import('../../../src/cli/io.ts');
    expect([parseWait('--wait', '0'), parseWait('--wait', '45s'), parseWait('--wait', '1m30s'), parseWait('--wait', '500ms')]).toEqual([0, 45_000, 90_000, 500]);
    expect(() => parseWait('--wait', '10')).toThrow('--wait: "10" is not a duration like 30s, 2m or 1m30s');
  });
});
