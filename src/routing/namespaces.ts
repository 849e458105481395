// Who may use a server from another namespace (the Gateway API allowedRoutes pattern).
import type { EmailServer, LabelSelector } from '../api/index.ts';
import type { World } from './world.ts';

export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Whether `server` admits identities from `namespace`. */
export function admits(world: World, server: EmailServer, namespace: string): boolean {
  if (server.metadata.namespace === namespace) return true;
  const from = server.spec.allowedNamespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return false;
  const labels = world.namespace(namespace)?.metadata.labels ?? {};
  return selectorMatches(server.spec.allowedNamespaces?.selector, labels);
}
