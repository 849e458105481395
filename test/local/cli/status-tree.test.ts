// The status tree from objects in memory: the branches a cluster test does not
// reach (API key, fallback, mailbox, a Secret the user may not read, a status
// older than the spec, no status at all, ambiguous namespace defaults).
import { describe, expect, it } from 'vitest';
import type { Kind, Lookup, ObjectReader } from '../../../src/cli/cluster.ts';
import { renderText } from '../../../src/cli/status/render.ts';
import { emailServerNode, senderIdentityNodeByName } from '../../../src/cli/status/tree.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ready = (status: string, reason: string, message: string, observedGeneration = 1) => ({
  observedGeneration,
  conditions: [{ type: 'Ready', status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration }],
});

class MemoryReader implements ObjectReader {
  private readonly objects = new Map<string, unknown>();
  readonly forbidden = new Set<string>();
  add(kind: Kind, namespace: string, name: string, body: Record<string, unknown>): this {
    this.objects.set(`${kind}/${namespace}/${name}`, { metadata: { namespace, name, generation: 1 }, ...body });
    return this;
  }
  async get<T>(kind: Kind, namespace: string, name: string): Promise<Lookup<T>> {
    const key = `${kind}/${namespace}/${name}`;
    if (this.forbidden.has(key)) return { missing: 'Forbidden', message: `You may not read ${kind} "${namespace}/${name}" (RBAC).` };
    const found = this.objects.get(key) as T | undefined;
    return found ? { found } : { missing: 'NotFound', message: `${kind} "${namespace}/${name}" not found.` };
  }
  async list<T>(kind: Kind, namespace: string | undefined): Promise<T[]> {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${kind}/${namespace ?? ''}`)).map(([, v]) => v as T);
  }
}

describe('status tree', () => {
  it('an API server: key Secret, fallback target, incoming mailbox with its Secrets', async () => {
    const r = new MemoryReader()
      .add('EmailServer', 'mail', 'sendgrid', {
        spec: {
          provider: 'SendGrid',
          sendgrid: { apiKeySecretRef: { name: 'sg', key: 'apiKey' } },
          fallback: { smtpTargetRef: { name: 'backup' } },
          incoming: { protocol: 'IMAP', host: 'imap.example.com', port: 993, credentials: { secretRef: { name: 'box' } }, tls: { caSecretRef: { name: 'ca' } } },
        },
        status: {
          ...ready('True', 'Succeeded', 'Delivers through the SendGrid API. FallbackConnected is False (SmtpTargetNotReady).'),
          conditions: [
            ...ready('True', 'Succeeded', 'Delivers through the SendGrid API.').conditions,
            { type: 'IncomingConnected', status: 'False', reason: 'AuthenticationFailed', message: 'IMAP login refused.', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 },
          ],
        },
      })
      .add('Secret', 'mail', 'sg', { data: { apiKey: b64('SG.secret-value') } })
      .add('Secret', 'mail', 'box', { data: { username: b64('u'), password: b64('  ') } })
      .add('SmtpTarget', 'mail', 'backup', { spec: { host: 'relay', port: 25 }, status: ready('True', 'Succeeded', 'ok', 0) });
    r.forbidden.add('Secret/mail/ca');
    const text = renderText([await emailServerNode(r, 'mail', 'sendgrid')], { color: false });
    expect(text).toBe(
      [
        'NAME                                                   READY     REASON                 MESSAGE',
        'EmailServer/mail/sendgrid                              True      Succeeded              Delivers through the SendGrid API.',
        '├── apiKey: Secret/mail/sg                             True      Found                  Has key "apiKey".',
        '├── fallback: SmtpTarget/mail/backup                   Unknown   NotObservedYet         The operator has not acted on generation 1 yet (last: 0): ok',
        '└── incoming: Mailbox/mail/IMAP imap.example.com:993   False     AuthenticationFailed   IMAP login refused.',
        '    ├── credentials: Secret/mail/box                   False     SecretValueEmpty       Secret "mail/box" key "password" is empty.',
        '    └── ca: Secret/mail/ca                             Unknown   Forbidden              You may not read Secret "mail/ca" (RBAC).',
      ].join('\n') + '\n',
    );
    expect(text).not.toContain('SG.secret-value');
  });

  it('an identity without serverRef: the namespace default, or why there is none', async () => {
    const r = new MemoryReader()
      .add('SenderIdentity', 'team', 'a', { spec: { email: 'a@example.com' } })
      .add('EmailServer', 'team', 'one', { spec: { provider: 'SMTP', default: true } })
      .add('EmailServer', 'team', 'two', { spec: { provider: 'SMTP', default: true } });
    const tree = await senderIdentityNodeByName(r, 'team', 'a');
    expect(tree.ready).toEqual({ status: 'Unknown', reason: 'NoStatus', message: 'No status yet: is the operator running and watching namespace "team"?' });
    expect(tree.children[0]).toMatchObject({
      kind: 'EmailServer',
      name: '(namespace default)',
      ready: { status: 'False', reason: 'MultipleDefaultServers', message: 'Namespace "team" has 2 default EmailServers ("one", "two").' },
    });
  });

  it('an identity whose mail a SendingDomain signs: the domain and its key Secrets, never a key', async () => {
    const r = new MemoryReader()
      .add('SenderIdentity', 'team', 'a', {
        spec: { email: 'a@example.com', serverRef: { name: 'relay' } },
        status: { ...ready('True', 'Succeeded', 'Ready to send.'), server: { name: 'relay', namespace: 'team' }, signing: { by: 'SendingDomain', sendingDomain: 'example' } },
      })
      .add('EmailServer', 'team', 'relay', { spec: { provider: 'SMTP' }, status: ready('True', 'Succeeded', 'ok') })
      .add('SendingDomain', 'team', 'example', {
        spec: { domain: 'example.com', dkim: { selector: 's1', generate: { secretName: 'dkim-s1' }, secondary: { selector: 'e1', privateKeySecretRef: { name: 'ed', key: 'ed.pem' } } } },
        status: ready('False', 'RecordMissing', 'DNS has no DKIM record at s1._domainkey.example.com.'),
      })
      .add('Secret', 'team', 'dkim-s1', { data: { 'private.key': b64('-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----') } });
    const text = renderText([await senderIdentityNodeByName(r, 'team', 'a')], { color: false });
    expect(text).toMatch(/signing: SendingDomain\/team\/example\s+False\s+RecordMissing/);
    expect(text).toMatch(/key s1: Secret\/team\/dkim-s1\s+True\s+Found/);
    expect(text).toMatch(/key e1: Secret\/team\/ed\s+False\s+SecretNotFound/);
    expect(text).not.toContain('SECRETKEY');
  });
});
