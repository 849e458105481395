// What the API server does to a custom resource before its CEL rules run, in
// the same order: drop (and, with strict field validation, refuse) undeclared
// fields, fill in defaults, then check the structural schema. Modelled on
// apiextensions-apiserver (pruning, defaulting, kube-openapi's validator) so
// the offline verdict and its messages match `kubectl apply`.
import { RE2JS } from '@bufbuild/re2';
import type { JsonSchema } from '../../api/schema.ts';
import { checkFormat } from './formats.ts';
import { invalid, problem, showValue, type PathSegment, type Problem } from './problem.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export type { Json };

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Removes undeclared fields (each one a problem) and applies defaults, in place. */
export function pruneAndDefault(value: Json, schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((item, i) => pruneAndDefault(item, schema.items!, [...path, i], problems));
    return;
  }
  if (!isObject(value) || schema['x-kubernetes-preserve-unknown-fields']) return;
  if (schema.properties) {
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(schema.properties, key)) {
        problems.push(problem([...path, key], 'FieldNotDeclared', 'field not declared in schema', 'schema'));
        delete value[key];
      }
    }
    for (const [key, child] of Object.entries(schema.properties)) {
      // A null where null is not allowed is pruned before defaulting, so the default wins.
      if (value[key] === null && child.default !== undefined) delete value[key];
      if (!Object.hasOwn(value, key) && child.default !== undefined) value[key] = structuredClone(child.default) as Json;
      if (Object.hasOwn(value, key)) pruneAndDefault(value[key]!, child, [...path, key], problems);
    }
  } else if (schema.additionalProperties) {
    for (const [key, child] of Object.entries(value)) {
      pruneAndDefault(child, schema.additionalProperties, [...path, { mapKey: key }], problems);
    }
  }
}

const jsonType = (v: Json): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;

const typeMatches = (v: Json, type: NonNullable<JsonSchema['type']>): boolean => jsonType(v) === type;

const patterns = new Map<string, RE2JS>();
/** Go regexp semantics (RE2): `\s` is ASCII space only, unlike JavaScript's. Unanchored, as MatchString. */
function matches(pattern: string, value: string): boolean {
  let re = patterns.get(pattern);
  if (!re) {
    re = new RE2JS(pattern);
    patterns.set(pattern, re);
  }
  return re.test(value);
}

const chars = (s: string) => [...s].length;

/** The structural schema's own checks (no CEL): types, enums, ranges, lengths, patterns, formats, required fields. */
export function validateSchema(value: Json, schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  if (schema['x-kubernetes-preserve-unknown-fields'] && !schema.type) return;
  if (schema.type && !typeMatches(value, schema.type)) {
    const actual = jsonType(value);
    const shown = JSON.stringify(actual);
    problems.push(problem(path, 'TypeInvalid', `Invalid value: ${shown}: must be of type ${schema.type}: ${shown}`, 'schema'));
    return;
  }
  if (schema.enum && !schema.enum.includes(value as string)) {
    const supported = schema.enum.map((e) => JSON.stringify(e)).join(', ');
    problems.push(problem(path, 'NotSupported', `Unsupported value: ${showValue(value)}: supported values: ${supported}`, 'schema'));
  }
  if (typeof value === 'string') validateString(value, schema, path, problems);
  else if (typeof value === 'number') validateNumber(value, schema, path, problems);
  else if (Array.isArray(value)) validateArray(value, schema, path, problems);
  else if (isObject(value)) validateObject(value, schema, path, problems);
}

function validateString(value: string, schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  // kube-openapi reports only the first of length and pattern.
  if (schema.maxLength !== undefined && chars(value) > schema.maxLength) {
    const unit = schema.maxLength === 1 ? 'byte' : 'bytes';
    problems.push(problem(path, 'TooLong', `Too long: may not be more than ${schema.maxLength} ${unit}`, 'schema'));
  } else if (schema.minLength !== undefined && chars(value) < schema.minLength) {
    problems.push(invalid(path, value, `should be at least ${schema.minLength} chars long`));
  } else if (schema.pattern !== undefined && !matches(schema.pattern, value)) {
    problems.push(invalid(path, value, `should match '${schema.pattern}'`));
  }
  if (schema.format && !checkFormat(schema.format, value)) {
    const shown = showValue(value);
    problems.push(problem(path, 'TypeInvalid', `Invalid value: ${shown}: must be of type ${schema.format}: ${shown}`, 'format'));
  }
}

function validateNumber(value: number, schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  if (schema.minimum !== undefined && value < schema.minimum) {
    problems.push(invalid(path, value, `should be greater than or equal to ${schema.minimum}`));
  }
  if (schema.maximum !== undefined && value > schema.maximum) {
    problems.push(invalid(path, value, `should be less than or equal to ${schema.maximum}`));
  }
}

function validateArray(value: Json[], schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    const unit = schema.maxItems === 1 ? 'item' : 'items';
    problems.push(problem(path, 'TooMany', `Too many: ${value.length}: must have at most ${schema.maxItems} ${unit}`, 'schema'));
  }
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    problems.push(invalid(path, value, `should have at least ${schema.minItems} items`));
  }
  if (schema.items) value.forEach((item, i) => validateSchema(item, schema.items!, [...path, i], problems));
  const listType = schema['x-kubernetes-list-type'];
  if (listType === 'set' || listType === 'map') {
    // Map lists are keyed by their map keys; sets by the whole item.
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const key = JSON.stringify(listType === 'map' && isObject(item) ? keys.map((k) => item[k]) : item);
      if (seen.has(key)) problems.push(problem([...path, i], 'Duplicate', `Duplicate value: ${key}`, 'schema'));
      seen.add(key);
    });
  }
}

function validateObject(value: JsonObject, schema: JsonSchema, path: PathSegment[], problems: Problem[]): void {
  for (const key of schema.required ?? []) {
    if (!Object.hasOwn(value, key)) problems.push(problem([...path, key], 'Required', 'Required value', 'schema'));
  }
  if (schema.minProperties !== undefined && Object.keys(value).length < schema.minProperties) {
    problems.push(invalid(path, value, `should have at least ${schema.minProperties} properties`));
  }
  for (const [key, child] of Object.entries(value)) {
    const declared = schema.properties?.[key];
    if (declared) validateSchema(child, declared, [...path, key], problems);
    else if (schema.additionalProperties) validateSchema(child, schema.additionalProperties, [...path, { mapKey: key }], problems);
  }
}
