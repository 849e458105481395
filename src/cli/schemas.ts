// JSON Schemas of our kinds for kubeconform, in the layout of the CRDs-catalog
// (<group>/<kind>_<version>.json, kind lower-cased), so users point
// kubeconform's -schema-location at crds/schemas/. Converted from the same
// CRDs as crds/, as kubeconform's openapi2jsonschema does it, and strict:
// every object that declares its properties allows no others, as the API
// server (with strict field validation) refuses undeclared fields.
import { GROUP, VERSION, kinds } from '../api/index.ts';
import { customResourceDefinition } from '../api/kind.ts';
import type { JsonSchema } from '../api/schema.ts';

type Strict = Omit<JsonSchema, 'properties' | 'items' | 'additionalProperties'> & {
  properties?: Record<string, Strict>;
  items?: Strict;
  additionalProperties?: Strict | false;
};

function strict(node: JsonSchema): Strict {
  const { properties, items, additionalProperties, ...rest } = node;
  const out: Strict = { ...rest };
  if (properties) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, strict(v)]));
    out.additionalProperties = additionalProperties ? strict(additionalProperties) : false;
  } else if (additionalProperties) {
    out.additionalProperties = strict(additionalProperties);
  }
  if (items) out.items = strict(items);
  return out;
}

interface Crd {
  spec: { versions: { schema: { openAPIV3Schema: JsonSchema } }[] };
}

/** Path under crds/schemas/ and JSON body, for each kind. */
export function jsonSchemaFiles(): { file: string; content: string }[] {
  return kinds.map((k) => {
    const crd = customResourceDefinition(k) as unknown as Crd;
    const schema = strict(crd.spec.versions[0]!.schema.openAPIV3Schema);
    return { file: `${GROUP}/${k.kind.toLowerCase()}_${VERSION}.json`, content: JSON.stringify(schema, null, 2) + '\n' };
  });
}
