// SendingDomains end to end: the operator as users run it (`--dns-server` at a
// real dnsmasq on loopback), a generated key Secret it owns and never rotates by
// surprise, the record status shows checked in DNS (published, mismatched,
// missing, lookup failing), and mail through both doors to a real sink signed
// with RSA and Ed25519, verified by mailauth and dkimpy against that DNS.
import { execFileSync } from 'node:child_process';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DkimRecord, SenderIdentityStatus } from '../../../src/api/index.ts';
import { verifyWithDkimpy, verifyWithMailauth } from '../../support/dkim-verify.ts';
import { startDnsmasq, type Dnsmasq, type TxtRecords } from '../../support/dnsmasq.ts';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { apply, resource, secret } from '../../support/manifests.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { startSmtpSink, type SmtpSink } from '../../support/smtp-sink.ts';
import { eventually, getCondition, getObject } from '../../support/wait.ts';

interface SecretView {
  metadata: { uid: string; resourceVersion: string; ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[] };
  data: Record<string, string>;
}
interface DomainView {
  metadata: { uid: string };
  status?: { dkim?: DkimRecord[]; dmarc?: { policy: string } };
}

let ns: string;
let op: Operator;
let dns: Dnsmasq;
let sink: SmtpSink;
const DMARC: TxtRecords = { '_dmarc.example.com': ['v=DMARC1; p=quarantine'] };

const records = async (name: string): Promise<DkimRecord[]> => (await getObject<DomainView>('sendingdomain', ns, name))?.status?.dkim ?? [];
const publish = async (name: string, extra: TxtRecords = {}) =>
  dns.set({ ...DMARC, ...Object.fromEntries((await records(name)).map((r) => [r.name!, r.strings!])), ...extra });
/** Annotating makes the operator look at DNS again now, not after the recheck interval. */
const recheck = (name: string) => kubectlOk(['annotate', '--overwrite', 'sendingdomain', name, '-n', ns, `test.postmaster.dev/recheck=${Date.now()}`]);
const privateKeys = new Set<string>();
const rememberKey = async (secretName: string) => {
  const s = await getObject<SecretView>('secret', ns, secretName);
  const pem = Buffer.from(s!.data['private.key']!, 'base64').toString();
  // The base64 lines inside the PEM: none of them may ever show up anywhere.
  for (const line of pem.split('\n').filter((l) => l && !l.startsWith('-----'))) privateKeys.add(line);
};

beforeAll(async () => {
  ns = await createNamespace('sdom');
  dns = await startDnsmasq(DMARC);
  sink = await startSmtpSink({ mode: 'None' });
  op = await startOperator({ kubeconfig: kubeconfig(), namespaces: [ns], extraArgs: ['--connection-tests=false', `--dns-server=${dns.server}`] });
  await apply(
    ns,
    resource('SmtpTarget', 'sink', { host: '127.0.0.1', port: sink.port, security: 'None' }),
    resource('EmailServer', 'sink', { provider: 'SMTP', smtp: { targetRef: { name: 'sink' } }, default: true }),
    resource('SenderIdentity', 'alerts', { email: 'alerts@eu.example.com', displayName: 'Zoë Alerts', smtpCredentials: { secretName: 'alerts-smtp' } }),
    resource('SenderIdentity', 'other', { email: 'other@example.net' }),
    resource('SendingDomain', 'example', {
      domain: 'example.com',
      includeSubdomains: true,
      dkim: {
        selector: 's1',
        generate: { algorithm: 'RSA-2048', secretName: 'dkim-s1' },
        secondary: { selector: 'e1', generate: { algorithm: 'Ed25519', secretName: 'dkim-e1' } },
      },
    }),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'send-alerts' },
      rules: [{ apiGroups: ['email.postmaster.dev'], resources: ['senderidentities'], verbs: ['send'], resourceNames: ['alerts'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'app-sends-alerts' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'send-alerts' },
      subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: ns }],
    },
  );
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await sink?.close();
  await dns?.stop();
  await kubectl(['delete', 'ns', ns, '--wait=false']);
});

describe('keys and DNS', () => {
  it('generates each key once into a Secret the SendingDomain owns, and shows the record to publish', async () => {
    await eventually(async () => {
      expect(await getCondition('sendingdomain', ns, 'example', 'KeyReady')).toMatchObject({ status: 'True', reason: 'KeyGenerated' });
      expect(await getCondition('sendingdomain', ns, 'example', 'DnsPublished')).toMatchObject({ status: 'False', reason: 'RecordMissing' });
      expect(await getCondition('sendingdomain', ns, 'example', 'Ready')).toMatchObject({ status: 'False', reason: 'RecordMissing' });
      expect(await getCondition('sendingdomain', ns, 'example', 'Reconciling')).toMatchObject({ status: 'True' });
    }, 30_000);
    const sd = (await getObject<DomainView>('sendingdomain', ns, 'example'))!;
    for (const name of ['dkim-s1', 'dkim-e1']) {
      const s = (await getObject<SecretView>('secret', ns, name))!;
      expect(s.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SendingDomain', name: 'example', uid: sd.metadata.uid, controller: true })]);
      await rememberKey(name);
    }
    const [rsa, ed] = sd.status!.dkim!;
    expect(rsa).toMatchObject({ selector: 's1', algorithm: 'rsa-sha256', keyBits: 2048, name: 's1._domainkey.example.com', type: 'TXT', published: false });
    expect(rsa!.value).toMatch(/^v=DKIM1; k=rsa; p=MII/);
    expect(rsa!.strings!.join('')).toBe(rsa!.value);
    expect(rsa!.strings!.every((s) => Buffer.byteLength(s) <= 255)).toBe(true);
    expect(ed).toMatchObject({ selector: 'e1', algorithm: 'ed25519-sha256', name: 'e1._domainkey.example.com' });
    expect(ed!.value).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  });

  it('DnsPublished and Ready once DNS serves the records; DMARC reported', async () => {
    await publish('example');
    await recheck('example');
    await eventually(async () => {
      expect(await getCondition('sendingdomain', ns, 'example', 'DnsPublished')).toMatchObject({ status: 'True', reason: 'RecordPublished' });
      expect(await getCondition('sendingdomain', ns, 'example', 'Ready')).toMatchObject({ status: 'True' });
      expect(await getCondition('sendingdomain', ns, 'example', 'DmarcPublished')).toMatchObject({ status: 'True', reason: 'DmarcFound' });
    });
    const sd = (await getObject<DomainView>('sendingdomain', ns, 'example'))!;
    expect(sd.status!.dkim!.map((r) => r.published)).toEqual([true, true]);
    expect(sd.status!.dmarc).toMatchObject({ policy: 'quarantine' });
    // The README's command that prints zone-file lines.
    const zone = await kubectlOk([
      'get', 'sendingdomain', 'example', '-n', ns,
      '-o', 'jsonpath={range .status.dkim[*]}{.name}. IN TXT ({range .strings[*]} "{@}"{end} ){"\\n"}{end}',
    ]);
    expect(zone).toMatch(/^s1\._domainkey\.example\.com\. IN TXT \( "v=DKIM1; k=rsa; p=[^"]+"( "[^"]+")+ \)$/m);
    expect(zone).toMatch(/^e1\._domainkey\.example\.com\. IN TXT \( "v=DKIM1; k=ed25519; p=[^"]+" \)$/m);
    const table = await kubectlOk(['get', 'sendingdomains', '-n', ns]);
    expect(table.split('\n')[0]).toMatch(/NAME\s+DOMAIN\s+SELECTOR\s+PUBLISHED\s+READY\s+REASON\s+AGE/);
    expect(table).toMatch(/example\s+example\.com\s+s1\s+True\s+True\s+Succeeded/);
  });

  it('the identity says which domain and selectors sign its mail', async () => {
    await eventually(async () => {
      const s = (await getObject<{ status?: SenderIdentityStatus }>('senderidentity', ns, 'alerts'))?.status?.signing;
      expect(s).toMatchObject({ by: 'SendingDomain', sendingDomain: 'example', domain: 'example.com', selectors: ['s1', 'e1'] });
      const other = (await getObject<{ status?: SenderIdentityStatus }>('senderidentity', ns, 'other'))?.status?.signing;
      expect(other).toMatchObject({ by: 'None' });
    });
  });

  it('never rotates a generated key by surprise: reconciles leave the Secret as it is', async () => {
    const before = (await getObject<SecretView>('secret', ns, 'dkim-s1'))!;
    await recheck('example');
    await new Promise((r) => setTimeout(r, 2000));
    const after = (await getObject<SecretView>('secret', ns, 'dkim-s1'))!;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(after.data).toEqual(before.data);
  });
});

describe('mail through both doors is signed', () => {
  const html = '<p>Grüße</p><img src="cid:logo@example.com">';
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==';

  /** The message that reached the sink for `rcpt` verifies with both verifiers, against what DNS serves. */
  async function expectVerified(rcpt: string): Promise<void> {
    const m = await eventually(async () => {
      const found = sink.messages.find((x) => x.to.includes(rcpt));
      expect(found).toBeDefined();
      return found!;
    });
    expect(m.headers.get('subject')?.[0]).toMatch(/^=\?UTF-8\?/i);
    for (const verify of [verifyWithMailauth, verifyWithDkimpy]) {
      const verdicts = await verify(m.raw, dns.server);
      expect(verdicts.map((v) => [v.domain, v.selector, v.algorithm, v.detail]).sort()).toEqual([
        ['example.com', 'e1', 'ed25519-sha256', 'pass'],
        ['example.com', 's1', 'rsa-sha256', 'pass'],
      ]);
    }
  }

  it('HTTP: a message with an attachment and a UTF-8 subject', async () => {
    const token = (await kubectlOk(['create', 'token', 'app', '-n', ns, '--audience', 'postmaster', '--duration=1h'])).trim();
    const subject = `Prüfung ✓ http ${Date.now()}`;
    const res = await fetch(`http://127.0.0.1:${op.httpPort}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        sender: 'alerts',
        to: ['Ann <ann-http@example.org>'],
        subject,
        text: 'plain  text with trailing space \n',
        html,
        attachments: [{ filename: 'logo.png', contentType: 'image/png', content: png }],
      }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await expectVerified('ann-http@example.org');
  });

  it('SMTP: a multipart/related message with an inline image, submitted with the generated credentials', async () => {
    const creds = await eventually(async () => {
      const s = await getObject<SecretView>('secret', ns, 'alerts-smtp');
      expect(s).toBeDefined();
      return Object.fromEntries(Object.entries(s!.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    });
    const client = createTransport({ host: '127.0.0.1', port: op.smtpPort, secure: false, ignoreTLS: true, auth: { user: creds.username!, pass: creds.password! } });
    try {
      await client.sendMail({
        from: 'alerts@eu.example.com',
        to: 'Ann <ann-smtp@example.org>',
        subject: `Prüfung ✓ smtp ${Date.now()}`,
        text: 'plain',
        html,
        attachments: [{ filename: 'logo.png', contentType: 'image/png', content: Buffer.from(png, 'base64'), cid: 'logo@example.com' }],
      });
    } finally {
      client.close();
    }
    await expectVerified('ann-smtp@example.org');
  });
});

describe('failures', () => {
  it('RecordMismatch once the key changes (deleting the generated Secret is how to get a new one)', async () => {
    const before = (await records('example'))[0]!.value;
    await kubectlOk(['delete', 'secret', 'dkim-s1', '-n', ns]);
    await eventually(async () => {
      expect((await records('example'))[0]!.value).not.toBe(before);
      expect(await getCondition('sendingdomain', ns, 'example', 'DnsPublished')).toMatchObject({ status: 'False', reason: 'RecordMismatch' });
      expect(await getCondition('sendingdomain', ns, 'example', 'Ready')).toMatchObject({ status: 'False', reason: 'RecordMismatch' });
    }, 30_000);
    await rememberKey('dkim-s1');
  });

  it('LookupFailed, transient (Reconciling, not Stalled), while the DNS server is down', async () => {
    await dns.stop();
    await recheck('example');
    await eventually(async () => {
      expect(await getCondition('sendingdomain', ns, 'example', 'DnsPublished')).toMatchObject({ status: 'False', reason: 'LookupFailed' });
      expect(await getCondition('sendingdomain', ns, 'example', 'Reconciling')).toMatchObject({ status: 'True', reason: 'RetryingAfterFailure' });
      expect(await getCondition('sendingdomain', ns, 'example', 'Stalled')).toBeUndefined();
    });
    // Back up with the new record: published again without anyone touching the object.
    await publish('example');
    await eventually(async () => {
      expect(await getCondition('sendingdomain', ns, 'example', 'Ready')).toMatchObject({ status: 'True' });
    }, 30_000);
  });

  it('a 512-bit key is KeyTooShort, a missing Secret SecretNotFound: both Stalled, nothing generated', async () => {
    const short = execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:512'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    for (const line of short.split('\n').filter((l) => l && !l.startsWith('-----'))) privateKeys.add(line);
    await apply(
      ns,
      secret('short-key', { 'private.key': short }),
      resource('SendingDomain', 'short', { domain: 'short.example', dkim: { selector: 'k1', privateKeySecretRef: { name: 'short-key' } } }),
      resource('SendingDomain', 'absent', { domain: 'absent.example', dkim: { selector: 'k1', privateKeySecretRef: { name: 'no-such-secret' } } }),
    );
    await eventually(async () => {
      expect(await getCondition('sendingdomain', ns, 'short', 'KeyReady')).toMatchObject({ status: 'False', reason: 'KeyTooShort' });
      expect(await getCondition('sendingdomain', ns, 'short', 'Stalled')).toMatchObject({ status: 'True', reason: 'KeyTooShort' });
      expect(await getCondition('sendingdomain', ns, 'absent', 'KeyReady')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
      expect(await getCondition('sendingdomain', ns, 'absent', 'Stalled')).toMatchObject({ status: 'True' });
    });
    expect(await getObject('secret', ns, 'no-such-secret')).toBeUndefined();
  });

  it('no private key in status, events or logs', async () => {
    expect(privateKeys.size).toBeGreaterThan(10);
    const everything = [
      await kubectlOk(['get', 'sendingdomains,senderidentities', '-n', ns, '-o', 'json']),
      await kubectlOk(['get', 'events', '-n', ns, '-o', 'json']),
      op.logs(),
    ].join('\n');
    expect(everything).toContain('KeyGenerated');
    for (const line of privateKeys) expect(everything).not.toContain(line);
  });
});
