// The credentials of an SmtpTarget: a username and password (Basic, the shape
// every target had before), or an OAuth2 access token sent with AUTH XOAUTH2,
// obtained through one of three grants. Also the app credentials of the
// Microsoft Graph provider, which share the Entra part.
import { emailAddress, localRef, secretKey } from './common.ts';
import { enumOf, object, string, type Static } from './schema.ts';

const uuidOrName = (what: string) =>
  string(what, { minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$' });

/** Microsoft Entra ID (Azure AD) application credentials: a client secret, or a certificate. */
export const entraApp = (what: string) =>
  object(
    what,
    {
      tenantId: uuidOrName('The directory (tenant) id, or a verified domain of the tenant such as contoso.onmicrosoft.com.'),
      clientId: uuidOrName('The application (client) id of the app registration.'),
      secretRef: localRef('The Secret (same namespace) holding the client secret, or the certificate and its private key.'),
      clientSecretKey: secretKey('Key in the Secret holding the client secret value (not its id). Set this or certificateKey.'),
      certificateKey: secretKey(
        'Key in the Secret holding the PEM certificate uploaded to the app registration; goes with privateKeyKey. ' +
          'Set this or clientSecretKey.',
      ),
      privateKeyKey: secretKey('Key in the Secret holding the PEM private key of certificateKey.'),
    },
    ['tenantId', 'clientId', 'secretRef'],
    {
      'x-kubernetes-validations': [
        {
          rule: 'has(self.clientSecretKey) != has(self.certificateKey)',
          message: 'set exactly one of clientSecretKey and certificateKey',
          fieldPath: '.clientSecretKey',
        },
        {
          rule: 'has(self.certificateKey) == has(self.privateKeyKey)',
          message: 'certificateKey and privateKeyKey go together',
          fieldPath: '.privateKeyKey',
        },
      ],
    },
  );
export type EntraApp = Static<ReturnType<typeof entraApp>>;

export const OAUTH2_GRANTS = ['Microsoft', 'Google', 'RefreshToken'] as const;

const oauth2 = object(
  'How the OAuth2 access token for AUTH XOAUTH2 is obtained. Set exactly one of microsoft, google and refreshToken.',
  {
    user: emailAddress('The mailbox to log in as and send from (the XOAUTH2 user; for Google the user impersonated).'),
    microsoft: entraApp(
      'Microsoft Entra client credentials (Exchange Online): the token comes from the tenant\'s v2.0 token endpoint with ' +
        'scope https://outlook.office365.com/.default. The app needs the SMTP.SendAsApp application permission with admin ' +
        'consent, and an Exchange service principal with FullAccess to the mailbox.',
    ),
    google: object(
      'A Google service account with domain-wide delegation for the scope https://mail.google.com/ (Google Workspace).',
      {
        secretRef: localRef('The Secret (same namespace) holding the JSON key of the service account.'),
        serviceAccountKey: secretKey('Key in the Secret holding the JSON key. Defaults to "service-account.json".', 'service-account.json'),
      },
      ['secretRef'],
    ),
    refreshToken: object(
      'A refresh token grant at any OAuth2 token endpoint (a Google OAuth client with a user\'s consent, for example).',
      {
        tokenUrl: string('The token endpoint, for example https://oauth2.googleapis.com/token.', {
          maxLength: 2048,
          pattern: '^https?://[^\\s]+$',
        }),
        clientId: string('The OAuth2 client id.', { minLength: 1, maxLength: 1024 }),
        scope: string('Scope to ask for, space separated. Absent: the scope the refresh token was granted.', { maxLength: 2048 }),
        secretRef: localRef('The Secret (same namespace) holding the client secret and the refresh token.'),
        clientSecretKey: secretKey('Key in the Secret holding the client secret. Defaults to "client-secret".', 'client-secret'),
        refreshTokenKey: secretKey('Key in the Secret holding the refresh token. Defaults to "refresh-token".', 'refresh-token'),
      },
      ['tokenUrl', 'clientId', 'secretRef'],
    ),
  },
  ['user'],
  {
    'x-kubernetes-validations': [
      {
        rule: '[has(self.microsoft), has(self.google), has(self.refreshToken)].filter(x, x).size() == 1',
        message: 'set exactly one of microsoft, google and refreshToken',
      },
    ],
  },
);
export type OAuth2Credentials = Static<typeof oauth2>;

export const smtpCredentials = (what: string) =>
  object(
    what,
    {
      type: enumOf(
        ['Basic', 'OAuth2'] as const,
        'Basic: a username and password (or app password) from secretRef. OAuth2: an access token sent with AUTH XOAUTH2, ' +
          'as Exchange Online and Gmail require once passwords are off. Defaults to Basic.',
        { default: 'Basic' },
      ),
      secretRef: localRef('Basic: the Secret (same namespace) that holds the username and password.'),
      usernameKey: secretKey('Basic: key in the Secret holding the username. Defaults to "username".'),
      passwordKey: secretKey('Basic: key in the Secret holding the password, app password or API key used as password. Defaults to "password".'),
      oauth2,
    },
    [],
    {
      'x-kubernetes-validations': [
        { rule: "self.type != 'Basic' || has(self.secretRef)", message: 'Basic credentials need secretRef', fieldPath: '.secretRef' },
        { rule: "self.type != 'OAuth2' || has(self.oauth2)", message: 'type OAuth2 needs the oauth2 block', fieldPath: '.oauth2' },
        { rule: "self.type == 'OAuth2' || !has(self.oauth2)", message: 'oauth2 is only allowed with type OAuth2', fieldPath: '.oauth2' },
        {
          rule: "self.type != 'OAuth2' || !(has(self.secretRef) || has(self.usernameKey) || has(self.passwordKey))",
          message: 'secretRef, usernameKey and passwordKey are for type Basic; with OAuth2 the Secret is named inside oauth2',
          fieldPath: '.secretRef',
        },
      ],
    },
  );
export type SmtpCredentials = Static<ReturnType<typeof smtpCredentials>>;
