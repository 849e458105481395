import { stringify } from 'yaml';

/** Stable YAML for generated manifests: no anchors, long descriptions left on one line. */
export function renderYaml(doc: unknown): string {
  return stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 });
}
