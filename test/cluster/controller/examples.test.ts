// The examples, reconciled by the operator running as users run it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, kubeconfig, kubectl, kubectlOk } from '../../support/kubectl.ts';
import { startOperator, type Operator } from '../../support/operator.ts';
import { eventually, getCondition, getObject, type ConditionView } from '../../support/wait.ts';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples');

let ns: string;
let platformNs: string;
let teamNs: string;
let agencyNs: string;
let acmeNs: string;
let globexNs: string;
let op: Operator;

/** The cross-namespace example names fixed namespaces; give this run its own. */
function exampleText(file: string): string {
  return readFileSync(join(examples, file), 'utf8')
    .replaceAll('platform-mail', platformNs)
    .replaceAll('team-checkout', teamNs)
    .replaceAll('agency-platform', agencyNs)
    .replaceAll('client-acme', acmeNs)
    .replaceAll('client-globex', globexNs)
    .replaceAll('postmaster.dev/agency: example', `postmaster.dev/agency: ${ns}`);
}

beforeAll(async () => {
  ns = await createNamespace('ctl-examples');
  platformNs = `${ns}-platform`;
  teamNs = `${ns}-team`;
  agencyNs = `${ns}-agency`;
  acmeNs = `${ns}-acme`;
  globexNs = `${ns}-globex`;
  // Connection tests are off here: the examples name real providers this sandbox cannot reach.
  op = await startOperator({
    kubeconfig: kubeconfig(),
    namespaces: [ns, platformNs, teamNs, agencyNs, acmeNs, globexNs],
    extraArgs: ['--connection-tests=false'],
  });
  for (const file of readdirSync(examples).filter((f) => f.endsWith('.yaml'))) {
    const text = exampleText(file);
    const own = /^\s+namespace:/m.test(text);
    await kubectlOk(['apply', '--server-side', ...(own ? [] : ['-n', ns]), '-f', '-'], text);
  }
});

afterAll(async () => {
  await op?.stop();
  await kubectl(['delete', 'ns', ns, platformNs, teamNs, agencyNs, acmeNs, globexNs, '--wait=false']);
});

const readyAll = (kind: string, namespace: string, names: string[]) =>
  eventually(async () => {
    for (const name of names) {
      const ready = await getCondition(kind, namespace, name, 'Ready');
      expect(ready, `${kind} ${namespace}/${name}`).toMatchObject({ status: 'True' });
    }
  }, 30_000);

describe('examples', () => {
  it('become Ready, with Connected Unknown because no test ran', async () => {
    await readyAll('smtptarget', ns, ['internal-relay', 'office365', 'gmail', 'gmail-workspace', 'fallback-relay', 'support-submission']);
    await readyAll('emailserver', ns, ['internal-relay', 'office365', 'gmail', 'gmail-workspace', 'microsoft-graph', 'sendgrid', 'sparkpost-eu', 'support']);
    await readyAll('senderidentity', ns, ['alerts', 'billing']);
    await readyAll('senderidentity', teamNs, ['checkout-receipts']);

    expect(await getCondition('smtptarget', ns, 'gmail', 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun' });
    expect(await getCondition('smtptarget', ns, 'office365', 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun' });
    expect(await getCondition('emailserver', ns, 'microsoft-graph', 'Connected')).toMatchObject({ status: 'Unknown', reason: 'NoTestRun' });
    expect(await getCondition('emailserver', ns, 'sendgrid', 'FallbackConnected')).toMatchObject({ status: 'True' });
    expect(await getCondition('emailserver', ns, 'support', 'IncomingConnected')).toMatchObject({ status: 'Unknown' });
    const billing = await getObject<{ status: { server: unknown; observedGeneration: number } }>('senderidentity', ns, 'billing');
    expect(billing?.status.server).toEqual({ name: 'internal-relay', namespace: ns, provider: 'SMTP' });
    const receipts = await getObject<{ status: { server: unknown } }>('senderidentity', teamNs, 'checkout-receipts');
    expect(receipts?.status.server).toEqual({ name: 'shared', namespace: platformNs, provider: 'SMTP' });

    const table = await kubectlOk(['get', 'email', '-n', ns]);
    // IN USE: the office365 EmailServer sends through this target.
    expect(table).toMatch(/smtptarget\.email\.postmaster\.dev\/office365\s+smtp\.office365\.com\s+587\s+STARTTLS\s+1\s+True\s+Succeeded/);
  });

  it('the sending domain example: keys generated, records to publish, and the identities say their mail is signed', async () => {
    await eventually(async () => {
      expect(await getCondition('sendingdomain', ns, 'example-com', 'KeyReady')).toMatchObject({ status: 'True', reason: 'KeyGenerated' });
      // This sandbox's DNS serves no example.com record: not published, whatever the lookup says.
      expect(await getCondition('sendingdomain', ns, 'example-com', 'DnsPublished')).toMatchObject({ status: 'False' });
    }, 45_000);
    const sd = await getObject<{ status: { dkim: { name: string; value: string }[] } }>('sendingdomain', ns, 'example-com');
    expect(sd?.status.dkim.map((r) => r.name)).toEqual(['pm2026a._domainkey.example.com', 'pm2026a-ed._domainkey.example.com']);
    await eventually(async () => {
      const alerts = await getObject<{ status: { signing?: { by: string; selectors: string[] } } }>('senderidentity', ns, 'alerts');
      expect(alerts?.status.signing).toMatchObject({ by: 'SendingDomain', selectors: ['pm2026a', 'pm2026a-ed'] });
    });
  });

  it('the agency example: each client namespace gets its plan\'s server as default, and the servers count them', async () => {
    await readyAll('senderidentity', acmeNs, ['notifications']);
    await readyAll('senderidentity', globexNs, ['notifications']);
    const acme = await getObject<{ status: { server: unknown } }>('senderidentity', acmeNs, 'notifications');
    expect(acme?.status.server).toEqual({ name: 'standard', namespace: agencyNs, provider: 'SMTP' });
    const globex = await getObject<{ status: { server: unknown } }>('senderidentity', globexNs, 'notifications');
    expect(globex?.status.server).toEqual({ name: 'premium', namespace: agencyNs, provider: 'SendGrid' });
    await eventually(async () => {
      const servers = await kubectlOk(['get', 'emailservers', '-n', agencyNs]);
      expect(servers).toMatch(/premium\s+SendGrid\s+false\s+1\s+True/);
      expect(servers).toMatch(/standard\s+SMTP\s+false\s+1\s+True/);
    });
  });

  it('the queued example: without a store the operator says what to start it with', async () => {
    const c = await eventually(async () => {
      const cond = await getCondition('emailserver', ns, 'queued-relay', 'DeliveryReady');
      expect(cond).toMatchObject({ status: 'False', reason: 'NoDurableStore' });
      return cond!;
    });
    expect(c.message).toContain('--redis-url');
    expect(await getCondition('emailserver', ns, 'queued-relay', 'Ready')).toMatchObject({ status: 'False', reason: 'NoDurableStore' });
  });

  it('kubectl wait --for=condition=Ready works', async () => {
    const r = await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', '-n', ns, 'emailserver/office365', 'senderidentity/alerts']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('senderidentity.email.postmaster.dev/alerts condition met');
  });

  it('turns NotReady within 5 s of a referenced Secret being deleted, naming Secret and key, and recovers', async () => {
    const secret = await kubectlOk(['get', 'secret', 'office365-app', '-n', ns, '-o', 'json']);
    await kubectlOk(['delete', 'secret', 'office365-app', '-n', ns]);
    const deletedAt = Date.now();
    const resolved = await eventually(async () => {
      const c = await getCondition('smtptarget', ns, 'office365', 'SecretsResolved');
      expect(c).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
      return c as ConditionView;
    }, 5_000, 100);
    expect(Date.now() - deletedAt).toBeLessThan(5_000);
    expect(resolved.message).toContain(`Secret "${ns}/office365-app"`);
    expect(resolved.message).toContain('spec.credentials.oauth2.microsoft.clientSecretKey');
    expect(await getCondition('smtptarget', ns, 'office365', 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(await getCondition('smtptarget', ns, 'office365', 'Stalled')).toMatchObject({ status: 'True' });
    // Dependents follow: the server and the identity that uses it.
    await eventually(async () => {
      expect(await getCondition('emailserver', ns, 'office365', 'Ready')).toMatchObject({ status: 'False', reason: 'SmtpTargetNotReady' });
      expect(await getCondition('senderidentity', ns, 'alerts', 'Ready')).toMatchObject({ status: 'False', reason: 'EmailServerNotReady' });
    }, 5_000);

    // A key missing is told apart from the Secret missing.
    await kubectlOk(['create', 'secret', 'generic', 'office365-app', '-n', ns, '--from-literal=secret-id=svc']);
    await eventually(async () => {
      const c = await getCondition('smtptarget', ns, 'office365', 'SecretsResolved');
      expect(c).toMatchObject({ status: 'False', reason: 'SecretKeyNotFound' });
      expect(c?.message).toContain(`Secret "${ns}/office365-app" has no key "client-secret"`);
    }, 5_000);

    await kubectlOk(['delete', 'secret', 'office365-app', '-n', ns]);
    const restored = JSON.parse(secret);
    delete restored.metadata.resourceVersion;
    delete restored.metadata.uid;
    delete restored.metadata.creationTimestamp;
    delete restored.metadata.managedFields;
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(restored));
    await eventually(async () => {
      expect(await getCondition('smtptarget', ns, 'office365', 'Ready')).toMatchObject({ status: 'True' });
      expect(await getCondition('smtptarget', ns, 'office365', 'Stalled')).toBeUndefined();
      expect(await getCondition('senderidentity', ns, 'alerts', 'Ready')).toMatchObject({ status: 'True' });
    }, 5_000);
  });

  it('kubectl describe tells the story in events', async () => {
    const out = await eventually(async () => {
      const text = await kubectlOk(['describe', 'smtptarget', 'office365', '-n', ns]);
      expect(text).toMatch(/Warning\s+SecretNotFound\s+.*postmaster\s+.*office365-app/);
      expect(text).toMatch(/Normal\s+Succeeded/);
      return text;
    }, 10_000);
    expect(out).not.toContain('replace-me');
  });

  it('says so when a server an identity uses is deleted', async () => {
    await kubectlOk(['delete', 'emailserver', 'gmail', '-n', ns]);
    await kubectlOk(
      ['apply', '--server-side', '-n', ns, '-f', '-'],
      'apiVersion: email.postmaster.dev/v1alpha1\nkind: SenderIdentity\nmetadata:\n  name: gmail-user\nspec:\n  email: me@example.com\n  serverRef:\n    name: gmail\n',
    );
    await eventually(async () => {
      const ready = await getCondition('senderidentity', ns, 'gmail-user', 'Ready');
      expect(ready).toMatchObject({ status: 'False', reason: 'EmailServerNotFound' });
      expect(ready?.message).toContain(`EmailServer "${ns}/gmail" not found`);
    });
  });

  it('never logs a Secret value', () => {
    expect(op.logs()).not.toContain('replace-me');
    expect(op.logs()).not.toContain('SG.replace-me');
  });
});
