// The answer to "why can't team X send?": from a SenderIdentity down to its
// EmailServer, the server's target, fallback, mailbox and Secrets, each with
import { entraRefs, smtpCredentialRefs } from '../../routing/oauth2.ts';
// its Ready condition (or, for a Secret, whether it has the keys asked for).
// Each kind's children come from a list of finders, so a new kind (the
// SendingDomain that signs an identity's mail) is one more finder.
import { DKIM_PRIVATE_KEY, type Condition, type EmailServer, type SenderIdentity, type SendingDomain, type SmtpTarget } from '../../api/index.ts';
import type { Lookup, ObjectReader as Reader } from '../cluster.ts';

export interface Health {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface TreeNode {
  /** What the parent uses it for: target, fallback, credentials, ...; absent for a root and an identity's server. */
  role?: string;
  kind: string;
  namespace: string;
  name: string;
  ready: Health;
  children: TreeNode[];
}

interface Meta {
  metadata: { name: string; namespace: string; generation?: number };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** Ready as kstatus reads it: a condition for an older generation is no answer yet. */
export function healthOf(obj: Meta, conditionType = 'Ready'): Health {
  const { namespace } = obj.metadata;
  const conditions = obj.status?.conditions;
  if (!conditions?.length) {
    return { status: 'Unknown', reason: 'NoStatus', message: `No status yet: is the operator running and watching namespace "${namespace}"?` };
  }
  const c = conditions.find((x) => x.type === conditionType);
  if (!c) return { status: 'Unknown', reason: `No${conditionType}Condition`, message: `The status has no ${conditionType} condition.` };
  const generation = obj.metadata.generation ?? 0;
  const observed = c.observedGeneration ?? obj.status?.observedGeneration ?? generation;
  if (observed < generation) {
    return { status: 'Unknown', reason: 'NotObservedYet', message: `The operator has not acted on generation ${generation} yet (last: ${observed}): ${c.message}` };
  }
  return { status: c.status, reason: c.reason, message: c.message };
}

const missingNode = (kind: string, namespace: string, name: string, lookup: Exclude<Lookup<unknown>, { found: unknown }>, role?: string): TreeNode => ({
  ...(role ? { role } : {}),
  kind,
  namespace,
  name,
  // The operator's own words for it: SecretNotFound, EmailServerNotFound, SmtpTargetNotFound.
  ready: lookup.missing === 'NotFound'
    ? { status: 'False', reason: `${kind}NotFound`, message: lookup.message }
    : { status: 'Unknown', reason: 'Forbidden', message: lookup.message },
  children: [],
});

const node = (obj: Meta, kind: string, ready: Health, children: TreeNode[], role?: string): TreeNode => ({
  ...(role ? { role } : {}),
  kind,
  namespace: obj.metadata.namespace,
  name: obj.metadata.name,
  ready,
  children,
});

interface SecretData {
  data?: Record<string, string>;
}

/** A Secret is fine when it has every key asked for, none empty. Values are never read beyond that. */
export async function secretNode(reader: Reader, namespace: string, name: string, keys: string[], role: string): Promise<TreeNode> {
  const lookup = await reader.get<SecretData>('Secret', namespace, name);
  if (!('found' in lookup)) return missingNode('Secret', namespace, name, lookup, role);
  const data = lookup.found.data ?? {};
  const where = `Secret "${namespace}/${name}"`;
  const absent = keys.filter((k) => data[k] === undefined);
  const empty = keys.filter((k) => data[k] !== undefined && Buffer.from(data[k]!, 'base64').toString('utf8').trim() === '');
  const ready: Health = absent.length
    ? { status: 'False', reason: 'SecretKeyNotFound', message: `${where} has no key ${absent.map((k) => `"${k}"`).join(', ')}.` }
    : empty.length
      ? { status: 'False', reason: 'SecretValueEmpty', message: `${where} key ${empty.map((k) => `"${k}"`).join(', ')} is empty.` }
      : { status: 'True', reason: 'Found', message: `Has key${keys.length === 1 ? '' : 's'} ${keys.map((k) => `"${k}"`).join(', ')}.` };
  return { role, kind: 'Secret', namespace, name, ready, children: [] };
}

type Finder<T> = (obj: T, reader: Reader) => Promise<TreeNode[]>;

const targetFinders: Finder<SmtpTarget>[] = [
  async (t, r) => {
    const refs = smtpCredentialRefs(t.spec.credentials, 'spec.credentials');
    const byName = new Map<string, string[]>();
    for (const ref of refs) byName.set(ref.name, [...(byName.get(ref.name) ?? []), ref.key]);
    return Promise.all([...byName].map(([name, keys]) => secretNode(r, t.metadata.namespace, name, keys, 'credentials')));
  },
  async (t, r) => {
    const ca = t.spec.tls?.caSecretRef;
    return ca ? [await secretNode(r, t.metadata.namespace, ca.name, [ca.key ?? 'ca.crt'], 'ca')] : [];
  },
];

export async function smtpTargetNode(reader: Reader, namespace: string, name: string, role?: string): Promise<TreeNode> {
  const lookup = await reader.get<SmtpTarget>('SmtpTarget', namespace, name);
  if (!('found' in lookup)) return missingNode('SmtpTarget', namespace, name, lookup, role);
  const target = lookup.found;
  const children = (await Promise.all(targetFinders.map((f) => f(target, reader)))).flat();
  return node(target, 'SmtpTarget', healthOf(target), children, role);
}

/** What an EmailServer depends on, in the order the tree shows it. */
const serverFinders: Finder<EmailServer>[] = [
  // Where mail leaves: the SMTP target, or the provider API key.
  async (s, r) => {
    const ns = s.metadata.namespace;
    if (s.spec.provider === 'SMTP') return s.spec.smtp ? [await smtpTargetNode(r, ns, s.spec.smtp.targetRef.name, 'target')] : [];
    if (s.spec.provider === 'MicrosoftGraph') {
      const app = s.spec.microsoftGraph?.app;
      return app ? [await secretNode(r, ns, app.secretRef.name, entraRefs(app, 'app').map((ref) => ref.key), 'app')] : [];
    }
    const api = s.spec.provider === 'SendGrid' ? s.spec.sendgrid : s.spec.sparkpost;
    return api ? [await secretNode(r, ns, api.apiKeySecretRef.name, [api.apiKeySecretRef.key ?? 'apiKey'], 'apiKey')] : [];
  },
  async (s, r) => (s.spec.fallback ? [await smtpTargetNode(r, s.metadata.namespace, s.spec.fallback.smtpTargetRef.name, 'fallback')] : []),
  async (s, r) => {
    const box = s.spec.incoming;
    if (!box) return [];
    const ns = s.metadata.namespace;
    const c = box.credentials;
    const children = [await secretNode(r, ns, c.secretRef.name, [c.usernameKey ?? 'username', c.passwordKey ?? 'password'], 'credentials')];
    if (box.tls?.caSecretRef) children.push(await secretNode(r, ns, box.tls.caSecretRef.name, [box.tls.caSecretRef.key ?? 'ca.crt'], 'ca'));
    const mailbox = { metadata: { ...s.metadata, name: `${box.protocol} ${box.host}:${box.port}` }, status: s.status };
    return [node(mailbox, 'Mailbox', healthOf(s, 'IncomingConnected'), children, 'incoming')];
  },
];

export async function emailServerNode(reader: Reader, namespace: string, name: string, role?: string): Promise<TreeNode> {
  const lookup = await reader.get<EmailServer>('EmailServer', namespace, name);
  if (!('found' in lookup)) return missingNode('EmailServer', namespace, name, lookup, role);
  const server = lookup.found;
  const children = (await Promise.all(serverFinders.map((f) => f(server, reader)))).flat();
  return node(server, 'EmailServer', healthOf(server), children, role);
}

/** The server an identity uses: what the operator resolved, else what the spec names, else the namespace default. */
async function identityServer(identity: SenderIdentity, reader: Reader): Promise<TreeNode> {
  const ns = identity.metadata.namespace;
  const ref = identity.spec.serverRef;
  if (ref) return emailServerNode(reader, ref.namespace ?? ns, ref.name);
  if (identity.status?.server?.name) return emailServerNode(reader, identity.status.server.namespace ?? ns, identity.status.server.name);
  const defaults = (await reader.list<EmailServer>('EmailServer', ns)).filter((s) => s.spec.default === true);
  if (defaults.length === 1) return emailServerNode(reader, ns, defaults[0]!.metadata.name);
  const names = defaults.map((s) => `"${s.metadata.name}"`).sort().join(', ');
  const ready: Health = defaults.length
    ? { status: 'False', reason: 'MultipleDefaultServers', message: `Namespace "${ns}" has ${defaults.length} default EmailServers (${names}).` }
    : { status: 'False', reason: 'NoDefaultServer', message: `spec.serverRef is not set and namespace "${ns}" has no EmailServer with default: true.` };
  return { kind: 'EmailServer', namespace: ns, name: '(namespace default)', ready, children: [] };
}

/** A SendingDomain and the Secrets of its keys (only whether they hold the key is read). */
export async function sendingDomainNode(reader: Reader, namespace: string, name: string, role?: string): Promise<TreeNode> {
  const lookup = await reader.get<SendingDomain>('SendingDomain', namespace, name);
  if (!('found' in lookup)) return missingNode('SendingDomain', namespace, name, lookup, role);
  const sd = lookup.found;
  const { dkim } = sd.spec;
  const children = await Promise.all(
    [dkim, ...(dkim.secondary ? [dkim.secondary] : [])].map((k) => {
      const secret = k.privateKeySecretRef?.name ?? k.generate?.secretName ?? '';
      return secretNode(reader, namespace, secret, [k.privateKeySecretRef?.key ?? DKIM_PRIVATE_KEY], `key ${k.selector}`);
    }),
  );
  return node(sd, 'SendingDomain', healthOf(sd), children, role);
}

const identityFinders: Finder<SenderIdentity>[] = [
  async (i, r) => [await identityServer(i, r)],
  // The SendingDomain (of the server's namespace) whose key signs this identity's mail, as the operator resolved it.
  async (i, r) => {
    const name = i.status?.signing?.sendingDomain;
    return name ? [await sendingDomainNode(r, i.status?.server?.namespace ?? i.metadata.namespace, name, 'signing')] : [];
  },
  async (i, r) => {
    const name = i.spec.smtpCredentials?.secretName;
    return name ? [await secretNode(r, i.metadata.namespace, name, ['host', 'port', 'username', 'password'], 'smtpCredentials')] : [];
  },
];

export async function senderIdentityNode(reader: Reader, identity: SenderIdentity): Promise<TreeNode> {
  const children = (await Promise.all(identityFinders.map((f) => f(identity, reader)))).flat();
  return node(identity, 'SenderIdentity', healthOf(identity), children);
}

export async function senderIdentityNodeByName(reader: Reader, namespace: string, name: string): Promise<TreeNode> {
  const lookup = await reader.get<SenderIdentity>('SenderIdentity', namespace, name);
  return 'found' in lookup ? senderIdentityNode(reader, lookup.found) : missingNode('SenderIdentity', namespace, name, lookup);
}
