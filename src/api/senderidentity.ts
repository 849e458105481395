// SenderIdentity: who mail is sent as. Who may send as it is RBAC (verb "send").
import { conditions, emailAddress, objectName, observedGeneration, port, rateLimit, stringList, type ObjectMeta } from './common.ts';
import type { KindDefinition } from './kind.ts';
import { enumOf, object, string, type Static } from './schema.ts';

export const senderIdentitySpec = object(
  'An address mail is sent as, the server it goes through, and its limits. Callers need the RBAC verb "send" on ' +
    'senderidentities (optionally narrowed by resourceNames) to use it.',
  {
    email: emailAddress('The From address (header and envelope), for example alerts@example.com.'),
    displayName: string('The name recipients see beside the address, for example "Example Alerts".', {
      minLength: 1,
      maxLength: 128,
      // No control characters: a display name can never smuggle a header line.
      pattern: '^[^\\x00-\\x1F\\x7F]+$',
    }),
    replyTo: emailAddress('Reply-To address. Defaults to the server\'s replyTo, if any.'),
    serverRef: object(
      "The EmailServer mail goes through. Leave it out to use the namespace's default server (default: true).",
      {
        name: objectName('Name of the EmailServer.'),
        namespace: objectName(
          "Namespace of the EmailServer, when it is another namespace's; that server's allowedNamespaces must admit this one.",
        ),
      },
      ['name'],
    ),
    smtpCredentials: object(
      'Ask the operator to write (and own) a Secret with host, port, username and password, for applications that ' +
        'only speak SMTP. Deleting the Secret rotates the password.',
      { secretName: objectName('Name of the Secret the operator writes, in this namespace.') },
      ['secretName'],
    ),
    rateLimit: rateLimit("Limit on mail sent as this identity, applied inside the server's limit."),
  },
  ['email'],
);

export const senderIdentityStatus = object('What the controller observed.', {
  observedGeneration,
  conditions,
  server: object('The EmailServer this identity expects: the one spec.serverRef names (even when it is missing), or the default it resolved to.', {
    name: objectName('Name of the EmailServer.'),
    namespace: objectName('Namespace of the EmailServer.'),
    provider: enumOf(['SMTP', 'SendGrid', 'SparkPost', 'MicrosoftGraph'] as const, 'Its provider.'),
  }),
  endpoint: object('How workloads reach the send endpoint for this identity.', {
    service: string('DNS name of the postmaster Service.', { maxLength: 253 }),
    httpPath: string('HTTP path to POST messages to.', { maxLength: 256 }),
    smtpPort: port('SMTP submission port.'),
  }),
  smtpCredentialsSecret: objectName('The Secret the operator wrote with SMTP credentials for this identity.'),
  signing: object('Whether mail sent as this identity is DKIM-signed, and by whom.', {
    by: enumOf(
      ['SendingDomain', 'Provider', 'None'] as const,
      'SendingDomain: postmaster signs mail leaving through SMTP with the key of a SendingDomain in the server\'s namespace. ' +
        'Provider: SendGrid or SparkPost signs with its own domain authentication. None: nobody here signs it.',
    ),
    sendingDomain: objectName('The SendingDomain whose key signs, when one covers the address.'),
    domain: string('The signing domain (d=).', { maxLength: 253 }),
    selectors: stringList('The selectors (s=) signed with.'),
    message: string('What signs this mail, in a sentence.', { maxLength: 1024 }),
  }),
});

export type SenderIdentitySpec = Static<typeof senderIdentitySpec>;
export type SenderIdentityStatus = Static<typeof senderIdentityStatus>;
export interface SenderIdentity {
  apiVersion: string;
  kind: 'SenderIdentity';
  metadata: ObjectMeta;
  spec: SenderIdentitySpec;
  status?: SenderIdentityStatus;
}

export const senderIdentityKind: KindDefinition = {
  kind: 'SenderIdentity',
  plural: 'senderidentities',
  singular: 'senderidentity',
  shortNames: ['sender', 'sid'],
  description: 'SenderIdentity is an address mail is sent as; RBAC (verb "send") decides who may send as it.',
  spec: senderIdentitySpec,
  status: senderIdentityStatus,
  printerColumns: [
    { name: 'Email', type: 'string', jsonPath: '.spec.email' },
    { name: 'Server', type: 'string', jsonPath: '.status.server.name' },
  ],
};
