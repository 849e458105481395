// Schema pieces shared by the three kinds.
import { array, boolean, enumOf, integer, object, string, type Static } from './schema.ts';

export const GROUP = 'email.postmaster.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** DNS-1123 subdomain: what Kubernetes accepts as an object name. */
export const objectName = (what: string) =>
  string(what, {
    minLength: 1,
    maxLength: 253,
    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  });

/** A key inside a Secret's data, as Kubernetes allows them. */
export const secretKey = (what: string, fallback?: string) =>
  string(what, {
    minLength: 1,
    maxLength: 253,
    pattern: '^[-._a-zA-Z0-9]+$',
    ...(fallback === undefined ? {} : { default: fallback }),
  });

export const secretKeySelector = (what: string, defaultKey: string) =>
  object(
    what,
    {
      name: objectName('Name of the Secret, in the same namespace as this object.'),
      key: secretKey(`Key inside the Secret's data. Defaults to "${defaultKey}".`, defaultKey),
    },
    ['name'],
  );

export const localRef = (what: string) =>
  object(what, { name: objectName('Name of the referenced object, in the same namespace.') }, ['name']);

/** RFC 5321 mailbox; CR/LF and other controls can never pass, so no header injection through the API. */
export const emailAddress = (what: string) =>
  string(what, {
    format: 'email',
    maxLength: 254,
    pattern: '^[^\\s<>()\\[\\],;:"@]+@[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$',
  });

export const hostName = (what: string) =>
  string(what, {
    minLength: 1,
    maxLength: 253,
    // A DNS name, an IPv4 address or an IPv6 literal.
    pattern: '^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*|[0-9A-Fa-f:.]+)$',
  });

export const port = (what: string) => integer(what, { minimum: 1, maximum: 65535, format: 'int32' });

/** Go-style duration as Flux uses it: 30s, 10m, 1h30m. */
export const duration = (what: string, fallback: string, min = '30s', max = '24h') =>
  string(what, {
    default: fallback,
    maxLength: 32,
    pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$',
    'x-kubernetes-validations': [
      { rule: `duration(self) >= duration('${min}')`, message: `must be at least ${min}` },
      { rule: `duration(self) <= duration('${max}')`, message: `must be at most ${max}` },
    ],
  });

export const SECURITY_MODES = ['TLS', 'STARTTLS', 'None'] as const;
export type SecurityMode = (typeof SECURITY_MODES)[number];

export const security = (what: string, fallback: SecurityMode) =>
  enumOf(
    SECURITY_MODES,
    `${what} TLS: implicit TLS from the first byte (usually port 465 for SMTP, 993 for IMAP, 995 for POP3). ` +
      'STARTTLS: connect in plain text and upgrade; the upgrade is required, there is never a silent fall back to plain text ' +
      '(usually 587 for SMTP). None: plain text, for relays inside a trusted network only (usually port 25).',
    { default: fallback },
  );

export const credentials = (what: string) =>
  object(
    what,
    {
      secretRef: localRef('The Secret (same namespace) that holds the username and password.'),
      usernameKey: secretKey('Key in the Secret holding the username. Defaults to "username".', 'username'),
      passwordKey: secretKey(
        'Key in the Secret holding the password, app password or API key used as password. Defaults to "password".',
        'password',
      ),
    },
    ['secretRef'],
  );
export type Credentials = Static<ReturnType<typeof credentials>>;

export const tlsSettings = (what: string) =>
  object(what, {
    caSecretRef: secretKeySelector(
      'A Secret holding the PEM certificate authority bundle to trust instead of the system roots ' +
        '(for relays with a private CA). Key defaults to "ca.crt".',
      'ca.crt',
    ),
    serverName: hostName('Name to verify the server certificate against (SNI) when it differs from host.'),
    minVersion: enumOf(['TLSv1.2', 'TLSv1.3'] as const, 'Lowest TLS version accepted. Defaults to TLSv1.2.', {
      default: 'TLSv1.2',
    }),
    insecureSkipVerify: boolean(
      'Accept any server certificate without verification. Strongly discouraged: anyone on the path can read ' +
        'the mail and the password. The status reports a warning while it is set.',
      { default: false },
    ),
  });
export type TlsSettings = Static<ReturnType<typeof tlsSettings>>;

export const rateLimit = (what: string) =>
  object(
    what,
    {
      messagesPerMinute: integer('Sustained rate, in messages per minute.', { minimum: 1, maximum: 1_000_000 }),
      burst: integer('Messages that may go at once above the sustained rate. Defaults to messagesPerMinute.', {
        minimum: 1,
        maximum: 1_000_000,
      }),
    },
    ['messagesPerMinute'],
  );
export type RateLimit = Static<ReturnType<typeof rateLimit>>;

export const condition = object(
  'A condition in the kstatus / metav1.Condition form.',
  {
    type: string('Type of the condition, for example Ready, SecretsResolved, Connected.', { maxLength: 316 }),
    status: enumOf(['True', 'False', 'Unknown'] as const, 'Status of the condition: True, False or Unknown.'),
    reason: string('CamelCase reason for the last transition, for machines.', { maxLength: 1024 }),
    message: string('What happened and what to do about it, for people.', { maxLength: 32768 }),
    lastTransitionTime: string('When the status last changed.', { format: 'date-time' }),
    observedGeneration: integer('The .metadata.generation this condition was computed from.', {
      format: 'int64',
      minimum: 0,
    }),
  },
  ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
);
export type Condition = Static<typeof condition>;
export type ConditionStatus = Condition['status'];

export const conditions = array(condition, 'Observations of the current state: Ready summarises the others.', {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  maxItems: 16,
});

export const observedGeneration = integer('The .metadata.generation the controller last acted on.', {
  format: 'int64',
  minimum: 0,
});

export const stringList = (what: string) => array(string('One entry.', { maxLength: 1024 }), what, { maxItems: 64 });

/** What every kind's metadata looks like to the controller. */
export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}
