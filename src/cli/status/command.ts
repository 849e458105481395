// `postmaster status`: one command instead of five `kubectl describe`s.
import type { SenderIdentity } from '../../api/index.ts';
import { kinds } from '../../api/index.ts';
import { connect, connectionFlags, CONNECTION_HELP, Reader } from '../cluster.ts';
import { ExitCode, EXIT_CODES_HELP, usageError } from '../errors.ts';
import { oneOf, parseFlags, type Io } from '../io.ts';
import { renderJson, renderText } from './render.ts';
import { emailServerNode, senderIdentityNode, senderIdentityNodeByName, smtpTargetNode, type TreeNode } from './tree.ts';

export const statusHelp = (prog: string) => `Usage: ${prog} status [flags] [KIND/NAME]

Shows, for each SenderIdentity (or the one object named), the tree of what it
depends on: its EmailServer, the server's SMTP target or API key, fallback
target, incoming mailbox and every Secret, each with Ready, reason and message
as the operator reported them. Secrets are checked for the keys asked for;
their values are never read out.

KIND is senderidentity, emailserver or smtptarget (or a short name: sender,
esrv, smtp). Without KIND/NAME: every SenderIdentity of the namespace.

Flags:
  -A, --all-namespaces   every SenderIdentity of every namespace
  -o, --output FORMAT    text (default) or json
      --color WHEN       auto (default: colour on a terminal), always, never
${CONNECTION_HELP}
  -h, --help             this help

The exit code is 0 when every tree's root is Ready, 1 when one is not.
${EXIT_CODES_HELP}`;

type RootKind = 'SenderIdentity' | 'EmailServer' | 'SmtpTarget';

/** Every name kubectl accepts for our kinds: kind, plural, singular, short names, and those with the group. */
const aliases = new Map<string, RootKind>();
for (const k of kinds) {
  for (const n of [k.kind.toLowerCase(), k.plural, k.singular, ...k.shortNames]) {
    aliases.set(n, k.kind as RootKind);
    aliases.set(`${n}.email.postmaster.dev`, k.kind as RootKind);
  }
}

export function parseTarget(positionals: readonly string[]): { kind: RootKind; name: string } | undefined {
  if (positionals.length === 0) return undefined;
  const [first, second, ...extra] = positionals;
  const [kindWord, name] = first!.includes('/') ? first!.split('/', 2) : [first!, second];
  if (extra.length > 0 || (first!.includes('/') && second !== undefined)) throw usageError('name one object: KIND/NAME');
  const kind = aliases.get(kindWord!.toLowerCase());
  if (!kind) throw usageError(`"${kindWord}" is not a postmaster kind (senderidentity, emailserver, smtptarget)`);
  if (!name) throw usageError(`name the ${kind}: ${kindWord}/NAME`);
  return { kind, name };
}

export async function runStatus(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { values, positionals } = parseFlags(argv, {
    ...connectionFlags,
    'all-namespaces': { type: 'boolean', short: 'A' },
    output: { type: 'string', short: 'o' },
    color: { type: 'string' },
  });
  if (values.help) {
    io.stdout(statusHelp(io.prog));
    return ExitCode.Ok;
  }
  const output = oneOf('--output', values.output, ['text', 'json'], 'text');
  const colorWhen = oneOf('--color', values.color, ['auto', 'always', 'never'], 'auto');
  const target = parseTarget(positionals);
  if (target && values['all-namespaces']) throw usageError('-A lists every identity; it does not go with KIND/NAME');

  const conn = connect(values);
  try {
    const reader = new Reader(conn.client);
    const ns = conn.namespace;
    let trees: TreeNode[];
    if (target?.kind === 'SenderIdentity') trees = [await senderIdentityNodeByName(reader, ns, target.name)];
    else if (target?.kind === 'EmailServer') trees = [await emailServerNode(reader, ns, target.name)];
    else if (target?.kind === 'SmtpTarget') trees = [await smtpTargetNode(reader, ns, target.name)];
    else {
      const identities = await reader.list<SenderIdentity>('SenderIdentity', values['all-namespaces'] ? undefined : ns);
      identities.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
      trees = await Promise.all(identities.map((i) => senderIdentityNode(reader, i)));
      if (trees.length === 0 && output === 'text') {
        io.stderr(values['all-namespaces'] ? 'No SenderIdentities found.\n' : `No SenderIdentities found in namespace "${ns}".\n`);
        return ExitCode.Ok;
      }
    }
    const color = colorWhen === 'always' || (colorWhen === 'auto' && io.isTTY && !io.env.NO_COLOR);
    io.stdout(output === 'json' ? renderJson(trees) : renderText(trees, { color }));
    return trees.every((t) => t.ready.status === 'True') ? ExitCode.Ok : ExitCode.No;
  } finally {
    conn.close();
  }
}
