// Just enough PromQL reading to say which metrics a dashboard or an alert uses.

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** Metric names an expression selects: identifiers that are not functions, keywords, labels or strings. */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    // Grafana's label_values(selector, label): the label is no metric.
    .replace(/label_values\((.*),\s*\w+\s*\)/g, '$1')
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase())) continue;
    names.push(m[1]!);
  }
  return names;
}

interface KsmValues {
  customResourceState: { config: { spec: { resources: { metricNamePrefix?: string; metrics: { name: string }[] }[] } } };
}

/** The metric names a kube-state-metrics custom resource state config (chart values form) defines. */
export function ksmMetricNames(values: unknown): Set<string> {
  const { resources } = (values as KsmValues).customResourceState.config.spec;
  return new Set(resources.flatMap((r) => r.metrics.map((m) => `${r.metricNamePrefix ?? 'kube_customresource'}_${m.name}`)));
}
