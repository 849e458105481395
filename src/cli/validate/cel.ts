// The CRDs' x-kubernetes-validations rules, evaluated with @bufbuild/cel on the
// pruned and defaulted object, as the API server evaluates them on create.
// A rule that needs a Kubernetes-only CEL function (isURL, quantity, ...) is
// reported as not checkable offline rather than passed silently.
import { celEnv, isCelError, parse, plan, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { CelRule, JsonSchema } from '../../api/schema.ts';
import { isObject, type Json } from './structural.ts';
import { problem, showValue, type PathSegment, type Problem } from './problem.ts';

const env = celEnv({ funcs: strings });
type Program = (ctx: { self: unknown }) => CelResult;
const programs = new Map<string, Program | Error>();

function compile(expression: string): Program | Error {
  let program = programs.get(expression);
  if (!program) {
    try {
      program = plan(env, parse(expression)) as Program;
    } catch (err) {
      program = err instanceof Error ? err : new Error(String(err));
    }
    programs.set(expression, program);
  }
  return program;
}

/** CEL sees the schema's types: integers are int (bigint here), not double. */
function toCel(value: Json, schema: JsonSchema): unknown {
  if (schema.type === 'integer' && typeof value === 'number') return BigInt(value);
  if (Array.isArray(value)) return schema.items ? value.map((v) => toCel(v, schema.items!)) : value;
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const child = schema.properties?.[k] ?? schema.additionalProperties;
      out[k] = child ? toCel(v, child) : v;
    }
    return out;
  }
  return value;
}

/** A rule's fieldPath (".selector", ".a['b']", ".items[0]") as path segments. */
function parseFieldPath(fieldPath: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]/g;
  for (let m = re.exec(fieldPath); m; m = re.exec(fieldPath)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
    else out.push(Number(m[3]));
  }
  return out;
}

const isUnsupported = (err: Error) => /unbound function|expecting|unexpected|syntax error|no such overload/i.test(err.message);

function ruleProblem(rule: CelRule, path: PathSegment[], type: string, message: string): Problem {
  const at = rule.fieldPath ? [...path, ...parseFieldPath(rule.fieldPath)] : path;
  switch (rule.reason) {
    case 'FieldValueRequired':
      return problem(at, 'Required', `Required value: ${message}`, 'cel');
    case 'FieldValueForbidden':
      return problem(at, 'Forbidden', `Forbidden: ${message}`, 'cel');
    case 'FieldValueDuplicate':
      return problem(at, 'Duplicate', `Duplicate value: ${showValue(type)}: ${message}`, 'cel');
    default:
      return problem(at, 'Invalid', `Invalid value: ${showValue(type)}: ${message}`, 'cel');
  }
}

function evaluate(rule: CelRule & { messageExpression?: string }, self: unknown, path: PathSegment[], type: string): Problem | undefined {
  const label = rule.message?.trim() || rule.rule.trim();
  const program = compile(rule.rule);
  const result = program instanceof Error ? program : program({ self });
  if (result instanceof Error || isCelError(result)) {
    const err = result as Error;
    if (isUnsupported(err)) {
      return problem(path, 'Invalid', `rule "${rule.rule}" cannot be checked offline (${err.message}); the API server decides it`, 'cel');
    }
    return problem(path, 'Invalid', `Invalid value: ${showValue(type)}: ${err.message} evaluating rule: ${label}`, 'cel');
  }
  if (result === true) return undefined;
  let message = rule.message?.trim() || `failed rule: ${rule.rule.trim()}`;
  if (rule.messageExpression) {
    const expr = compile(rule.messageExpression);
    const text = expr instanceof Error ? undefined : expr({ self });
    if (typeof text === 'string' && text.trim() !== '') message = text.trim();
  }
  return ruleProblem(rule, path, type, message);
}

/** Every rule on every node present in `value`. Transition rules (oldSelf) apply only to updates and are skipped. */
export function validateRules(value: Json, schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  const rules = (schema['x-kubernetes-validations'] ?? []).filter((r) => !/\boldSelf\b/.test(r.rule));
  if (rules.length > 0) {
    const self = toCel(value, schema);
    for (const rule of rules) {
      const p = evaluate(rule, self, path, schema.type ?? 'object');
      if (p) problems.push(p);
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => validateRules(item, schema.items!, [...path, i], problems));
  } else if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const declared = schema.properties?.[key];
      if (declared) validateRules(child, declared, [...path, key], problems);
      else if (schema.additionalProperties) validateRules(child, schema.additionalProperties, [...path, { mapKey: key }], problems);
    }
  }
}
