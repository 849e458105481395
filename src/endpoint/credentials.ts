// Generated SMTP credentials for identities that ask for them: a Secret the
// operator writes and owns (ownerReference to the identity, so it goes with
// it). Deleting the Secret rotates the password: the next reconcile writes a new one.
import { randomBytes } from 'node:crypto';
import type { SenderIdentity } from '../api/index.ts';
import { API_VERSION } from '../api/index.ts';
import { collectionPath, KubeError, objectPath, type KubeClient } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
import type { IdentityExtras } from '../routing/identity.ts';
import type { Secret } from '../routing/world.ts';

export const PASSWORD_KEY = 'password';
export const IDENTITY_LABEL = 'email.postmaster.dev/sender-identity';

/** `<namespace>/<identity>`: unambiguous, since neither may contain a slash. */
export const smtpUsername = (namespace: string, identity: string) => `${namespace}/${identity}`;

export function parseSmtpUsername(username: string): { namespace: string; identity: string } | undefined {
  const m = /^([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)$/.exec(username);
  return m ? { namespace: m[1]!, identity: m[2]! } : undefined;
}

export interface EndpointAddress {
  service: string;
  httpPath: string;
  smtpPort: number;
}

/**
 * Makes sure the identity's credentials Secret exists with the right host and
 * port; keeps an existing password. Returns the Secret name, or throws with a
 * message naming the Secret when it belongs to someone else.
 */
export async function ensureCredentialsSecret(
  client: KubeClient,
  identity: SenderIdentity,
  existing: Secret | undefined,
  address: EndpointAddress,
): Promise<string> {
  const ns = identity.metadata.namespace;
  const name = identity.spec.smtpCredentials!.secretName;
  const owned = existing?.metadata.ownerReferences?.some((o) => o.uid === identity.metadata.uid && o.controller);
  if (existing && !owned) {
    throw new Error(`Secret "${ns}/${name}" exists and is not owned by SenderIdentity "${identity.metadata.name}"; choose another smtpCredentials.secretName`);
  }
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const data = {
    host: b64(address.service),
    port: b64(String(address.smtpPort)),
    username: b64(smtpUsername(ns, identity.metadata.name)),
    [PASSWORD_KEY]: existing?.data?.[PASSWORD_KEY] ?? b64(randomBytes(24).toString('base64url')),
  };
  if (existing && JSON.stringify(existing.data) === JSON.stringify({ ...existing.data, ...data })) return name;
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name,
      namespace: ns,
      labels: { [IDENTITY_LABEL]: identity.metadata.name, 'app.kubernetes.io/managed-by': 'postmaster' },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: 'SenderIdentity',
          name: identity.metadata.name,
          uid: identity.metadata.uid!,
          controller: true,
        },
      ],
    },
    data,
  };
  if (existing) {
    await client.request('PATCH', objectPath(resources.secret, ns, name), { body: { data }, patch: 'merge' });
  } else {
    await client.request('POST', collectionPath(resources.secret, ns), { body });
  }
  return name;
}

/** The controller hook that fills a SenderIdentity's endpoint status and writes its credentials Secret. */
export function identityExtrasHook(
  client: KubeClient,
  /** Read at call time, so the hook can be built before the cache it reads from. */
  secret: (namespace: string, name: string) => Secret | undefined,
  address: EndpointAddress,
): (identity: SenderIdentity) => Promise<IdentityExtras> {
  return async (identity) => {
    const extras: IdentityExtras = { endpoint: { service: address.service, httpPath: address.httpPath, smtpPort: address.smtpPort } };
    const wanted = identity.spec.smtpCredentials?.secretName;
    if (!wanted) return extras;
    try {
      extras.smtpCredentialsSecret = await ensureCredentialsSecret(
        client,
        identity,
        secret(identity.metadata.namespace, wanted),
        address,
      );
    } catch (err) {
      // API trouble is retried with backoff; a Secret owned by someone else needs a person.
      if (err instanceof KubeError) throw err;
      extras.credentialsProblem = (err as Error).message;
    }
    return extras;
  };
}
