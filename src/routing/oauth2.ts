// From an SmtpTarget's credentials (Basic or OAuth2) and an Entra app block to
// the Secret keys they need, and, once resolved, to what the providers log in with.
import type { EmailServerSpec, EntraApp, SmtpCredentials } from '../api/index.ts';
import type { EntraCredentials, OAuth2Grant } from '../providers/oauth2/types.ts';
import { GOOGLE_MAIL_SCOPE, MICROSOFT_SMTP_SCOPE } from '../providers/oauth2/types.ts';
import type { GraphAccount, Login, OAuth2Login } from '../providers/types.ts';
import { secretValueKey, type SecretKeyRef } from './secrets.ts';

export function entraRefs(app: EntraApp, field: string): SecretKeyRef[] {
  const name = app.secretRef.name;
  if (app.clientSecretKey) return [{ name, key: app.clientSecretKey, field: `${field}.clientSecretKey` }];
  const refs: SecretKeyRef[] = [];
  if (app.certificateKey) refs.push({ name, key: app.certificateKey, field: `${field}.certificateKey` });
  if (app.privateKeyKey) refs.push({ name, key: app.privateKeyKey, field: `${field}.privateKeyKey` });
  return refs;
}

export function entraCredentials(app: EntraApp, values: Map<string, string>): EntraCredentials | undefined {
  const get = (key: string | undefined) => (key ? values.get(secretValueKey({ name: app.secretRef.name, key })) : undefined);
  const base = { tenantId: app.tenantId, clientId: app.clientId };
  const secret = get(app.clientSecretKey);
  if (secret !== undefined) return { ...base, clientSecret: secret };
  const certificatePem = get(app.certificateKey);
  const privateKeyPem = get(app.privateKeyKey);
  return certificatePem !== undefined && privateKeyPem !== undefined ? { ...base, certificate: { certificatePem, privateKeyPem } } : undefined;
}

/** The Secret keys an SmtpTarget's credentials read. */
export function smtpCredentialRefs(c: SmtpCredentials | undefined, field: string): SecretKeyRef[] {
  if (!c) return [];
  const o = c.oauth2;
  if ((c.type ?? 'Basic') === 'OAuth2' && o) {
    const at = `${field}.oauth2`;
    if (o.microsoft) return entraRefs(o.microsoft, `${at}.microsoft`);
    if (o.google) {
      const key = o.google.serviceAccountKey ?? 'service-account.json';
      return [{ name: o.google.secretRef.name, key, field: `${at}.google.serviceAccountKey` }];
    }
    if (o.refreshToken) {
      const r = o.refreshToken;
      return [
        { name: r.secretRef.name, key: r.clientSecretKey ?? 'client-secret', field: `${at}.refreshToken.clientSecretKey` },
        { name: r.secretRef.name, key: r.refreshTokenKey ?? 'refresh-token', field: `${at}.refreshToken.refreshTokenKey` },
      ];
    }
    return [];
  }
  if (!c.secretRef) return [];
  return [
    { name: c.secretRef.name, key: c.usernameKey ?? 'username', field: `${field}.usernameKey` },
    { name: c.secretRef.name, key: c.passwordKey ?? 'password', field: `${field}.passwordKey` },
  ];
}

/** What the SMTP session logs in with, once the Secrets resolved. */
export function smtpLogin(c: SmtpCredentials | undefined, values: Map<string, string>): Login | OAuth2Login | undefined {
  if (!c) return undefined;
  const o = c.oauth2;
  if ((c.type ?? 'Basic') === 'OAuth2' && o) {
    const grant = oauth2Grant(o, values);
    return grant ? { user: o.user, oauth2: grant } : undefined;
  }
  if (!c.secretRef) return undefined;
  const username = values.get(secretValueKey({ name: c.secretRef.name, key: c.usernameKey ?? 'username' }));
  const password = values.get(secretValueKey({ name: c.secretRef.name, key: c.passwordKey ?? 'password' }));
  return username !== undefined && password !== undefined ? { username, password } : undefined;
}

function oauth2Grant(o: NonNullable<SmtpCredentials['oauth2']>, values: Map<string, string>): OAuth2Grant | undefined {
  if (o.microsoft) {
    const app = entraCredentials(o.microsoft, values);
    return app ? { flow: 'Microsoft', ...app, scope: MICROSOFT_SMTP_SCOPE } : undefined;
  }
  if (o.google) {
    const json = values.get(secretValueKey({ name: o.google.secretRef.name, key: o.google.serviceAccountKey ?? 'service-account.json' }));
    return json !== undefined ? { flow: 'Google', serviceAccountJson: json, subject: o.user, scope: GOOGLE_MAIL_SCOPE } : undefined;
  }
  if (o.refreshToken) {
    const r = o.refreshToken;
    const clientSecret = values.get(secretValueKey({ name: r.secretRef.name, key: r.clientSecretKey ?? 'client-secret' }));
    const refreshToken = values.get(secretValueKey({ name: r.secretRef.name, key: r.refreshTokenKey ?? 'refresh-token' }));
    if (refreshToken === undefined) return undefined;
    return {
      flow: 'RefreshToken',
      tokenUrl: r.tokenUrl,
      clientId: r.clientId,
      refreshToken,
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      ...(r.scope ? { scope: r.scope } : {}),
    };
  }
  return undefined;
}

/** The Secret keys of a MicrosoftGraph server's app. */
export function graphRefs(spec: EmailServerSpec): SecretKeyRef[] {
  const app = spec.provider === 'MicrosoftGraph' ? spec.microsoftGraph?.app : undefined;
  return app ? entraRefs(app, 'spec.microsoftGraph.app') : [];
}

/** The Graph account of a MicrosoftGraph server, once its Secrets resolved. */
export function graphAccount(spec: EmailServerSpec, values: Map<string, string>): GraphAccount | undefined {
  const graph = spec.provider === 'MicrosoftGraph' ? spec.microsoftGraph : undefined;
  const app = graph ? entraCredentials(graph.app, values) : undefined;
  return app ? { app, saveToSentItems: graph?.saveToSentItems ?? true } : undefined;
}

/** "Secret "ns/name"" for messages about the app's credentials. */
export const describeApp = (namespace: string, spec: EmailServerSpec) =>
  `Secret "${namespace}/${spec.microsoftGraph?.app.secretRef.name ?? ''}"`;
