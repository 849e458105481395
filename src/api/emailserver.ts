// EmailServer: how mail is delivered, and the defaults it carries.
import {
  conditions,
  credentials,
  duration,
  emailAddress,
  hostName,
  localRef,
  observedGeneration,
  port,
  rateLimit,
  secretKeySelector,
  security,
  stringList,
  tlsSettings,
  type ObjectMeta,
} from './common.ts';
import type { KindDefinition } from './kind.ts';
import { array, boolean, enumOf, integer, object, string, stringMap, type Static } from './schema.ts';
import { entraApp } from './smtp-credentials.ts';
import { smtpConnectionFacts } from './smtptarget.ts';

export const PROVIDERS = ['SMTP', 'SendGrid', 'SparkPost', 'MicrosoftGraph'] as const;
export type Provider = (typeof PROVIDERS)[number];

const region = (provider: string, eu: string) =>
  enumOf(['US', 'EU'] as const, `${provider} API region. ${eu} Defaults to US.`, { default: 'US' });

const ipPool = (provider: string, field: string) =>
  string(`Default ${provider} IP pool for mail sent through this server (sent as ${field}).`, {
    minLength: 1,
    maxLength: 64,
    pattern: '^[A-Za-z0-9._-]+$',
  });

const labelSelector = object('A Kubernetes label selector over namespaces.', {
  matchLabels: stringMap(
    'Labels a namespace must carry, all of them.',
    string('Label value.', { maxLength: 63 }),
  ),
  matchExpressions: array(
    object(
      'A label selector requirement.',
      {
        key: string('The label key.', { minLength: 1, maxLength: 317 }),
        operator: enumOf(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, 'How the key relates to the values.'),
        values: array(string('A label value.', { maxLength: 63 }), 'Values for In and NotIn.', { maxItems: 64 }),
      },
      ['key', 'operator'],
    ),
    'Label requirements, all of which must hold.',
    { maxItems: 16 },
  ),
});
export type LabelSelector = Static<typeof labelSelector>;

export const emailServerSpec = object(
  'How mail is delivered (SMTP target or provider API), and the defaults and limits that go with it.',
  {
    provider: enumOf(
      PROVIDERS,
      'How mail leaves: SMTP (through spec.smtp.targetRef), SendGrid or SparkPost (their HTTP APIs), or MicrosoftGraph ' +
        '(the sendMail API of Microsoft 365 with the MIME message, app credentials of spec.microsoftGraph).',
    ),
    smtp: object('Settings for provider SMTP.', { targetRef: localRef('The SmtpTarget mail is sent through.') }, [
      'targetRef',
    ]),
    sendgrid: object(
      'Settings for provider SendGrid.',
      {
        apiKeySecretRef: secretKeySelector('The Secret holding the SendGrid API key. Key defaults to "apiKey".', 'apiKey'),
        region: region('SendGrid', 'EU regional subusers use the EU base URL (api.eu.sendgrid.com).'),
        ipPool: ipPool('SendGrid', 'ip_pool_name'),
      },
      ['apiKeySecretRef'],
    ),
    sparkpost: object(
      'Settings for provider SparkPost.',
      {
        apiKeySecretRef: secretKeySelector('The Secret holding the SparkPost API key. Key defaults to "apiKey".', 'apiKey'),
        region: region('SparkPost', 'EU accounts use the EU origin (api.eu.sparkpost.com).'),
        ipPool: ipPool('SparkPost', 'options.ip_pool'),
      },
      ['apiKeySecretRef'],
    ),
    microsoftGraph: object(
      'Settings for provider MicrosoftGraph: POST /v1.0/users/{sender}/sendMail with the MIME message, as an Entra app with ' +
        'the Mail.Send application permission (admin consent; narrow it to the sending mailboxes with an application access policy).',
      {
        app: entraApp('The Entra app registration: tenant, client id, and a client secret or certificate from a Secret.'),
        saveToSentItems: boolean(
          "Keep a copy in the sender's Sent Items. Graph's MIME form of sendMail (which carries headers, inline parts and the " +
            'Message-ID as they are) always keeps one, so only true is accepted for now. Defaults to true.',
          { default: true },
        ),
      },
      ['app'],
      {
        'x-kubernetes-validations': [
          {
            rule: '!has(self.saveToSentItems) || self.saveToSentItems',
            message: "Graph's MIME form of sendMail always saves a copy in Sent Items: saveToSentItems false cannot be honoured",
            fieldPath: '.saveToSentItems',
          },
        ],
      },
    ),
    fallback: object(
      'Where mail goes when the provider API cannot take it (network error, 5xx, 429). Never used for a permanent 4xx. ' +
        'Only for API providers (SendGrid, SparkPost, MicrosoftGraph).',
      { smtpTargetRef: localRef('The SmtpTarget to fall back to.') },
      ['smtpTargetRef'],
    ),
    senderEmail: emailAddress('Default From address for mail sent through this server.'),
    replyTo: emailAddress('Default Reply-To address for mail sent through this server.'),
    incoming: object(
      'The mailbox replies arrive in. Connection-tested like the outgoing side (IncomingConnected).',
      {
        protocol: enumOf(['IMAP', 'POP3'] as const, 'Mailbox protocol.'),
        host: hostName('DNS name or IP address of the IMAP or POP3 server.'),
        port: port('TCP port: usually 993 for IMAP over TLS, 995 for POP3 over TLS.'),
        security: security('How the connection is protected.', 'TLS'),
        credentials: credentials('The mailbox account.'),
        tls: tlsSettings('TLS verification settings for the mailbox server.'),
        mailbox: string('IMAP folder to open in the test. Defaults to INBOX.', { default: 'INBOX', maxLength: 256 }),
      },
      ['protocol', 'host', 'port', 'credentials'],
    ),
    default: boolean("This server is the namespace's default for SenderIdentities that name no server.", {
      default: false,
    }),
    defaultFor: object(
      "Make this server the default of other namespaces (a platform team's sub-accounts): SenderIdentities there that name no " +
        "server use it. A namespace's own default: true server wins; the server is a default only where allowedNamespaces " +
        'admits the namespace; two platform defaults matching one namespace give its identities MultipleDefaultServers.',
      { namespaceSelector: { ...labelSelector, description: 'The namespaces this server is the default for, by their labels.' } },
      ['namespaceSelector'],
    ),
    allowedNamespaces: object(
      'Which namespaces may use this server through their SenderIdentities (the Gateway API pattern).',
      {
        from: enumOf(
          ['Same', 'All', 'Selector'] as const,
          'Same: only this namespace. All: every namespace. Selector: namespaces matching selector.',
          { default: 'Same' },
        ),
        selector: labelSelector,
      },
      [],
      {
        'x-kubernetes-validations': [
          {
            rule: "self.from == 'Selector' ? has(self.selector) : !has(self.selector)",
            message: 'selector is required when from is Selector, and only allowed then',
            fieldPath: '.selector',
          },
        ],
      },
    ),
    rateLimit: rateLimit('Limit on mail sent through this server, to protect the upstream.'),
    delivery: object(
      'How the send endpoint hands mail to this server. Direct: the doors answer once the upstream accepted the message ' +
        '(a failure is the caller\'s to retry). Queued: the doors answer once the message is stored in the shared store ' +
        '(the operator runs with --redis-url), and every replica delivers from the queue, retrying temporary failures ' +
        'until expireAfter.',
      {
        mode: enumOf(['Direct', 'Queued'] as const, 'Direct or Queued. Defaults to Direct.', { default: 'Direct' }),
        expireAfter: duration(
          'Queued: how long a message is retried before it expires (1m to 120h, i.e. 5 days). Defaults to 24h.',
          '24h',
          '1m',
          '120h',
        ),
        bounceTo: emailAddress(
          'Queued: where a delivery status notification (RFC 3464) goes when a message bounces or expires, sent through this server.',
        ),
      },
      [],
      {
        'x-kubernetes-validations': [
          {
            rule: "(has(self.mode) && self.mode == 'Queued') || (!has(self.bounceTo))",
            message: 'bounceTo is only used with mode Queued',
            fieldPath: '.bounceTo',
          },
        ],
      },
    ),
    testRecipient: emailAddress('Where a requested test message goes when the annotation names no address.'),
    checkInterval: duration('How often the connection tests repeat. Defaults to 10m.', '10m'),
  },
  ['provider'],
  {
    'x-kubernetes-validations': [
      { rule: "self.provider != 'SMTP' || has(self.smtp)", message: 'provider SMTP requires smtp.targetRef', fieldPath: '.smtp' },
      {
        rule: "self.provider != 'SendGrid' || has(self.sendgrid)",
        message: 'provider SendGrid requires sendgrid.apiKeySecretRef',
        fieldPath: '.sendgrid',
      },
      {
        rule: "self.provider != 'SparkPost' || has(self.sparkpost)",
        message: 'provider SparkPost requires sparkpost.apiKeySecretRef',
        fieldPath: '.sparkpost',
      },
      {
        rule: "self.provider != 'MicrosoftGraph' || has(self.microsoftGraph)",
        message: 'provider MicrosoftGraph requires microsoftGraph.app',
        fieldPath: '.microsoftGraph',
      },
      {
        rule: "!has(self.microsoftGraph) || self.provider == 'MicrosoftGraph'",
        message: 'microsoftGraph is only allowed with provider MicrosoftGraph',
        fieldPath: '.microsoftGraph',
      },
      { rule: "!has(self.smtp) || self.provider == 'SMTP'", message: 'smtp is only allowed with provider SMTP', fieldPath: '.smtp' },
      {
        rule: "!has(self.sendgrid) || self.provider == 'SendGrid'",
        message: 'sendgrid is only allowed with provider SendGrid',
        fieldPath: '.sendgrid',
      },
      {
        rule: "!has(self.sparkpost) || self.provider == 'SparkPost'",
        message: 'sparkpost is only allowed with provider SparkPost',
        fieldPath: '.sparkpost',
      },
      {
        rule: "!has(self.defaultFor) || (has(self.allowedNamespaces) && self.allowedNamespaces.from != 'Same')",
        message: 'defaultFor needs allowedNamespaces.from All or Selector: a server is a default only where other namespaces may use it',
        fieldPath: '.defaultFor',
      },
      {
        rule: "!has(self.fallback) || self.provider != 'SMTP'",
        message: 'fallback applies only to API providers (SendGrid, SparkPost, MicrosoftGraph); with SMTP, name the target in smtp.targetRef',
        fieldPath: '.fallback',
      },
    ],
  },
);

const providerFacts = object('Facts recorded by the last successful provider API check.', {
  checkedAt: string('When the check ran.', { format: 'date-time' }),
  latencyMs: integer('Round trip of the check, in milliseconds.', { minimum: 0 }),
  endpoint: string('The API base URL that was checked.', { maxLength: 1024 }),
  account: string('Account or user the key belongs to, as the provider names it.', { maxLength: 1024 }),
  scopes: stringList('Relevant permissions of the key, for example mail.send.'),
  ipPool: string('The IP pool that was found.', { maxLength: 64 }),
});

const testMessage = object('The last test message requested with the email.postmaster.dev/test-to annotation.', {
  annotation: string('The annotation value that was handled; the same value never sends twice.', { maxLength: 1024 }),
  recipient: string('Where the test message went.', { maxLength: 254 }),
  sentAt: string('When it was sent.', { format: 'date-time' }),
  result: enumOf(['Sent', 'Failed'] as const, 'Whether the upstream accepted the message.'),
  messageId: string('Message id the upstream gave.', { maxLength: 1024 }),
  message: string('What happened.', { maxLength: 4096 }),
});

export const emailServerStatus = object('What the controller observed.', {
  observedGeneration,
  conditions,
  connection: smtpConnectionFacts,
  provider: providerFacts,
  incoming: object('Facts recorded by the last successful mailbox login.', {
    checkedAt: string('When the test ran.', { format: 'date-time' }),
    latencyMs: integer('Time of the test, in milliseconds.', { minimum: 0 }),
    greeting: string('Server greeting.', { maxLength: 1024 }),
    capabilities: stringList('Capabilities the server announced.'),
  }),
  testMessage,
  usage: object('Who uses this server: the SenderIdentities that resolve to it (by name or as a default).', {
    identities: integer('How many identities use it.', { minimum: 0 }),
    namespaces: integer('How many namespaces they are in.', { minimum: 0 }),
    names: stringList('The first identities, as namespace/name.'),
  }),
});

export type EmailServerSpec = Static<typeof emailServerSpec>;
export type EmailServerStatus = Static<typeof emailServerStatus>;
export interface EmailServer {
  apiVersion: string;
  kind: 'EmailServer';
  metadata: ObjectMeta;
  spec: EmailServerSpec;
  status?: EmailServerStatus;
}

export const emailServerKind: KindDefinition = {
  kind: 'EmailServer',
  plural: 'emailservers',
  singular: 'emailserver',
  shortNames: ['esrv', 'mailserver'],
  description: 'EmailServer says how mail is delivered (SMTP, SendGrid, SparkPost or Microsoft Graph) and carries its defaults and limits.',
  spec: emailServerSpec,
  status: emailServerStatus,
  printerColumns: [
    { name: 'Provider', type: 'string', jsonPath: '.spec.provider' },
    { name: 'Default', type: 'boolean', jsonPath: '.spec.default' },
    { name: 'In Use', type: 'integer', jsonPath: '.status.usage.identities' },
    { name: 'Sender', type: 'string', jsonPath: '.spec.senderEmail', priority: 1 },
  ],
};
