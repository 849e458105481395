// From spec plus resolved Secrets to the endpoints the providers connect to.
import type { Credentials, SmtpTarget, TlsSettings } from '../api/index.ts';
import type { Login, SmtpEndpoint, TlsOptions } from '../providers/types.ts';
import { smtpCredentialRefs, smtpLogin } from './oauth2.ts';
import { resolveSecrets, secretValueKey, type ResolvedSecrets, type SecretKeyRef } from './secrets.ts';
import type { World } from './world.ts';

export function credentialRefs(c: Credentials | undefined, field: string): SecretKeyRef[] {
  if (!c) return [];
  return [
    { name: c.secretRef.name, key: c.usernameKey ?? 'username', field: `${field}.usernameKey` },
    { name: c.secretRef.name, key: c.passwordKey ?? 'password', field: `${field}.passwordKey` },
  ];
}

export function tlsRefs(t: TlsSettings | undefined, field: string): SecretKeyRef[] {
  if (!t?.caSecretRef) return [];
  return [{ name: t.caSecretRef.name, key: t.caSecretRef.key ?? 'ca.crt', field: `${field}.caSecretRef` }];
}

export function login(c: Credentials | undefined, values: Map<string, string>): Login | undefined {
  if (!c) return undefined;
  const username = values.get(secretValueKey({ name: c.secretRef.name, key: c.usernameKey ?? 'username' }));
  const password = values.get(secretValueKey({ name: c.secretRef.name, key: c.passwordKey ?? 'password' }));
  return username !== undefined && password !== undefined ? { username, password } : undefined;
}

export function tlsOptions(t: TlsSettings | undefined, values: Map<string, string>): TlsOptions | undefined {
  if (!t) return undefined;
  const opts: TlsOptions = {};
  if (t.caSecretRef) {
    const ca = values.get(secretValueKey({ name: t.caSecretRef.name, key: t.caSecretRef.key ?? 'ca.crt' }));
    if (ca) opts.ca = ca;
  }
  if (t.serverName) opts.serverName = t.serverName;
  if (t.minVersion) opts.minVersion = t.minVersion;
  if (t.insecureSkipVerify) opts.insecureSkipVerify = true;
  return opts;
}

export interface ResolvedSmtpTarget {
  secrets: ResolvedSecrets;
  /** Present when every Secret resolved. */
  endpoint?: SmtpEndpoint;
}

/** Resolves an SmtpTarget's Secrets into a connectable endpoint. */
export function resolveSmtpTarget(world: World, target: SmtpTarget): ResolvedSmtpTarget {
  const { spec } = target;
  const ns = target.metadata.namespace;
  const secrets = resolveSecrets(world, ns, [
    ...smtpCredentialRefs(spec.credentials, 'spec.credentials'),
    ...tlsRefs(spec.tls, 'spec.tls'),
  ]);
  if (!secrets.ok) return { secrets };
  const endpoint: SmtpEndpoint = { host: spec.host, port: spec.port, security: spec.security ?? 'STARTTLS' };
  const auth = smtpLogin(spec.credentials, secrets.values);
  if (auth) endpoint.auth = auth;
  const tls = tlsOptions(spec.tls, secrets.values);
  if (tls) endpoint.tls = tls;
  endpoint.pool = {
    maxConnections: spec.pool?.maxConnections ?? 5,
    maxMessagesPerConnection: spec.pool?.maxMessagesPerConnection ?? 100,
  };
  return { secrets, endpoint };
}
