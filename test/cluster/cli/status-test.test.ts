// `postmaster status` and `postmaster test` as the engineer on call runs them:
// the real API server, the operator running, a real SMTP server (STARTTLS,
// AUTH) behind the healthy identity. The trees are compared whole: a healthy
// identity, one whose target's Secret is missing, one whose server was deleted.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmaster, type CliResult } from '../../support/cli.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource, secret } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { testPki } from '../../support/smtp-certs.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { closedPort } from '../../support/smtp-sockets.ts';
import { eventually, getCondition } from '../../support/wait.ts';

const LOGIN = { username: 'relay-user', password: 'correct-horse-battery' };
let ns: string;
let unwatched: string;
let op: Operator;
let sink: SmtpSink;

const cli = (args: string[]) => postmaster([...args, `--kubeconfig=${kubeconfig()}`]);
/** The output with this run's namespace (same length: columns stay aligned) and port replaced, so it can be compared whole. */
const plain = (r: CliResult) => r.stdout.replaceAll(ns, 'cli-status-xxxxxx').replaceAll(`:${sink.port}`, ':PORT');

const settled = (kind: string, name: string, status: string, reason?: string) =>
  eventually(async () => {
    const ready = await getCondition(kind, ns, name, 'Ready');
    expect(ready, `${kind} ${name}`).toMatchObject({ status, ...(reason ? { reason } : {}) });
  }, 30_000);

beforeAll(async () => {
  const pki = testPki();
  ns = await createNamespace('cli-status');
  // plain() keeps the columns aligned only with a placeholder of the same length.
  expect(ns).toHaveLength('cli-status-xxxxxx'.length);
  unwatched = await createNamespace('cli-unwatched');
  sink = await startSmtpSink({ mode: 'STARTTLS', tls: pki.server, auth: LOGIN, rejectRecipients: { 'nobody@example.com': 550 } });
  op = await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--check-step-timeout=2s'] });
  const relay = { host: '127.0.0.1', port: sink.port, security: 'STARTTLS', checkInterval: '1h' };
  await apply(
    ns,
    secret('relay-login', LOGIN),
    secret('relay-ca', { 'ca.crt': pki.ca }),
    // Healthy: identity -> server -> target with its login and CA.
    resource('SmtpTarget', 'relay', { ...relay, credentials: { secretRef: { name: 'relay-login' } }, tls: { caSecretRef: { name: 'relay-ca' } } }),
    resource('EmailServer', 'relay', {
      provider: 'SMTP',
      smtp: { targetRef: { name: 'relay' } },
      senderEmail: 'postmaster@example.com',
      testRecipient: 'ops@example.com',
    }),
    resource('SenderIdentity', 'alerts', { email: 'alerts@example.com', serverRef: { name: 'relay' }, smtpCredentials: { secretName: 'alerts-smtp' } }),
    // The target's Secret is missing.
    resource('SmtpTarget', 'billing-relay', { ...relay, credentials: { secretRef: { name: 'billing-login' } } }),
    resource('EmailServer', 'billing', { provider: 'SMTP', smtp: { targetRef: { name: 'billing-relay' } } }),
    resource('SenderIdentity', 'billing', { email: 'billing@example.com', serverRef: { name: 'billing' } }),
    // Its server is deleted below, at once: in-use protection is turned off for it.
    resource('EmailServer', 'gone', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } } }, { 'email.postmaster.dev/in-use-protection': 'disabled' }),
    resource('SenderIdentity', 'orphan', { email: 'orphan@example.com', serverRef: { name: 'gone' } }),
  );
  await settled('senderidentity', 'orphan', 'True');
  await kubectlOk(['delete', 'emailserver', 'gone', '-n', ns]);
  await settled('senderidentity', 'alerts', 'True');
  await eventually(async () => expect(await getCondition('senderidentity', ns, 'alerts', 'CredentialsReady')).toMatchObject({ status: 'True' }), 30_000);
  await settled('senderidentity', 'billing', 'False', 'EmailServerNotReady');
  await settled('senderidentity', 'orphan', 'False', 'EmailServerNotFound');
}, 180_000);

afterAll(async () => {
  await op?.stop();
  await sink?.close();
  await kubectl(['delete', 'ns', ns, unwatched, '--wait=false']);
});

describe('postmaster status', () => {
  it('a healthy identity: every node Ready, exit 0', async () => {
    const r = await cli(['status', '-n', ns, 'senderidentity/alerts']);
    expect(r.stderr).toBe('');
    expect(plain(r)).toBe(
      [
        'NAME                                                            READY   REASON      MESSAGE',
        'SenderIdentity/cli-status-xxxxxx/alerts                         True    Succeeded   Ready to send as alerts@example.com through EmailServer "cli-status-xxxxxx/relay".',
        '├── EmailServer/cli-status-xxxxxx/relay                         True    Succeeded   Delivers through SmtpTarget "relay".',
        '│   └── target: SmtpTarget/cli-status-xxxxxx/relay              True    Succeeded   SMTP server 127.0.0.1:PORT (STARTTLS) accepted the connection test.',
        '│       ├── credentials: Secret/cli-status-xxxxxx/relay-login   True    Found       Has keys "username", "password".',
        '│       └── ca: Secret/cli-status-xxxxxx/relay-ca               True    Found       Has key "ca.crt".',
        '└── smtpCredentials: Secret/cli-status-xxxxxx/alerts-smtp       True    Found       Has keys "host", "port", "username", "password".',
      ].join('\n') + '\n',
    );
    expect(r.code).toBe(0);
  });

  it("an identity whose target's Secret is missing: the tree leads to it, exit 1", async () => {
    const r = await cli(['status', '-n', ns, 'sender/billing']);
    expect(plain(r)).toBe(
      [
        'NAME                                                              READY   REASON                MESSAGE',
        'SenderIdentity/cli-status-xxxxxx/billing                          False   EmailServerNotReady   EmailServer "cli-status-xxxxxx/billing" is not Ready (SmtpTargetNotReady): SmtpTarget "cli-status-xxxxxx/billing-relay" is not Ready (SecretNotFound): Secret "cli-status-xxxxxx/billing-login" not found (needed for spec.credentials.usernameKey, spec.credentials.passwordKey).',
        '└── EmailServer/cli-status-xxxxxx/billing                         False   SmtpTargetNotReady    SmtpTarget "cli-status-xxxxxx/billing-relay" is not Ready (SecretNotFound): Secret "cli-status-xxxxxx/billing-login" not found (needed for spec.credentials.usernameKey, spec.credentials.passwordKey).',
        '    └── target: SmtpTarget/cli-status-xxxxxx/billing-relay        False   SecretNotFound        Secret "cli-status-xxxxxx/billing-login" not found (needed for spec.credentials.usernameKey, spec.credentials.passwordKey).',
        '        └── credentials: Secret/cli-status-xxxxxx/billing-login   False   SecretNotFound        Secret "cli-status-xxxxxx/billing-login" not found.',
      ].join('\n') + '\n',
    );
    expect(r.code).toBe(1);
  });

  it('an identity whose server was deleted: the server is NotFound, exit 1', async () => {
    const r = await cli(['status', '-n', ns, 'senderidentity', 'orphan']);
    expect(plain(r)).toBe(
      [
        'NAME                                      READY   REASON                MESSAGE',
        'SenderIdentity/cli-status-xxxxxx/orphan   False   EmailServerNotFound   EmailServer "cli-status-xxxxxx/gone" not found; it may have been deleted. Create it or point spec.serverRef elsewhere.',
        '└── EmailServer/cli-status-xxxxxx/gone    False   EmailServerNotFound   EmailServer "cli-status-xxxxxx/gone" not found.',
      ].join('\n') + '\n',
    );
    expect(r.code).toBe(1);
  });

  it('without a name: every identity of the namespace, one header', async () => {
    const r = await cli(['status', '-n', ns]);
    expect(r.code).toBe(1);
    const roots = plain(r).split('\n').filter((l) => l.startsWith('SenderIdentity/'));
    expect(roots.map((l) => l.split(/\s+/)[0])).toEqual(['alerts', 'billing', 'orphan'].map((n) => `SenderIdentity/cli-status-xxxxxx/${n}`));
    expect(plain(r).match(/^NAME /gm)).toHaveLength(1);
    const all = await cli(['status', '-A']);
    expect(all.stdout).toContain(`SenderIdentity/${ns}/alerts`);
  });

  it('-o json: the same tree for tools', async () => {
    const r = await cli(['status', '-n', ns, '-o', 'json', 'senderidentity/billing']);
    const tree = JSON.parse(r.stdout) as { items: { kind: string; ready: { status: string }; children: unknown[] }[] };
    expect(tree.items).toHaveLength(1);
    expect(tree.items[0]).toMatchObject({
      kind: 'SenderIdentity',
      namespace: ns,
      name: 'billing',
      ready: { status: 'False', reason: 'EmailServerNotReady' },
      children: [
        {
          kind: 'EmailServer',
          name: 'billing',
          children: [
            {
              role: 'target',
              kind: 'SmtpTarget',
              name: 'billing-relay',
              ready: { status: 'False', reason: 'SecretNotFound' },
              children: [{ role: 'credentials', kind: 'Secret', name: 'billing-login', ready: { status: 'False', reason: 'SecretNotFound' } }],
            },
          ],
        },
      ],
    });
  });

  it('starts from a server or a target too, and says when the object does not exist', async () => {
    const server = await cli(['status', '-n', ns, 'emailserver/relay']);
    expect(server.code).toBe(0);
    expect(plain(server).split('\n')[1]).toMatch(/^EmailServer\/cli-status-xxxxxx\/relay\s+True\s+Succeeded\s+Delivers through SmtpTarget "relay"\.$/);
    const target = await cli(['status', '-n', ns, 'smtp/billing-relay']);
    expect(target.code).toBe(1);
    const none = await cli(['status', '-n', ns, 'senderidentity/nobody']);
    expect(none.code).toBe(1);
    expect(plain(none)).toContain('SenderIdentity/cli-status-xxxxxx/nobody   False   SenderIdentityNotFound   SenderIdentity "cli-status-xxxxxx/nobody" not found.');
  });

  it('is plain when piped, coloured when asked', async () => {
    const piped = await cli(['status', '-n', ns, 'senderidentity/billing']);
    expect(piped.stdout).not.toContain('\x1b[');
    const coloured = await cli(['status', '-n', ns, '--color=always', 'senderidentity/billing']);
    expect(coloured.stdout).toContain('\x1b[31mFalse');
  });
});

describe('postmaster test', () => {
  it('sends a test message through the server and prints the result, exit 0', async () => {
    const before = sink.messages.length;
    const r = await cli(['test', '-n', ns, 'emailserver/relay', '--to', 'oncall@example.com', '--wait', '30s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(plain(r)).toMatch(/^Sent: test message to oncall@example\.com through EmailServer cli-status-xxxxxx\/relay accepted by the upstream/);
    expect(sink.messages.slice(before).map((m) => m.to)).toEqual([['oncall@example.com']]);
  });

  it('sends again for the same address, and to spec.testRecipient without --to', async () => {
    const before = sink.messages.length;
    expect((await cli(['test', '-n', ns, 'emailserver/relay', '--to', 'oncall@example.com'])).code).toBe(0);
    const r = await cli(['test', '-n', ns, 'esrv/relay', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ result: 'Sent', recipient: 'ops@example.com' });
    expect(sink.messages.slice(before).map((m) => m.to)).toEqual([['oncall@example.com'], ['ops@example.com']]);
  });

  it('exit 1 when the upstream refuses the message', async () => {
    const r = await cli(['test', '-n', ns, 'emailserver/relay', '--to', 'nobody@example.com']);
    expect(r.code).toBe(1);
    expect(plain(r)).toMatch(/^Failed: test message to nobody@example\.com through EmailServer cli-status-xxxxxx\/relay refused at /);
  });

  it('exit 4 when no operator answers within --wait, exit 3 for a server that does not exist', async () => {
    await apply(unwatched, resource('EmailServer', 'quiet', { provider: 'SMTP', smtp: { targetRef: { name: 'x' } } }));
    const quiet = await postmaster(['test', '-n', unwatched, 'emailserver/quiet', '--to', 'ops@example.com', '--wait', '2s', `--kubeconfig=${kubeconfig()}`]);
    expect(quiet.code).toBe(4);
    expect(quiet.stderr).toContain('no result for the test message within 2s');
    const missing = await cli(['test', '-n', ns, 'emailserver/nope', '--to', 'ops@example.com']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`EmailServer "${ns}/nope" not found`);
  });

  it.each([
    [['test', 'smtptarget/relay', '--to', 'a@example.com'], 'name the server: emailserver/NAME'],
    [['test', 'emailserver/relay', '--to', 'not an address'], '--to: "not an address" is not an email address'],
    [['test', 'emailserver/relay', '--wait', 'soon'], '--wait: "soon" is not a duration'],
    [['test', 'emailserver/billing'], 'has no spec.testRecipient: name the recipient with --to'],
  ])('usage errors exit 2: %j', async (args, message) => {
    const r = await cli([...args, '-n', ns]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

describe('no cluster', () => {
  it('exit 3 with the reason when the API server cannot be reached', async () => {
    const port = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'postmaster-kubeconfig-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\n` +
        'users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    try {
      const r = await postmaster(['status', `--kubeconfig=${file}`]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
