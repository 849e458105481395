// Where mail for an identity leaves, from the caches alone: the SecretsResolved
// sentence users read, the endpoint or API account the doors connect to (with
// the spec's defaults), the fallback, and what the doors learn of the identity.
import { describe, expect, it } from 'vitest';
import type { EmailServer } from '../../../src/api/index.ts';
import { reconcileEmailServer } from '../../../src/controller/emailserver.ts';
import { noTester, TestCache } from '../../../src/controller/tester.ts';
import { generatePrivateKey } from '../../../src/providers/dkim/keys.ts';
import { resolveIdentity } from '../../../src/routing/identity.ts';
import { fallbackRoute, serverRoute } from '../../../src/routing/route.ts';
import { resolveSecrets } from '../../../src/routing/secrets.ts';
import { resolveSmtpTarget } from '../../../src/routing/smtp-target.ts';
import { b64, emailServer, MemoryWorld, senderIdentity, smtpTarget } from '../../support/memory-world.ts';

const opts = { apiBaseUrls: {} };

describe('resolving Secret keys (SecretsResolved)', () => {
  const ref = (name: string, key: string, field: string) => ({ name, key, field });

  it('counts what resolved, in one sentence, and keeps the decoded values', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'login', { username: 'bob', password: 'pw' });
    expect(resolveSecrets(w, 'mail', [])).toMatchObject({ ok: true, reason: 'SecretsResolved', message: 'No Secrets referenced.', refs: [] });
    const one = resolveSecrets(w, 'mail', [ref('login', 'username', 'a')]);
    expect(one).toMatchObject({ ok: true, reason: 'SecretsResolved', message: 'Resolved 1 Secret key.', refs: ['Secret/mail/login'] });
    const two = resolveSecrets(w, 'mail', [ref('login', 'username', 'a'), ref('login', 'password', 'b')]);
    expect(two).toMatchObject({ ok: true, message: 'Resolved 2 Secret keys.', refs: ['Secret/mail/login'] });
    expect([...two.values]).toEqual([
      ['login/username', 'bob'],
      ['login/password', 'pw'],
    ]);
  });

  it('names every problem, the first one giving the reason, a missing Secret once with all its fields', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'partial', { empty: ' \n', good: 'v' });
    const out = resolveSecrets(w, 'mail', [
      ref('partial', 'absent', 'spec.a'),
      ref('gone', 'x', 'spec.b'),
      ref('partial', 'empty', 'spec.c'),
      ref('gone', 'y', 'spec.d'),
      ref('partial', 'good', 'spec.e'),
    ]);
    expect(out.ok).toBe(false);
    expect(out.reason).toBe('SecretKeyNotFound');
    expect(out.message).toBe(
      'Secret "mail/partial" has no key "absent" (spec.a); ' +
        'Secret "mail/gone" not found (needed for spec.b, spec.d); ' +
        'Secret "mail/partial" key "empty" (spec.c) is empty.',
    );
    expect(out.refs).toEqual(['Secret/mail/partial', 'Secret/mail/gone']);
    expect(resolveSecrets(w, 'mail', [ref('gone', 'x', 'f')])).toMatchObject({ reason: 'SecretNotFound' });
    expect(resolveSecrets(w, 'mail', [ref('partial', 'empty', 'f')])).toMatchObject({ reason: 'SecretValueEmpty' });
    // Another namespace's Secret of the same name is not this one.
    expect(resolveSecrets(w, 'other', [ref('partial', 'good', 'f')])).toMatchObject({ ok: false, reason: 'SecretNotFound' });
  });
});

describe('an SmtpTarget as the endpoint the doors connect to', () => {
  it('takes the spec defaults: STARTTLS, keys username/password, ca.crt, a pool of 5 x 100', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'login', { username: 'bob', password: 'pw', 'ca.crt': 'PEM' });
    const t = smtpTarget('mail', 'relay', { security: undefined, credentials: { secretRef: { name: 'login' } }, tls: { caSecretRef: { name: 'login' } } } as never);
    expect(resolveSmtpTarget(w, t).endpoint).toEqual({
      host: 'smtp.example.com',
      port: 587,
      security: 'STARTTLS',
      auth: { username: 'bob', password: 'pw' },
      tls: { ca: 'PEM' },
      pool: { maxConnections: 5, maxMessagesPerConnection: 100 },
    });
  });

  it('follows the keys, TLS settings and pool the spec names', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'login', { user: 'ann', pass: 'secret', ca: 'MYCA' });
    const t = smtpTarget('mail', 'relay', {
      host: 'mx.example.org',
      port: 465,
      security: 'TLS',
      credentials: { secretRef: { name: 'login' }, usernameKey: 'user', passwordKey: 'pass' },
      tls: { caSecretRef: { name: 'login', key: 'ca' }, serverName: 'relay.internal', minVersion: 'TLSv1.3', insecureSkipVerify: true },
      pool: { maxConnections: 2, maxMessagesPerConnection: 7 },
    } as never);
    const out = resolveSmtpTarget(w, t);
    expect(out.secrets.message).toBe('Resolved 3 Secret keys.');
    expect(out.endpoint).toEqual({
      host: 'mx.example.org',
      port: 465,
      security: 'TLS',
      auth: { username: 'ann', password: 'secret' },
      tls: { ca: 'MYCA', serverName: 'relay.internal', minVersion: 'TLSv1.3', insecureSkipVerify: true },
      pool: { maxConnections: 2, maxMessagesPerConnection: 7 },
    });
  });

  it('has no endpoint while a Secret does not resolve, and no auth or tls when the spec sets none', () => {
    const w = new MemoryWorld();
    const t = smtpTarget('mail', 'relay', { credentials: { secretRef: { name: 'login' } } } as never);
    const missing = resolveSmtpTarget(w, t);
    expect(missing.endpoint).toBeUndefined();
    expect(missing.secrets).toMatchObject({ ok: false, reason: 'SecretNotFound', message: expect.stringContaining('spec.credentials.usernameKey') });
    const plain = resolveSmtpTarget(w, smtpTarget('mail', 'open', { security: 'None', port: 25, tls: { insecureSkipVerify: false } } as never));
    expect(plain.endpoint).toEqual({ host: 'smtp.example.com', port: 25, security: 'None', tls: {}, pool: { maxConnections: 5, maxMessagesPerConnection: 100 } });
  });

  it('OAuth2: the refresh-token grant with its default keys, Google with its service account', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'oauth', { 'client-secret': 'cs', 'refresh-token': 'rt', 'service-account.json': '{"k":1}' });
    const refresh = smtpTarget('mail', 'gmail', {
      credentials: { type: 'OAuth2', oauth2: { user: 'me@example.com', refreshToken: { tokenUrl: 'https://t.example/token', clientId: 'cid', secretRef: { name: 'oauth' } } } },
    } as never);
    expect(resolveSmtpTarget(w, refresh).endpoint?.auth).toEqual({
      user: 'me@example.com',
      oauth2: { flow: 'RefreshToken', tokenUrl: 'https://t.example/token', clientId: 'cid', refreshToken: 'rt', clientSecret: 'cs' },
    });
    const google = smtpTarget('mail', 'workspace', {
      credentials: { type: 'OAuth2', oauth2: { user: 'me@example.com', google: { secretRef: { name: 'oauth' } } } },
    } as never);
    expect(resolveSmtpTarget(w, google).endpoint?.auth).toEqual({
      user: 'me@example.com',
      oauth2: { flow: 'Google', serviceAccountJson: '{"k":1}', subject: 'me@example.com', scope: 'https://mail.google.com/' },
    });
  });
});

describe("a server's routes", () => {
  const sendgrid = (spec: Record<string, unknown> = {}) =>
    emailServer('mail', 'api', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg' }, ...spec }, fallback: { smtpTargetRef: { name: 'backup' } } } as never);

  it('SMTP: the target endpoint, with 8BITMIME and SMTPUTF8 as its last connection test saw them', () => {
    const w = new MemoryWorld();
    w.add(smtpTarget('mail', 'relay', {}, { status: { connection: { extensions: ['PIPELINING', 'SIZE'] } } as never }));
    const server = emailServer('mail', 'smtp');
    expect(serverRoute(w, server, opts).route).toEqual({
      provider: 'SMTP',
      endpoint: { host: 'smtp.example.com', port: 587, security: 'STARTTLS', pool: { maxConnections: 5, maxMessagesPerConnection: 100 }, eightBitMime: false, smtpUtf8: false },
    });
    w.add(smtpTarget('mail', 'relay', {}, { status: { connection: { extensions: ['8BITMIME'] } } as never }));
    expect(serverRoute(w, server, opts).route).toMatchObject({ endpoint: { eightBitMime: true, smtpUtf8: false } });
    w.add(smtpTarget('mail', 'relay', {}, { status: { connection: { extensions: ['SMTPUTF8'] } } as never }));
    expect(serverRoute(w, server, opts).route).toMatchObject({ endpoint: { eightBitMime: false, smtpUtf8: true } });
    w.add(smtpTarget('mail', 'relay'));
    expect(serverRoute(w, server, opts).route).not.toHaveProperty('endpoint.eightBitMime');
    expect(serverRoute(w, server, opts).route).not.toHaveProperty('endpoint.smtpUtf8');
    expect(serverRoute(w, emailServer('mail', 'other', { smtp: { targetRef: { name: 'missing' } } }), opts)).toEqual({ refs: [] });
    // An SMTP server has no fallback, even if one were set.
    expect(fallbackRoute(w, emailServer('mail', 'smtp', { fallback: { smtpTargetRef: { name: 'relay' } } } as never))).toBeUndefined();
  });

  it('SendGrid: the key (default key apiKey), region US unless set, the IP pool and a base URL override', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'sg', { apiKey: 'SG.key', other: 'SG.other' });
    expect(serverRoute(w, sendgrid(), opts)).toEqual({
      route: { provider: 'SendGrid', account: { apiKey: 'SG.key', region: 'US' }, describeKey: 'Secret "mail/sg" key "apiKey"' },
      refs: ['Secret/mail/sg'],
    });
    const eu = sendgrid({ apiKeySecretRef: { name: 'sg', key: 'other' }, region: 'EU', ipPool: 'transactional' });
    const routed = serverRoute(w, eu, { apiBaseUrls: { SendGrid: { EU: 'http://127.0.0.1:9/eu' }, SparkPost: { EU: 'http://wrong' } } });
    expect(routed.route).toEqual({
      provider: 'SendGrid',
      account: { apiKey: 'SG.other', region: 'EU', ipPool: 'transactional', baseUrl: 'http://127.0.0.1:9/eu' },
      describeKey: 'Secret "mail/sg" key "other"',
    });
    // A base URL for the other region is not this region's.
    expect(serverRoute(w, eu, { apiBaseUrls: { SendGrid: { US: 'http://us' } } }).route).not.toHaveProperty('account.baseUrl');
  });

  it('SparkPost: its own block; no route while the key is missing', () => {
    const w = new MemoryWorld();
    const sp = emailServer('mail', 'sp', { provider: 'SparkPost', sparkpost: { apiKeySecretRef: { name: 'sp' } } } as never);
    expect(serverRoute(w, sp, opts)).toEqual({ refs: ['Secret/mail/sp'] });
    w.addSecret('mail', 'sp', { apiKey: 'sp-key' });
    expect(serverRoute(w, sp, opts).route).toEqual({ provider: 'SparkPost', account: { apiKey: 'sp-key', region: 'US' }, describeKey: 'Secret "mail/sp" key "apiKey"' });
    // A SparkPost server carrying only a sendgrid block has no key to read.
    expect(serverRoute(w, emailServer('mail', 'odd', { provider: 'SparkPost', sendgrid: { apiKeySecretRef: { name: 'sp' } } } as never), opts)).toEqual({ refs: [] });
  });

  it('MicrosoftGraph: the Entra app from its Secret, Sent Items kept', () => {
    const w = new MemoryWorld();
    const graph = emailServer('mail', 'graph', {
      provider: 'MicrosoftGraph',
      microsoftGraph: { app: { tenantId: 'contoso.onmicrosoft.com', clientId: 'app-id', secretRef: { name: 'entra' }, clientSecretKey: 'secret' } },
    } as never);
    expect(serverRoute(w, graph, opts)).toEqual({ refs: ['Secret/mail/entra'] });
    w.addSecret('mail', 'entra', { secret: 's3cret' });
    expect(serverRoute(w, graph, opts).route).toEqual({
      provider: 'MicrosoftGraph',
      account: { app: { tenantId: 'contoso.onmicrosoft.com', clientId: 'app-id', clientSecret: 's3cret' }, saveToSentItems: true },
      describeKey: 'Secret "mail/entra"',
    });
  });

  it('the fallback of an API server: its SmtpTarget, once its Secrets resolve', () => {
    const w = new MemoryWorld();
    expect(fallbackRoute(w, sendgrid())).toBeUndefined();
    w.add(smtpTarget('mail', 'backup', { credentials: { secretRef: { name: 'login' } } } as never, { status: { connection: { extensions: ['8BITMIME'] } } as never }));
    expect(fallbackRoute(w, sendgrid())).toBeUndefined();
    w.addSecret('mail', 'login', { username: 'u', password: 'p' });
    expect(fallbackRoute(w, sendgrid())).toEqual({
      provider: 'SMTP',
      endpoint: {
        host: 'smtp.example.com',
        port: 587,
        security: 'STARTTLS',
        auth: { username: 'u', password: 'p' },
        pool: { maxConnections: 5, maxMessagesPerConnection: 100 },
        eightBitMime: true,
        smtpUtf8: false,
      },
    });
    const noFallback = emailServer('mail', 'api2', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg' } } } as never);
    expect(fallbackRoute(w, noFallback)).toBeUndefined();
  });
});

describe('what the doors learn of an identity', () => {
  const ready = (status: 'True' | 'False', reason = 'Ready', message = 'ok') =>
    ({ conditions: [{ type: 'Ready', status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' }] }) as never;

  it('unknown identity: nothing; not reconciled yet: says so', () => {
    const w = new MemoryWorld();
    expect(resolveIdentity(w, 'mail', 'nobody', opts)).toBeUndefined();
    w.add(senderIdentity('mail', 'app'));
    expect(resolveIdentity(w, 'mail', 'app', opts)).toEqual({
      identity: w.senderIdentity('mail', 'app'),
      ready: false,
      reason: 'NotReconciled',
      message: 'SenderIdentity "mail/app" has not been reconciled yet.',
    });
  });

  it('not Ready: the reason and message of its Ready condition; Ready: none, with the server and routes', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'sg', { apiKey: 'SG.key' });
    w.add(emailServer('mail', 'api', { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'sg' } }, fallback: { smtpTargetRef: { name: 'backup' } }, default: true } as never));
    w.add(smtpTarget('mail', 'backup'));
    w.add(senderIdentity('mail', 'down', {}, { status: ready('False', 'ServerNotReady', 'EmailServer "mail/api" is not Ready.') }));
    w.add(senderIdentity('mail', 'up', {}, { status: ready('True') }));
    const down = resolveIdentity(w, 'mail', 'down', opts)!;
    expect(down).toMatchObject({ ready: false, reason: 'ServerNotReady', message: 'EmailServer "mail/api" is not Ready.' });
    const up = resolveIdentity(w, 'mail', 'up', opts)!;
    expect(up.ready).toBe(true);
    expect(up).not.toHaveProperty('reason');
    expect(up).not.toHaveProperty('message');
    expect(up.server).toBe(w.emailServer('mail', 'api'));
    expect(up.primary).toMatchObject({ provider: 'SendGrid', account: { apiKey: 'SG.key' } });
    expect(up.fallback).toMatchObject({ provider: 'SMTP', endpoint: { host: 'smtp.example.com' } });
    expect(up).not.toHaveProperty('dkim');
  });

  it('no server it may use: no routes; a server without resolvable routes: the server alone', () => {
    const w = new MemoryWorld();
    w.add(senderIdentity('mail', 'app', { serverRef: { name: 'smtp' } }, { status: ready('True') }));
    expect(resolveIdentity(w, 'mail', 'app', opts)).toEqual({ identity: w.senderIdentity('mail', 'app'), ready: true });
    const server: EmailServer = emailServer('mail', 'smtp');
    w.add(server);
    expect(resolveIdentity(w, 'mail', 'app', opts)).toEqual({ identity: w.senderIdentity('mail', 'app'), ready: true, server });
  });

  it("signs with the SendingDomain of the server's namespace that covers the address", () => {
    const w = new MemoryWorld();
    w.add(emailServer('mail', 'smtp', { default: true }));
    w.add(senderIdentity('mail', 'app', { email: 'app@example.com' }, { status: ready('True') }));
    w.secrets.set('mail/key', { metadata: { name: 'key', namespace: 'mail' }, data: { 'private.key': b64(generatePrivateKey('Ed25519')) } });
    w.domains.push({
      apiVersion: 'email.postmaster.dev/v1alpha1',
      kind: 'SendingDomain',
      metadata: { name: 'example', namespace: 'mail', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { domain: 'example.com', dkim: { selector: 's1', privateKeySecretRef: { name: 'key' } } },
    } as never);
    const out = resolveIdentity(w, 'mail', 'app', opts)!;
    expect(out.dkim?.keys).toEqual([expect.objectContaining({ domain: 'example.com', selector: 's1', algorithm: 'ed25519-sha256' })]);
  });
});

describe('the field each Secret key is for, as SecretsResolved names it', () => {
  const missing = (spec: Record<string, unknown>) => resolveSmtpTarget(new MemoryWorld(), smtpTarget('mail', 't', spec as never)).secrets.message;

  it('SmtpTarget: Basic, the CA, and each OAuth2 grant', () => {
    expect(missing({ tls: { caSecretRef: { name: 'ca' } } })).toBe('Secret "mail/ca" not found (needed for spec.tls.caSecretRef).');
    const oauth2 = (grant: Record<string, unknown>) => ({ credentials: { type: 'OAuth2', oauth2: { user: 'me@example.com', ...grant } } });
    expect(missing(oauth2({ refreshToken: { tokenUrl: 'https://t', clientId: 'c', secretRef: { name: 'rt' } } }))).toBe(
      'Secret "mail/rt" not found (needed for spec.credentials.oauth2.refreshToken.clientSecretKey, spec.credentials.oauth2.refreshToken.refreshTokenKey).',
    );
    expect(missing(oauth2({ google: { secretRef: { name: 'sa' } } }))).toBe('Secret "mail/sa" not found (needed for spec.credentials.oauth2.google.serviceAccountKey).');
    expect(missing(oauth2({ microsoft: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'secret' } }))).toBe(
      'Secret "mail/entra" not found (needed for spec.credentials.oauth2.microsoft.clientSecretKey).',
    );
    expect(missing(oauth2({ microsoft: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, certificateKey: 'tls.crt', privateKeyKey: 'tls.key' } }))).toBe(
      'Secret "mail/entra" not found (needed for spec.credentials.oauth2.microsoft.certificateKey, spec.credentials.oauth2.microsoft.privateKeyKey).',
    );
  });

  it('EmailServer: the API key of SendGrid and SparkPost, and the Graph app', async () => {
    const w = new MemoryWorld();
    const message = async (spec: Record<string, unknown>) => {
      const out = await reconcileEmailServer(emailServer('mail', 's', spec as never), { world: w, tester: noTester, tests: new TestCache(), now: new Date(0) }, opts);
      return out.status.conditions?.find((c) => c.type === 'SecretsResolved')?.message;
    };
    expect(await message({ provider: 'SendGrid', smtp: undefined, sendgrid: { apiKeySecretRef: { name: 'k' } } })).toBe('Secret "mail/k" not found (needed for spec.sendgrid.apiKeySecretRef).');
    expect(await message({ provider: 'SparkPost', smtp: undefined, sparkpost: { apiKeySecretRef: { name: 'k' } } })).toBe('Secret "mail/k" not found (needed for spec.sparkpost.apiKeySecretRef).');
    expect(
      await message({ provider: 'MicrosoftGraph', smtp: undefined, microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, clientSecretKey: 'cs' } } }),
    ).toBe('Secret "mail/entra" not found (needed for spec.microsoftGraph.app.clientSecretKey).');
    expect(
      await message({ incoming: { protocol: 'IMAP', host: 'imap.example.com', port: 993, credentials: { secretRef: { name: 'box' } } } }),
    ).toBe('Secret "mail/box" not found (needed for spec.incoming.credentials.usernameKey, spec.incoming.credentials.passwordKey).');
  });
});

describe('edge cases of what the cache holds', () => {
  it('a Secret without data has none of its keys; a target with a status but no connection test has no capability', () => {
    const w = new MemoryWorld();
    w.secrets.set('mail/login', { metadata: { name: 'login', namespace: 'mail' } });
    expect(resolveSecrets(w, 'mail', [{ name: 'login', key: 'password', field: 'f' }])).toMatchObject({
      ok: false,
      reason: 'SecretKeyNotFound',
      message: 'Secret "mail/login" has no key "password" (f).',
    });
    w.add(smtpTarget('mail', 'relay', {}, { status: { observedGeneration: 1, conditions: [] } as never }));
    expect(serverRoute(w, emailServer('mail', 'smtp'), opts).route).toEqual({
      provider: 'SMTP',
      endpoint: { host: 'smtp.example.com', port: 587, security: 'STARTTLS', pool: { maxConnections: 5, maxMessagesPerConnection: 100 } },
    });
  });

  it('OAuth2 logins: Microsoft with a certificate or a secret, a refresh token with its scope and without a client secret', () => {
    const w = new MemoryWorld();
    w.addSecret('mail', 'entra', { 'tls.crt': 'CERT', 'tls.key': 'KEY', secret: 's' });
    w.addSecret('mail', 'rt', { token: 'r1', 'client-secret': 'cs' });
    const login = (grant: Record<string, unknown>) =>
      resolveSmtpTarget(w, smtpTarget('mail', 't', { credentials: { type: 'OAuth2', oauth2: { user: 'me@example.com', ...grant } } } as never)).endpoint?.auth;
    const app = { tenantId: 'contoso', clientId: 'cid', secretRef: { name: 'entra' } };
    expect(login({ microsoft: { ...app, certificateKey: 'tls.crt', privateKeyKey: 'tls.key' } })).toEqual({
      user: 'me@example.com',
      oauth2: { flow: 'Microsoft', tenantId: 'contoso', clientId: 'cid', certificate: { certificatePem: 'CERT', privateKeyPem: 'KEY' }, scope: 'https://outlook.office365.com/.default' },
    });
    expect(login({ microsoft: { ...app, clientSecretKey: 'secret' } })).toEqual({
      user: 'me@example.com',
      oauth2: { flow: 'Microsoft', tenantId: 'contoso', clientId: 'cid', clientSecret: 's', scope: 'https://outlook.office365.com/.default' },
    });
    expect(login({ refreshToken: { tokenUrl: 'https://t', clientId: 'c', secretRef: { name: 'rt' }, refreshTokenKey: 'token', scope: 'mail.send' } })).toEqual({
      user: 'me@example.com',
      oauth2: { flow: 'RefreshToken', tokenUrl: 'https://t', clientId: 'c', refreshToken: 'r1', clientSecret: 'cs', scope: 'mail.send' },
    });
  });

  it('MicrosoftGraph: the certificate app, and the field a missing Secret is needed for', () => {
    const w = new MemoryWorld();
    const graph = (app: Record<string, unknown>) =>
      emailServer('mail', 'g', { provider: 'MicrosoftGraph', microsoftGraph: { app: { tenantId: 't', clientId: 'c', secretRef: { name: 'entra' }, ...app } } } as never);
    const cert = graph({ certificateKey: 'tls.crt', privateKeyKey: 'tls.key' });
    w.addSecret('mail', 'entra', { 'tls.crt': 'CERT', 'tls.key': 'KEY' });
    expect(serverRoute(w, cert, opts).route).toMatchObject({
      account: { app: { tenantId: 't', clientId: 'c', certificate: { certificatePem: 'CERT', privateKeyPem: 'KEY' } }, saveToSentItems: true },
    });
    expect(serverRoute(w, cert, opts).route).not.toHaveProperty('account.app.clientSecret');
  });
});
