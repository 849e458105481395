// SendingDomain: one mail domain and how its mail is DKIM-signed.
import { conditions, duration, objectName, observedGeneration, secretKey, stringList, type ObjectMeta } from './common.ts';
import type { KindDefinition } from './kind.ts';
import { array, boolean, enumOf, integer, object, string, type Static } from './schema.ts';

export const DKIM_ALGORITHMS = ['RSA-2048', 'RSA-3072', 'Ed25519'] as const;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];

/** Key in a key Secret's data that holds the PEM private key, unless privateKeySecretRef.key says otherwise. */
export const DKIM_PRIVATE_KEY = 'private.key';

/** Sound defaults: the headers a receiver shows or relies on, MIME headers, From over-signed. */
export const DEFAULT_SIGNED_HEADERS = [
  'From',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
] as const;

const selector = (what: string) =>
  string(what, { minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' });

const keyProps = {
  privateKeySecretRef: object(
    'A Secret (same namespace) holding the PEM private key (PKCS#8 or PKCS#1: RSA of at least 1024 bits, or Ed25519).',
    {
      name: objectName('Name of the Secret.'),
      key: secretKey(`Key inside the Secret's data. Defaults to "${DKIM_PRIVATE_KEY}".`, DKIM_PRIVATE_KEY),
    },
    ['name'],
  ),
  generate: object(
    'Let the operator generate the key into a Secret it owns, when that Secret does not exist. An existing Secret ' +
      'is never overwritten: delete it (or name another) to get a new key.',
    {
      algorithm: enumOf(DKIM_ALGORITHMS, 'Key type and size. Defaults to RSA-2048, which every receiver verifies.', {
        default: 'RSA-2048',
      }),
      secretName: objectName(`Name of the Secret the operator writes (key "${DKIM_PRIVATE_KEY}"), in this namespace.`),
    },
    ['secretName'],
  ),
};

const oneKeySource = {
  rule: 'has(self.privateKeySecretRef) != has(self.generate)',
  message: 'exactly one of privateKeySecretRef and generate is required',
};

export const sendingDomainSpec = object(
  'A mail domain and how mail from it is DKIM-signed. It applies to mail leaving through SMTP (a primary SmtpTarget ' +
    'or a fallback) of EmailServers in this namespace, for identities whose address is in the domain.',
  {
    domain: string('The mail domain, for example example.com: the d= of the signature.', {
      minLength: 1,
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$',
    }),
    includeSubdomains: boolean(
      'Also sign for addresses in subdomains (alerts@eu.example.com). A SendingDomain for the subdomain itself wins.',
      { default: false },
    ),
    dkim: object(
      'The DKIM key and what it signs.',
      {
        selector: selector('The selector (s=): the record is published at <selector>._domainkey.<domain>.'),
        ...keyProps,
        secondary: object(
          'A second signature beside the first, for example Ed25519 (RFC 8463) beside RSA: receivers that know ' +
            'Ed25519 check it, the others (Gmail verifies only RSA) check the first.',
          { selector: selector('The selector of the second key; it must differ from the first.'), ...keyProps },
          ['selector'],
          { 'x-kubernetes-validations': [oneKeySource] },
        ),
        headers: array(
          string('A header field name.', { minLength: 1, maxLength: 64, pattern: '^[!-9;-~]+$' }),
          'Header fields to sign. Defaults to From, Reply-To, Subject, Date, Message-ID, To, Cc, the MIME headers, ' +
            'In-Reply-To, References and List-Unsubscribe. From is always signed.',
          { maxItems: 32 },
        ),
      },
      ['selector'],
      {
        'x-kubernetes-validations': [
          oneKeySource,
          {
            rule: '!has(self.secondary) || self.secondary.selector != self.selector',
            message: 'the secondary selector must differ from the first',
            fieldPath: '.secondary.selector',
          },
        ],
      },
    ),
    checkInterval: duration('How often the DNS records are checked, for example 10m. Defaults to 10m.', '10m'),
  },
  ['domain', 'dkim'],
);

export const dkimRecord = object('A DKIM key and the DNS record that publishes it.', {
  selector: string('The selector.', { maxLength: 63 }),
  algorithm: string('The signing algorithm: rsa-sha256 or ed25519-sha256.', { maxLength: 32 }),
  keyBits: integer('Size of the key, in bits.', { minimum: 0 }),
  secretName: objectName('The Secret the private key is read from.'),
  name: string('Name of the TXT record: <selector>._domainkey.<domain>.', { maxLength: 253 }),
  type: enumOf(['TXT'] as const, 'Record type, always TXT.'),
  value: string('The record value, for example "v=DKIM1; k=rsa; p=MIIB...".', { maxLength: 4096 }),
  strings: stringList('The value split into strings of at most 255 bytes, as one TXT record (DNS allows no longer string).'),
  published: boolean('Whether DNS served exactly this record at the last check.'),
});

export const sendingDomainStatus = object('What the controller observed.', {
  observedGeneration,
  conditions,
  dkim: array(dkimRecord, 'The keys mail is signed with and the record to publish for each.', { maxItems: 2 }),
  dmarc: object('The DMARC record of the domain, when one was found (reported, not required).', {
    name: string('Where it was found: _dmarc.<domain>.', { maxLength: 253 }),
    record: string('The record.', { maxLength: 4096 }),
    policy: string('Its policy (p=): none, quarantine or reject.', { maxLength: 32 }),
  }),
  checkedAt: string('When DNS was last checked.', { format: 'date-time' }),
});

export type SendingDomainSpec = Static<typeof sendingDomainSpec>;
export type SendingDomainStatus = Static<typeof sendingDomainStatus>;
export type DkimRecord = Static<typeof dkimRecord>;
export interface SendingDomain {
  apiVersion: string;
  kind: 'SendingDomain';
  metadata: ObjectMeta;
  spec: SendingDomainSpec;
  status?: SendingDomainStatus;
}

export const sendingDomainKind: KindDefinition = {
  kind: 'SendingDomain',
  plural: 'sendingdomains',
  singular: 'sendingdomain',
  shortNames: ['sdom'],
  description: 'SendingDomain is a mail domain and the DKIM key its mail is signed with when it leaves through SMTP.',
  spec: sendingDomainSpec,
  status: sendingDomainStatus,
  printerColumns: [
    { name: 'Domain', type: 'string', jsonPath: '.spec.domain' },
    { name: 'Selector', type: 'string', jsonPath: '.spec.dkim.selector' },
    { name: 'Published', type: 'string', jsonPath: '.status.conditions[?(@.type=="DnsPublished")].status' },
  ],
};
