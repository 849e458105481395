// Manifests as a GitOps repository holds them: files and directories (walked
// recursively), multi-document YAML, JSON, `kind: List`, or stdin for what
// kustomize or helm print. Each object remembers where it came from, so a
// problem can name its line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { CliError, CliErrorCode } from '../errors.ts';
import { segmentKey, type PathSegment } from './problem.ts';
import { isObject, type JsonObject } from './structural.ts';

export interface Source {
  /** As given on the command line, or "<stdin>". */
  file: string;
  text: string;
}

const MANIFEST = /\.(ya?ml|json)$/i;

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    // Hidden folders (.git, .github) hold no manifests to apply.
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (MANIFEST.test(entry.name)) out.push(path);
  }
  return out;
}

/** Reads every argument: "-" is stdin, a directory is every manifest file below it. */
export function readSources(args: readonly string[], stdin: () => string): Source[] {
  const sources: Source[] = [];
  for (const arg of args) {
    if (arg === '-') {
      sources.push({ file: '<stdin>', text: stdin() });
      continue;
    }
    try {
      const files = statSync(arg).isDirectory() ? walk(arg) : [arg];
      for (const file of files) sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message;
      throw new CliError(CliErrorCode.FileUnreadable, `cannot read ${arg}: ${why}`, { cause: err });
    }
  }
  return sources;
}

export interface Located {
  file: string;
  /** The object, as JSON. */
  object: JsonObject;
  /** 1-based line of a field of this object, or of the object itself. */
  lineOf(path: readonly PathSegment[]): number;
}

export interface Unreadable {
  file: string;
  line: number;
  message: string;
}

export interface Parsed {
  objects: Located[];
  /** Documents that are no objects at all (a bare list, a scalar). */
  notObjects: { file: string; line: number }[];
  syntax: Unreadable[];
}

function childOf(node: Node | null | undefined, key: string | number): { key?: Node; value: Node | null } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
    return pair ? { key: pair.key as Node, value: pair.value as Node | null } : undefined;
  }
  if (isSeq(node) && typeof key === 'number') {
    const item = node.items[key];
    return item === undefined ? undefined : { value: item as Node | null };
  }
  return undefined;
}

function locator(doc: Document, counter: LineCounter, prefix: PathSegment[]) {
  return (path: readonly PathSegment[]): number => {
    let node = doc.contents as Node | null;
    let offset = node?.range?.[0] ?? 0;
    for (const seg of [...prefix, ...path]) {
      const child = childOf(node, segmentKey(seg));
      if (!child) break;
      // A field's line is its key's: where a person looks for it.
      offset = child.key?.range?.[0] ?? child.value?.range?.[0] ?? offset;
      node = child.value;
    }
    return counter.linePos(offset).line;
  };
}

/** Parses YAML 1.1 as kubectl does (sigs.k8s.io/yaml): `yes` is a boolean there, and duplicate keys are refused. */
export function parseSources(sources: readonly Source[]): Parsed {
  const parsed: Parsed = { objects: [], notObjects: [], syntax: [] };
  for (const { file, text } of sources) {
    const counter = new LineCounter();
    const docs = parseAllDocuments(text, { version: '1.1', lineCounter: counter, uniqueKeys: true, merge: true });
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      if (doc.errors.length > 0) {
        for (const e of doc.errors) {
          parsed.syntax.push({ file, line: e.linePos?.[0].line ?? 1, message: e.message.split('\n')[0]! });
        }
        continue;
      }
      const value: unknown = doc.toJS({ maxAliasCount: 100 });
      if (value === null || value === undefined) continue;
      const line = counter.linePos(doc.contents?.range?.[0] ?? 0).line;
      if (!isObject(value)) {
        parsed.notObjects.push({ file, line });
        continue;
      }
      // `kubectl get -o yaml` and some generators wrap objects in a List.
      if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
        value.items.forEach((item, i) => {
          if (isObject(item)) parsed.objects.push({ file, object: item, lineOf: locator(doc, counter, ['items', i]) });
        });
        continue;
      }
      parsed.objects.push({ file, object: value, lineOf: locator(doc, counter, []) });
    }
  }
  return parsed;
}
