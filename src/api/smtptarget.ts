// SmtpTarget: one SMTP endpoint and the account key to log in with.
import {
  conditions,
  duration,
  hostName,
  observedGeneration,
  port,
  security,
  stringList,
  tlsSettings,
  type ObjectMeta,
} from './common.ts';
import { integer, object, string, type Static } from './schema.ts';
import { smtpCredentials } from './smtp-credentials.ts';
import type { KindDefinition } from './kind.ts';

export const smtpTargetSpec = object(
  'Where mail leaves through SMTP: a company relay, Exchange/Office 365 or Gmail (OAuth2 or an app password), ' +
    "or SendGrid's or SparkPost's SMTP relay, and the account to log in with.",
  {
    host: hostName('DNS name or IP address of the SMTP server, for example smtp.office365.com.'),
    port: port('TCP port of the SMTP server: usually 465 for TLS, 587 for STARTTLS, 25 for None.'),
    security: security('How the connection is protected.', 'STARTTLS'),
    credentials: smtpCredentials(
      'The account to AUTH with: a password (Basic) or an OAuth2 token (XOAUTH2). ' +
        'Leave it out for relays that accept mail without login (by network address).',
    ),
    tls: tlsSettings('TLS verification settings. Only meaningful when security is TLS or STARTTLS.'),
    pool: object('Connection pooling for mail sent through this target.', {
      maxConnections: integer('Most connections open to this server at once. Defaults to 5.', {
        minimum: 1,
        maximum: 100,
        default: 5,
      }),
      maxMessagesPerConnection: integer(
        'Messages sent over one connection before it is replaced. Defaults to 100.',
        { minimum: 1, maximum: 100_000, default: 100 },
      ),
    }),
    checkInterval: duration('How often the connection test repeats, for example 10m. Defaults to 10m.', '10m'),
  },
  ['host', 'port'],
  {
    'x-kubernetes-validations': [
      {
        rule: "self.security != 'None' || !has(self.tls)",
        message: 'tls settings apply only when security is TLS or STARTTLS',
        fieldPath: '.tls',
      },
    ],
  },
);

export const smtpConnectionFacts = object('Facts recorded by the last successful connection test.', {
  checkedAt: string('When the test ran.', { format: 'date-time' }),
  latencyMs: integer('Time from connect to the end of the test, in milliseconds.', { minimum: 0 }),
  greeting: string('The server greeting (220 line).', { maxLength: 1024 }),
  tlsVersion: string('Negotiated TLS version, for example TLSv1.3.', { maxLength: 32 }),
  tlsCipher: string('Negotiated TLS cipher.', { maxLength: 128 }),
  certificateSubject: string('Subject of the server certificate.', { maxLength: 1024 }),
  certificateIssuer: string('Issuer of the server certificate.', { maxLength: 1024 }),
  certificateNotAfter: string('When the server certificate expires.', { format: 'date-time' }),
  extensions: stringList('EHLO extensions the server announced.'),
  authMechanisms: stringList('AUTH mechanisms the server offered.'),
});
export type SmtpConnectionFacts = Static<typeof smtpConnectionFacts>;

export const smtpTargetStatus = object('What the controller observed.', {
  observedGeneration,
  conditions,
  connection: smtpConnectionFacts,
  usage: object('Who uses this target: the EmailServers of this namespace that send through it.', {
    servers: integer('How many servers use it, as primary or fallback.', { minimum: 0 }),
    names: stringList('The first servers, as "name (primary)" or "name (fallback)".'),
  }),
});

export type SmtpTargetSpec = Static<typeof smtpTargetSpec>;
export type SmtpTargetStatus = Static<typeof smtpTargetStatus>;
export interface SmtpTarget {
  apiVersion: string;
  kind: 'SmtpTarget';
  metadata: ObjectMeta;
  spec: SmtpTargetSpec;
  status?: SmtpTargetStatus;
}

export const smtpTargetKind: KindDefinition = {
  kind: 'SmtpTarget',
  plural: 'smtptargets',
  singular: 'smtptarget',
  shortNames: ['smtp'],
  description: 'SmtpTarget is one SMTP endpoint and the account key to log in with.',
  spec: smtpTargetSpec,
  status: smtpTargetStatus,
  printerColumns: [
    { name: 'Host', type: 'string', jsonPath: '.spec.host' },
    { name: 'Port', type: 'integer', jsonPath: '.spec.port' },
    { name: 'Security', type: 'string', jsonPath: '.spec.security' },
    { name: 'In Use', type: 'integer', jsonPath: '.status.usage.servers' },
  ],
};
