// Manifests the API server must refuse, each with the field its error must name.
// One table for the API server test (test/cluster/api/crds.test.ts) and the
// offline validator (test/local/cli, test/cluster/cli): a rule added to the
// CRDs with a case here is checked both ways, so neither can forget it.
export interface InvalidCase {
  name: string;
  kind: 'SmtpTarget' | 'EmailServer' | 'SenderIdentity' | 'SendingDomain';
  spec?: Record<string, unknown>;
  /** The field path the API server's message must contain. */
  field: string;
}

const target = { host: 'smtp.example.com', port: 587, security: 'STARTTLS' };
const sendgrid = { apiKeySecretRef: { name: 'sg' } };
const entra = { tenantId: 'contoso.onmicrosoft.com', clientId: '00000000-0000-0000-0000-000000000001', secretRef: { name: 'entra-app' } };
const dkim = { selector: 's1', privateKeySecretRef: { name: 'dkim' } };

export const invalidCases: InvalidCase[] = [
  // SmtpTarget
  { name: 'port zero', kind: 'SmtpTarget', spec: { ...target, port: 0 }, field: 'spec.port' },
  { name: 'port above 65535', kind: 'SmtpTarget', spec: { ...target, port: 70000 }, field: 'spec.port' },
  { name: 'port as text', kind: 'SmtpTarget', spec: { ...target, port: 'submission' }, field: 'spec.port' },
  { name: 'unknown security mode', kind: 'SmtpTarget', spec: { ...target, security: 'SSL' }, field: 'spec.security' },
  { name: 'missing host', kind: 'SmtpTarget', spec: { port: 25 }, field: 'spec.host' },
  { name: 'missing port', kind: 'SmtpTarget', spec: { host: 'relay' }, field: 'spec.port' },
  { name: 'host with a space', kind: 'SmtpTarget', spec: { ...target, host: 'smtp example.com' }, field: 'spec.host' },
  { name: 'unknown field', kind: 'SmtpTarget', spec: { ...target, hostname: 'x' }, field: 'spec.hostname' },
  {
    name: 'credentials without secretRef',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { usernameKey: 'user' } },
    field: 'spec.credentials.secretRef',
  },
  {
    name: 'secret key with a slash',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { secretRef: { name: 'login' }, passwordKey: 'pass/word' } },
    field: 'spec.credentials.passwordKey',
  },
  {
    name: 'tls settings on a plain connection',
    kind: 'SmtpTarget',
    spec: { ...target, port: 25, security: 'None', tls: { insecureSkipVerify: true } },
    field: 'spec.tls',
  },
  {
    name: 'TLS 1.0 as minimum',
    kind: 'SmtpTarget',
    spec: { ...target, tls: { minVersion: 'TLSv1.0' } },
    field: 'spec.tls.minVersion',
  },
  { name: 'checkInterval in words', kind: 'SmtpTarget', spec: { ...target, checkInterval: '10 minutes' }, field: 'spec.checkInterval' },
  { name: 'checkInterval too short', kind: 'SmtpTarget', spec: { ...target, checkInterval: '5s' }, field: 'spec.checkInterval' },
  { name: 'pool of zero connections', kind: 'SmtpTarget', spec: { ...target, pool: { maxConnections: 0 } }, field: 'spec.pool.maxConnections' },
  { name: 'no spec at all', kind: 'SmtpTarget', field: 'spec' },
  {
    name: 'OAuth2 without its block',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { type: 'OAuth2' } },
    field: 'spec.credentials.oauth2',
  },
  {
    name: 'an oauth2 block on Basic credentials',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { secretRef: { name: 'login' }, oauth2: { user: 'a@example.com', google: { secretRef: { name: 'sa' } } } } },
    field: 'spec.credentials.oauth2',
  },
  {
    name: 'OAuth2 with a Basic secretRef',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { type: 'OAuth2', secretRef: { name: 'login' }, oauth2: { user: 'a@example.com', google: { secretRef: { name: 'sa' } } } } },
    field: 'spec.credentials.secretRef',
  },
  {
    name: 'OAuth2 with two grants',
    kind: 'SmtpTarget',
    spec: {
      ...target,
      credentials: {
        type: 'OAuth2',
        oauth2: { user: 'a@example.com', google: { secretRef: { name: 'sa' } }, microsoft: { ...entra, clientSecretKey: 'client-secret' } },
      },
    },
    field: 'spec.credentials.oauth2',
  },
  {
    name: 'Microsoft with both a client secret and a certificate',
    kind: 'SmtpTarget',
    spec: {
      ...target,
      credentials: {
        type: 'OAuth2',
        oauth2: { user: 'a@example.com', microsoft: { ...entra, clientSecretKey: 's', certificateKey: 'tls.crt', privateKeyKey: 'tls.key' } },
      },
    },
    field: 'spec.credentials.oauth2.microsoft.clientSecretKey',
  },
  {
    name: 'Microsoft certificate without its private key',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { type: 'OAuth2', oauth2: { user: 'a@example.com', microsoft: { ...entra, certificateKey: 'tls.crt' } } } },
    field: 'spec.credentials.oauth2.microsoft.privateKeyKey',
  },
  {
    name: 'OAuth2 user that is no address',
    kind: 'SmtpTarget',
    spec: { ...target, credentials: { type: 'OAuth2', oauth2: { user: 'mailer', google: { secretRef: { name: 'sa' } } } } },
    field: 'spec.credentials.oauth2.user',
  },

  // EmailServer
  { name: 'missing provider', kind: 'EmailServer', spec: { senderEmail: 'a@example.com' }, field: 'spec.provider' },
  { name: 'unknown provider', kind: 'EmailServer', spec: { provider: 'Mailgun' }, field: 'spec.provider' },
  { name: 'SMTP without its target', kind: 'EmailServer', spec: { provider: 'SMTP' }, field: 'spec.smtp' },
  {
    name: 'expireAfter under a minute',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, delivery: { mode: 'Queued', expireAfter: '30s' } },
    field: 'spec.delivery.expireAfter',
  },
  {
    name: 'expireAfter over 5 days',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, delivery: { mode: 'Queued', expireAfter: '121h' } },
    field: 'spec.delivery.expireAfter',
  },
  {
    name: 'unknown delivery mode',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, delivery: { mode: 'Async' } },
    field: 'spec.delivery.mode',
  },
  {
    name: 'bounceTo with Direct delivery',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, delivery: { bounceTo: 'bounces@example.com' } },
    field: 'spec.delivery.bounceTo',
  },
  { name: 'SendGrid without its API key ref', kind: 'EmailServer', spec: { provider: 'SendGrid' }, field: 'spec.sendgrid' },
  { name: 'SparkPost without its API key ref', kind: 'EmailServer', spec: { provider: 'SparkPost' }, field: 'spec.sparkpost' },
  { name: 'MicrosoftGraph without its block', kind: 'EmailServer', spec: { provider: 'MicrosoftGraph' }, field: 'spec.microsoftGraph' },
  {
    name: 'microsoftGraph block on a SendGrid provider',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid, microsoftGraph: { app: { ...entra, clientSecretKey: 'client-secret' } } },
    field: 'spec.microsoftGraph',
  },
  {
    name: 'MicrosoftGraph app without a secret or certificate',
    kind: 'EmailServer',
    spec: { provider: 'MicrosoftGraph', microsoftGraph: { app: entra } },
    field: 'spec.microsoftGraph.app.clientSecretKey',
  },
  {
    name: 'MicrosoftGraph saveToSentItems false (the MIME form always saves)',
    kind: 'EmailServer',
    spec: { provider: 'MicrosoftGraph', microsoftGraph: { app: { ...entra, clientSecretKey: 'client-secret' }, saveToSentItems: false } },
    field: 'spec.microsoftGraph.saveToSentItems',
  },
  {
    name: 'defaultFor on a server no other namespace may use',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, defaultFor: { namespaceSelector: { matchLabels: { tenant: 'a' } } } },
    field: 'spec.defaultFor',
  },
  {
    name: 'fallback on an SMTP provider',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, fallback: { smtpTargetRef: { name: 'other' } } },
    field: 'spec.fallback',
  },
  {
    name: 'SendGrid block on an SMTP provider',
    kind: 'EmailServer',
    spec: { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, sendgrid },
    field: 'spec.sendgrid',
  },
  {
    name: 'SendGrid in an unknown region',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid: { ...sendgrid, region: 'APAC' } },
    field: 'spec.sendgrid.region',
  },
  {
    name: 'Secret name with capitals',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid: { apiKeySecretRef: { name: 'SendGrid_Key' } } },
    field: 'spec.sendgrid.apiKeySecretRef.name',
  },
  {
    name: 'malformed senderEmail',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid, senderEmail: 'not-an-address' },
    field: 'spec.senderEmail',
  },
  {
    name: 'Selector without a selector',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid, allowedNamespaces: { from: 'Selector' } },
    field: 'spec.allowedNamespaces.selector',
  },
  {
    name: 'unknown allowedNamespaces.from',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid, allowedNamespaces: { from: 'Friends' } },
    field: 'spec.allowedNamespaces.from',
  },
  {
    name: 'incoming over SMTP',
    kind: 'EmailServer',
    spec: {
      provider: 'SendGrid',
      sendgrid,
      incoming: { protocol: 'SMTP', host: 'mail', port: 993, credentials: { secretRef: { name: 'box' } } },
    },
    field: 'spec.incoming.protocol',
  },
  {
    name: 'incoming without credentials',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid, incoming: { protocol: 'IMAP', host: 'mail', port: 993 } },
    field: 'spec.incoming.credentials',
  },
  {
    name: 'rate limit of zero',
    kind: 'EmailServer',
    spec: { provider: 'SendGrid', sendgrid, rateLimit: { messagesPerMinute: 0 } },
    field: 'spec.rateLimit.messagesPerMinute',
  },

  // SenderIdentity
  { name: 'missing email', kind: 'SenderIdentity', spec: { displayName: 'Alerts' }, field: 'spec.email' },
  { name: 'email without domain', kind: 'SenderIdentity', spec: { email: 'alerts@' }, field: 'spec.email' },
  {
    name: 'email with a display name in it',
    kind: 'SenderIdentity',
    spec: { email: 'Alerts <alerts@example.com>' },
    field: 'spec.email',
  },
  {
    name: 'display name with CR/LF (header injection)',
    kind: 'SenderIdentity',
    spec: { email: 'alerts@example.com', displayName: 'Alerts\r\nBcc: victim@example.org' },
    field: 'spec.displayName',
  },
  { name: 'malformed replyTo', kind: 'SenderIdentity', spec: { email: 'a@example.com', replyTo: 'oncall' }, field: 'spec.replyTo' },
  {
    name: 'serverRef without name',
    kind: 'SenderIdentity',
    spec: { email: 'a@example.com', serverRef: { namespace: 'platform' } },
    field: 'spec.serverRef.name',
  },
  { name: 'unknown field from', kind: 'SenderIdentity', spec: { email: 'a@example.com', from: 'x' }, field: 'spec.from' },

  // SendingDomain
  { name: 'sending domain without dkim', kind: 'SendingDomain', spec: { domain: 'example.com' }, field: 'spec.dkim' },
  { name: 'domain in upper case with a space', kind: 'SendingDomain', spec: { domain: 'Example .com', dkim: { ...dkim } }, field: 'spec.domain' },
  { name: 'a single-label domain', kind: 'SendingDomain', spec: { domain: 'localhost', dkim: { ...dkim } }, field: 'spec.domain' },
  { name: 'selector with an underscore', kind: 'SendingDomain', spec: { domain: 'example.com', dkim: { ...dkim, selector: 's_1' } }, field: 'spec.dkim.selector' },
  {
    name: 'both a key Secret and a generated key',
    kind: 'SendingDomain',
    spec: { domain: 'example.com', dkim: { ...dkim, generate: { secretName: 'dkim' } } },
    field: 'spec.dkim',
  },
  { name: 'no key source at all', kind: 'SendingDomain', spec: { domain: 'example.com', dkim: { selector: 's1' } }, field: 'spec.dkim' },
  {
    name: 'unknown key algorithm',
    kind: 'SendingDomain',
    spec: { domain: 'example.com', dkim: { selector: 's1', generate: { algorithm: 'RSA-1024', secretName: 'dkim' } } },
    field: 'spec.dkim.generate.algorithm',
  },
  {
    name: 'secondary signature with the same selector',
    kind: 'SendingDomain',
    spec: { domain: 'example.com', dkim: { ...dkim, secondary: { selector: 's1', generate: { algorithm: 'Ed25519', secretName: 'dkim-ed' } } } },
    field: 'spec.dkim.secondary.selector',
  },
  {
    name: 'secondary signature without a key source',
    kind: 'SendingDomain',
    spec: { domain: 'example.com', dkim: { ...dkim, secondary: { selector: 'ed1' } } },
    field: 'spec.dkim.secondary',
  },
];

/** The case as a manifest, as the tests apply or validate it. */
export function invalidManifest(c: InvalidCase, namespace?: string): Record<string, unknown> {
  const manifest: Record<string, unknown> = {
    apiVersion: 'email.postmaster.dev/v1alpha1',
    kind: c.kind,
    metadata: { name: 'invalid', ...(namespace ? { namespace } : {}) },
  };
  if (c.spec) manifest.spec = structuredClone(c.spec);
  return manifest;
}
