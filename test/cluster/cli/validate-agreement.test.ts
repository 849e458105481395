// The offline verdict of `postmaster validate` is the API server's: for every
// case of the shared invalid table both refuse, naming the same fields with
// the same kind of error and the same words; for every example both accept,
// storing the same defaults. A CEL rule added to the CRDs with a case in the
// table and not understood offline fails here.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSources, parseSources } from '../../../src/cli/validate/documents.ts';
import { isOurs, validateOurObject } from '../../../src/cli/validate/objects.ts';
import { fieldString } from '../../../src/cli/validate/problem.ts';
import { kinds } from '../../../src/api/index.ts';
import { createNamespace, kubeconfig } from '../../support/kubectl.ts';
import { invalidCases, invalidManifest } from '../../support/invalid-manifests.ts';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples');
const plural = Object.fromEntries(kinds.map((k) => [k.kind, k.plural]));

let ns: string;
let api: CustomObjectsApi;
beforeAll(async () => {
  ns = await createNamespace('cli-validate');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig());
  api = kc.makeApiClient(CustomObjectsApi);
});

interface Verdict {
  accepted: boolean;
  /** "field reason: message", the field as Kubernetes writes it, "" for the object as a whole. */
  errors: string[];
  spec?: unknown;
}

/** A create as kubectl does it with strict field validation, dry run: the server's verdict, stored nothing. */
async function serverVerdict(manifest: Record<string, unknown>): Promise<Verdict> {
  const body = { ...manifest, metadata: { ...(manifest.metadata as object), namespace: ns } };
  try {
    const stored = (await api.createNamespacedCustomObject({
      group: 'email.postmaster.dev',
      version: 'v1alpha1',
      namespace: ns,
      plural: plural[manifest.kind as string]!,
      body,
      dryRun: 'All',
      fieldValidation: 'Strict',
    })) as { spec?: unknown };
    return { accepted: true, errors: [], spec: stored.spec };
  } catch (err) {
    const status = JSON.parse((err as { body: string }).body) as {
      message: string;
      details?: { causes?: { field: string; reason: string; message: string }[] };
    };
    // Undeclared fields are refused while decoding, before validation, with no causes.
    const unknown = [...status.message.matchAll(/unknown field "([^"]+)"/g)].map((m) => `${m[1]} FieldNotDeclared`);
    const causes = (status.details?.causes ?? []).map((c) => {
      const field = c.field === '<nil>' ? '' : c.field;
      // kube-openapi repeats the field in its words ("spec.port in body should ..."); the offline words do not.
      // The object-wide note carries a meaningless "Invalid value: null: "; the offline one says only the note.
      const message = c.message.replace(`${field} in body `, '').replace(field === '' ? 'Invalid value: null: ' : /^$/, '');
      return `${field} ${c.reason}: ${message}`;
    });
    return { accepted: false, errors: [...unknown, ...causes] };
  }
}

function offlineVerdict(manifest: Record<string, unknown>): Verdict {
  const { problems, stored } = validateOurObject(manifest as never);
  const errors = problems.map((p) =>
    p.type === 'FieldNotDeclared' ? `${fieldString(p.path)} FieldNotDeclared` : `${fieldString(p.path)} FieldValue${p.type}: ${p.message}`,
  );
  return { accepted: problems.length === 0, errors, spec: stored.spec };
}

/** CEL engines word their runtime errors differently (cel-go vs @bufbuild/cel): compare up to "evaluating rule". */
const comparable = (errors: string[]) => errors.map((e) => e.replace(/"string": .* evaluating rule: /, '"string": <evaluation error> evaluating rule: ')).sort();

describe('offline and API server verdicts agree', () => {
  it.each(invalidCases)('$kind with $name: both refuse, with the same errors', async (c) => {
    const manifest = invalidManifest(c);
    const server = await serverVerdict(manifest);
    const offline = offlineVerdict(manifest);
    expect(server.accepted, 'the API server accepted it: the table is wrong').toBe(false);
    expect(offline.accepted, 'accepted offline').toBe(false);
    expect(server.errors.some((e) => e.startsWith(`${c.field} `)), `the API server did not name ${c.field}`).toBe(true);
    expect(comparable(offline.errors)).toEqual(comparable(server.errors));
  });

  const exampleObjects = parseSources(readSources([examples], () => '')).objects.filter((o) => isOurs(o.object));

  it('every example: both accept, and the defaults filled in are the same', async () => {
    expect(exampleObjects.length).toBeGreaterThanOrEqual(16);
    expect(readdirSync(examples).length).toBeGreaterThanOrEqual(8);
    for (const { object, file } of exampleObjects) {
      const server = await serverVerdict(object);
      const offline = offlineVerdict(object);
      const what = `${file}: ${String(object.kind)}`;
      expect(server.errors, what).toEqual([]);
      expect(offline.errors, what).toEqual([]);
      expect(offline.spec, `${what}: defaults differ`).toEqual(server.spec);
    }
  });
});
