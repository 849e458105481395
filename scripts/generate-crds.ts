// Writes crds/*.yaml from src/api, and the JSON Schemas for kubeconform under
// crds/schemas/. Tests fail when either is out of date.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crdFiles } from '../src/api/index.ts';
import { renderYaml } from '../src/api/render.ts';
import { jsonSchemaFiles } from '../src/cli/schemas.ts';

const dir = join(import.meta.dirname, '..', 'crds');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) rmSync(join(dir, f));
for (const { file, content } of crdFiles(renderYaml)) {
  writeFileSync(join(dir, file), content);
  console.log(`wrote crds/${file}`);
}

const schemas = join(dir, 'schemas');
rmSync(schemas, { recursive: true, force: true });
for (const { file, content } of jsonSchemaFiles()) {
  mkdirSync(dirname(join(schemas, file)), { recursive: true });
  writeFileSync(join(schemas, file), content);
  console.log(`wrote crds/schemas/${file}`);
}
