// The tree as a table a person reads in a terminal (aligned like `kubectl get`,
// drawn like `flux tree`), coloured only when asked or on a terminal.
import type { Health, TreeNode } from './tree.ts';

export interface RenderOptions {
  color: boolean;
}

const COLOURS: Record<Health['status'], string> = { True: '\x1b[32m', False: '\x1b[31m', Unknown: '\x1b[33m' };
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

interface Row {
  prefix: string;
  name: string;
  ready: Health;
}

function rows(node: TreeNode, prefix: string, childPrefix: string, out: Row[]): void {
  const label = `${node.role ? `${node.role}: ` : ''}${node.kind}/${node.namespace}/${node.name}`;
  out.push({ prefix, name: label, ready: node.ready });
  node.children.forEach((child, i) => {
    const last = i === node.children.length - 1;
    rows(child, childPrefix + (last ? '└── ' : '├── '), childPrefix + (last ? '    ' : '│   '), out);
  });
}

export function renderText(trees: readonly TreeNode[], opts: RenderOptions): string {
  const all: Row[] = [];
  for (const tree of trees) rows(tree, '', '', all);
  const header = { name: 'NAME', ready: 'READY', reason: 'REASON' };
  const width = (f: (r: Row) => string, h: string) => Math.max(h.length, ...all.map((r) => f(r).length));
  const nameW = width((r) => r.prefix + r.name, header.name);
  const readyW = width((r) => r.ready.status, header.ready);
  const reasonW = width((r) => r.ready.reason, header.reason);
  const paint = (code: string, text: string) => (opts.color ? `${code}${text}${RESET}` : text);
  const lines = [`${header.name.padEnd(nameW)}   ${header.ready.padEnd(readyW)}   ${header.reason.padEnd(reasonW)}   MESSAGE`];
  for (const r of all) {
    const colour = COLOURS[r.ready.status];
    const name = paint(DIM, r.prefix) + r.name + ' '.repeat(nameW - r.prefix.length - r.name.length);
    const ready = paint(colour, r.ready.status.padEnd(readyW));
    const reason = paint(colour, r.ready.reason.padEnd(reasonW));
    lines.push(`${name}   ${ready}   ${reason}   ${r.ready.message}`.trimEnd());
  }
  return lines.join('\n') + '\n';
}

export function renderJson(trees: readonly TreeNode[]): string {
  return JSON.stringify({ items: trees }, null, 2) + '\n';
}
