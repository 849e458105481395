// One object of ours, checked as the API server checks a create: the CRD's own
// schema (from src/api, the source crds/ is generated from), its defaults, the
// object's metadata, then the CEL rules, which the server skips when the
// structural checks already found a blocking problem.
import { GROUP, VERSION, kinds } from '../../api/index.ts';
import { customResourceDefinition } from '../../api/kind.ts';
import type { JsonSchema } from '../../api/schema.ts';
import { validateRules } from './cel.ts';
import { BLOCKING, invalid, problem, type Problem } from './problem.ts';
import { isObject, pruneAndDefault, validateSchema, type JsonObject } from './structural.ts';

interface Crd {
  spec: { versions: { schema: { openAPIV3Schema: JsonSchema } }[] };
}

const schemas = new Map<string, JsonSchema>(
  kinds.map((k) => [k.kind, (customResourceDefinition(k) as unknown as Crd).spec.versions[0]!.schema.openAPIV3Schema]),
);

export const KINDS: readonly string[] = kinds.map((k) => k.kind);

/** Whether an object is in our API group: those are ours to check, whatever their kind. */
export function isOurs(obj: JsonObject): boolean {
  return typeof obj.apiVersion === 'string' && obj.apiVersion.split('/')[0] === GROUP;
}

export interface ObjectVerdict {
  problems: Problem[];
  /** The object as the API server would store it: pruned, defaulted, without status. */
  stored: JsonObject;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const subdomainDetail =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const labelDetail =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";

function validQualifiedName(key: string): boolean {
  const [prefix, name] = key.includes('/') ? [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)] : [undefined, key];
  if (prefix !== undefined && !(prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

/** ObjectMeta as apimachinery validates it: names, namespace, label and annotation keys. */
function validateMetadata(meta: JsonObject, problems: Problem[]): void {
  const name = meta.name;
  if (name === undefined && meta.generateName === undefined) {
    problems.push(problem(['metadata', 'name'], 'Required', 'Required value: name or generateName is required', 'metadata'));
  } else if (typeof name === 'string' && (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))) {
    problems.push(invalid(['metadata', 'name'], name, subdomainDetail, 'metadata'));
  }
  const ns = meta.namespace;
  if (typeof ns === 'string' && ns !== '' && (ns.length > 63 || !DNS1123_LABEL.test(ns))) {
    problems.push(invalid(['metadata', 'namespace'], ns, labelDetail, 'metadata'));
  }
  for (const field of ['labels', 'annotations'] as const) {
    const entries = meta[field];
    if (!isObject(entries)) continue;
    for (const [key, value] of Object.entries(entries)) {
      const at = ['metadata', field, { mapKey: key }];
      if (!validQualifiedName(key)) problems.push(invalid(at, key, 'name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character', 'metadata'));
      if (field === 'labels' && (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value))) {
        problems.push(invalid(at, value, 'a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character', 'metadata'));
      }
    }
  }
}

const hasRules = (s: JsonSchema): boolean =>
  (s['x-kubernetes-validations']?.length ?? 0) > 0 ||
  Object.values(s.properties ?? {}).some(hasRules) ||
  (s.items !== undefined && hasRules(s.items)) ||
  (s.additionalProperties !== undefined && hasRules(s.additionalProperties));

/** Checks one object of our group. */
export function validateOurObject(input: JsonObject): ObjectVerdict {
  const stored = structuredClone(input);
  const [, version] = String(input.apiVersion).split('/');
  const schema = typeof input.kind === 'string' ? schemas.get(input.kind) : undefined;
  if (!schema || version !== VERSION) {
    const problems = [
      problem(['kind'], 'UnknownKind', `no matches for kind ${JSON.stringify(input.kind)} in version ${JSON.stringify(input.apiVersion)}`, 'kind'),
    ];
    return { problems, stored };
  }
  // The status subresource makes the API server drop status on create.
  delete stored.status;
  const problems: Problem[] = [];
  pruneAndDefault(stored, schema, [], problems);
  validateSchema(stored, schema, [], problems);
  if (isObject(stored.metadata)) validateMetadata(stored.metadata, problems);
  // A kind without rules has no CEL validator on the server, and so no note about skipping it.
  if (!hasRules(schema)) return { problems, stored };
  if (problems.some((p) => BLOCKING.has(p.type))) {
    problems.push(
      problem([], 'Invalid', 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation', 'cel'),
    );
  } else {
    validateRules(stored, schema, [], problems);
  }
  return { problems, stored };
}
