// Writes status through the /status subresource with a merge patch, only
// when it changed; returns the updated object, or undefined when nothing changed. The controller never writes spec: GitOps sees no drift.
import { isDeepStrictEqual } from 'node:util';
import { objectPath, type KubeClient, type ResourceType } from './rest.ts';

/**
 * Patches `status` to exactly `next`. Merge patches merge objects, so fields
 * present before and absent now are sent as null to remove them.
 */
export async function patchStatus(
  client: KubeClient,
  resource: ResourceType,
  namespace: string,
  name: string,
  previous: Record<string, unknown> | undefined,
  next: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  if (isDeepStrictEqual(previous ?? {}, next)) return undefined;
  const status: Record<string, unknown> = { ...next };
  for (const key of Object.keys(previous ?? {})) if (!(key in next)) status[key] = null;
  return client.request('PATCH', objectPath(resource, namespace, name, 'status'), { body: { status }, patch: 'merge' });
}
