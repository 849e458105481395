// A tiny builder for Kubernetes structural OpenAPI v3 schemas that also carries
// the TypeScript type of each node, so one declaration per kind yields both the
// CRD (crds/ is generated from it) and the types the controller uses.
// Every builder takes a description: `kubectl explain` must teach every field.

export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

/** The JSON form of a schema node, as it appears in the CRD. */
export interface JsonSchema {
  type?: 'string' | 'integer' | 'boolean' | 'object' | 'array';
  description: string;
  format?: string;
  pattern?: string;
  enum?: readonly string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** A schema node that remembers the TypeScript type it describes. */
export type Schema<T> = JsonSchema & { readonly __type?: T };
export type Static<S> = S extends Schema<infer T> ? T : never;

type Common = Pick<JsonSchema, 'x-kubernetes-validations'>;
type StringOpts = Common & Pick<JsonSchema, 'format' | 'pattern' | 'minLength' | 'maxLength'> & { default?: string };
type IntOpts = Common & Pick<JsonSchema, 'minimum' | 'maximum' | 'format'> & { default?: number };
type ArrayOpts = Common &
  Pick<JsonSchema, 'minItems' | 'maxItems' | 'x-kubernetes-list-type' | 'x-kubernetes-list-map-keys'>;
type ObjectOpts = Common & Pick<JsonSchema, 'minProperties'> & { default?: Record<string, unknown> };

export function string(description: string, opts: StringOpts = {}): Schema<string> {
  return { type: 'string', description, ...opts };
}

export function enumOf<const V extends readonly string[]>(
  values: V,
  description: string,
  opts: Common & { default?: V[number] } = {},
): Schema<V[number]> {
  return { type: 'string', description, enum: values, ...opts };
}

export function integer(description: string, opts: IntOpts = {}): Schema<number> {
  return { type: 'integer', description, ...opts };
}

export function boolean(description: string, opts: Common & { default?: boolean } = {}): Schema<boolean> {
  return { type: 'boolean', description, ...opts };
}

export function array<S extends Schema<unknown>>(items: S, description: string, opts: ArrayOpts = {}): Schema<Static<S>[]> {
  return { type: 'array', description, items, ...opts };
}

export function stringMap(description: string, value: Schema<string>): Schema<Record<string, string>> {
  return { type: 'object', description, additionalProperties: value };
}

type Props = Record<string, Schema<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectType<P extends Props, R extends keyof P> = Simplify<
  { [K in R]: Static<P[K]> } & { [K in Exclude<keyof P, R>]?: Static<P[K]> }
>;

export function object<P extends Props, const R extends readonly (keyof P & string)[] = []>(
  description: string,
  properties: P,
  required?: R,
  opts: ObjectOpts = {},
): Schema<ObjectType<P, R[number]>> {
  const node: JsonSchema = { type: 'object', description, properties, ...opts };
  if (required && required.length > 0) node.required = [...required];
  return node;
}

/** An opaque object (the API server keeps whatever it holds). */
export function freeform(description: string): Schema<Record<string, unknown>> {
  return { type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true };
}

/** Every node must carry a description; used by the CRD generator and its test. */
export function undocumentedFields(node: JsonSchema, path = ''): string[] {
  const missing = node.description?.trim() ? [] : [path || '<root>'];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    missing.push(...undocumentedFields(child, `${path}.${name}`));
  }
  if (node.items) missing.push(...undocumentedFields(node.items, `${path}[]`));
  if (node.additionalProperties) missing.push(...undocumentedFields(node.additionalProperties, `${path}{}`));
  return missing;
}
