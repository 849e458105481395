// One problem found in a manifest, in the words the API server would use
// (apimachinery's field.Error kinds), so an offline refusal reads like the real one.

/** A property name, a list index, or the key of a map (labels, matchLabels): Kubernetes prints the last as [key]. */
export type PathSegment = string | number | { mapKey: string };

/** apimachinery's field.ErrorType, plus the ones only an offline reader meets. */
export type ProblemType =
  | 'Required'
  | 'Invalid'
  | 'NotSupported'
  | 'TooLong'
  | 'TooMany'
  | 'TypeInvalid'
  | 'Forbidden'
  | 'Duplicate'
  | 'FieldNotDeclared'
  | 'Syntax'
  | 'UnknownKind';

/** Where the rule that was broken lives: lets kubeconform tests know which problems a JSON Schema can express. */
export type ProblemSource = 'schema' | 'format' | 'cel' | 'metadata' | 'yaml' | 'kind';

export interface Problem {
  /** From the object's root: ['spec', 'port'], ['spec', 'matchExpressions', 0, 'key']. */
  path: PathSegment[];
  type: ProblemType;
  /** What follows the field in the API server's message: `Invalid value: 0: should be ...`. */
  message: string;
  source: ProblemSource;
}

/** The field as Kubernetes writes it: spec.items[0].name, spec.labels[app.kubernetes.io/name]. */
export function fieldString(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'object') out += `[${seg.mapKey}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

/** The name or index a segment stands for in the document. */
export const segmentKey = (seg: PathSegment): string | number => (typeof seg === 'object' ? seg.mapKey : seg);

/** A value as field.Error prints it: strings quoted, numbers bare, structures by their type. */
export function showValue(value: unknown): string {
  if (value === null || value === undefined) return '"null"';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return Array.isArray(value) ? '"array"' : '"object"';
}

export const problem = (path: PathSegment[], type: ProblemType, message: string, source: ProblemSource): Problem => ({
  path,
  type,
  message,
  source,
});

export const invalid = (path: PathSegment[], value: unknown, detail: string, source: ProblemSource = 'schema'): Problem =>
  problem(path, 'Invalid', `Invalid value: ${showValue(value)}: ${detail}`, source);

/** The kinds that make the API server skip CEL rules (apiextensions' hasBlockingErr). */
export const BLOCKING: ReadonlySet<ProblemType> = new Set<ProblemType>(['NotSupported', 'Required', 'TooLong', 'TooMany', 'TypeInvalid']);
