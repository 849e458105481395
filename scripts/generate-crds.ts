// Writes crds/*.yaml from src/api. A test fails when crds/ is out of date.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../src/api/index.ts';
import { renderYaml } from '../src/api/render.ts';

const dir = join(import.meta.dirname, '..', 'crds');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) rmSync(join(dir, f));
for (const { file, content } of crdFiles(renderYaml)) {
  writeFileSync(join(dir, file), content);
  console.log(`wrote crds/${file}`);
}
