// Adds or removes one finalizer, keeping everyone else's. The patch carries the
// resourceVersion it was computed from, so a concurrent change fails with 409
// (retried by the work queue) instead of dropping another controller's finalizer.
import { isNotFound, objectPath, type KubeClient, type ResourceType } from './rest.ts';

export interface FinalizerTarget {
  metadata: { namespace?: string; name: string; resourceVersion?: string; finalizers?: string[] };
}

/** Returns the patched object, or undefined when nothing changed (or the object is already gone). */
export async function setFinalizer(
  client: KubeClient,
  resource: ResourceType,
  obj: FinalizerTarget,
  finalizer: string,
  present: boolean,
): Promise<Record<string, unknown> | undefined> {
  const current = obj.metadata.finalizers ?? [];
  if (current.includes(finalizer) === present) return undefined;
  const finalizers = present ? [...current, finalizer] : current.filter((f) => f !== finalizer);
  const metadata: Record<string, unknown> = { finalizers };
  if (obj.metadata.resourceVersion) metadata.resourceVersion = obj.metadata.resourceVersion;
  try {
    return await client.request('PATCH', objectPath(resource, obj.metadata.namespace ?? '', obj.metadata.name), {
      body: { metadata },
      patch: 'merge',
    });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
