// `postmaster validate`: the API server's verdict on a repository's manifests,
// without a cluster, as text for people, JSON for tools, or GitHub annotations.
import { ExitCode, EXIT_CODES_HELP, usageError } from '../errors.ts';
import { oneOf, parseFlags, type Io } from '../io.ts';
import { parseSources, readSources, type Source } from './documents.ts';
import { isOurs, KINDS, validateOurObject } from './objects.ts';
import { fieldString, type Problem } from './problem.ts';
import { isObject, type JsonObject } from './structural.ts';

export const validateHelp = (prog: string) => `Usage: ${prog} validate [flags] FILE|DIR|- ...

Checks every object of postmaster's kinds (${KINDS.join(', ')})
against the CRDs' own schema (types, enums, patterns, formats, defaults) and
their CEL rules, offline, as the API server checks a create. Directories are
read recursively (*.yaml, *.yml, *.json); "-" reads stdin:
  kustomize build . | ${prog} validate -
Objects of other kinds are skipped.

Flags:
  -o, --output FORMAT   text (default): file:line: Kind/name: field: message
                        json: every problem with file, line, kind, name, field
                        github: GitHub Actions annotations (::error file=...)
      --strict          also refuse objects of kinds ${prog} does not know,
                        and YAML documents that are no Kubernetes objects
  -h, --help            this help

${EXIT_CODES_HELP}`;

export interface Finding {
  file: string;
  line: number;
  kind?: string;
  name?: string;
  namespace?: string;
  /** Kubernetes' spelling of the field: spec.sendgrid.apiKeySecretRef.name; absent for object-wide problems. */
  field?: string;
  type: Problem['type'];
  message: string;
  source: Problem['source'];
}

export interface ValidateReport {
  findings: Finding[];
  files: number;
  objects: number;
  /** Objects of our kinds that were checked. */
  checked: number;
  skipped: number;
}

const nameOf = (obj: JsonObject): string | undefined => {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  if (typeof meta.name === 'string') return meta.name;
  return typeof meta.generateName === 'string' ? `${meta.generateName}*` : undefined;
};

export function validateSources(sources: readonly Source[], opts: { strict: boolean }): ValidateReport {
  const parsed = parseSources(sources);
  const findings: Finding[] = parsed.syntax.map((s) => ({ ...s, type: 'Syntax', source: 'yaml' }));
  if (opts.strict) {
    for (const n of parsed.notObjects) {
      findings.push({ ...n, type: 'UnknownKind', source: 'kind', message: 'not a Kubernetes object (no mapping at the top)' });
    }
  }
  let checked = 0;
  let skipped = 0;
  for (const { file, object, lineOf } of parsed.objects) {
    const kind = typeof object.kind === 'string' ? object.kind : undefined;
    const meta = isObject(object.metadata) ? object.metadata : {};
    const where = {
      file,
      ...(kind ? { kind } : {}),
      ...(nameOf(object) ? { name: nameOf(object) } : {}),
      ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
    };
    if (!isOurs(object)) {
      skipped++;
      if (opts.strict) {
        const what = kind ? `kind ${kind} (${String(object.apiVersion ?? 'no apiVersion')})` : 'an object without apiVersion and kind';
        findings.push({ ...where, line: lineOf([]), type: 'UnknownKind', source: 'kind', message: `${what} is not one postmaster validates (--strict)` });
      }
      continue;
    }
    checked++;
    const own: Finding[] = validateOurObject(object).problems.map((p) => {
      const field = fieldString(p.path);
      return { ...where, line: lineOf(p.path), ...(field ? { field } : {}), type: p.type, message: p.message, source: p.source };
    });
    // In the order of the file; what concerns the whole object comes after its fields.
    own.sort((a, b) => Number(!a.field) - Number(!b.field) || a.line - b.line);
    findings.push(...own);
  }
  return { findings, files: sources.length, objects: parsed.objects.length, checked, skipped };
}

const subject = (f: Finding) => [f.kind && `${f.kind}/${f.name ?? '<no name>'}`, f.field].filter(Boolean).join(': ');
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function summary(r: ValidateReport): string {
  const skipped = `${r.skipped} of other kinds skipped`;
  return r.findings.length
    ? `${plural(r.findings.length, 'problem')} in ${plural(r.files, 'file')} (${plural(r.checked, 'object')} checked, ${skipped})`
    : `${plural(r.checked, 'object')} valid in ${plural(r.files, 'file')} (${skipped})`;
}

export function formatText(r: ValidateReport): string {
  const lines = r.findings.map((f) => `${f.file}:${f.line}: ${[subject(f), f.message].filter(Boolean).join(': ')}`);
  return [...lines, summary(r)].join('\n') + '\n';
}

/** GitHub Actions workflow commands: each problem becomes an annotation on its line of the pull request. */
export function formatGithub(r: ValidateReport): string {
  const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const lines = r.findings.map(
    (f) => `::error file=${prop(f.file)},line=${f.line},title=${prop(subject(f) || 'postmaster validate')}::${data(f.message)}`,
  );
  return [...lines, summary(r)].join('\n') + '\n';
}

export function runValidate(argv: readonly string[], io: Io): ExitCode {
  const { values, positionals } = parseFlags(argv, {
    output: { type: 'string', short: 'o' },
    strict: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout(validateHelp(io.prog));
    return ExitCode.Ok;
  }
  const output = oneOf('--output', values.output, ['text', 'json', 'github'], 'text');
  if (positionals.length === 0) throw usageError('validate needs at least one FILE, DIR or - (stdin)');
  const report = validateSources(readSources(positionals, io.stdin), { strict: values.strict === true });
  const { findings: problems, ...counts } = report;
  io.stdout(
    output === 'json' ? JSON.stringify({ problems, ...counts }, null, 2) + '\n' : output === 'github' ? formatGithub(report) : formatText(report),
  );
  return problems.length > 0 ? ExitCode.No : ExitCode.Ok;
}
