// The cluster of the user's kubeconfig, as kubectl finds it: --kubeconfig,
// else $KUBECONFIG, else ~/.kube/config; --context; the context's namespace
// unless -n says otherwise. Reads go through a cache, since one Secret or
// server often appears in several trees.
import { KubeConfig } from '@kubernetes/client-node';
import { KubeError, KubeClient, collectionPath, objectPath, type ResourceType } from '../kube/rest.ts';
import { resources } from '../kube/resources.ts';
import { CliError, CliErrorCode } from './errors.ts';

export const connectionFlags = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;

export const CONNECTION_HELP = `      --kubeconfig FILE  kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME     kubeconfig context to use
  -n, --namespace NS     namespace (default: the context's, then "default")`;

export interface Connection {
  client: KubeClient;
  /** The namespace to work in when none is named. */
  namespace: string;
  close(): void;
}

export function connect(flags: { kubeconfig?: string; context?: string; namespace?: string }): Connection {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
    if (flags.context) {
      if (!kc.getContextObject(flags.context)) throw new Error(`context "${flags.context}" is not in the kubeconfig`);
      kc.setCurrentContext(flags.context);
    }
    const client = new KubeClient(kc);
    const namespace = flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
    return { client, namespace, close: () => client.close() };
  } catch (err) {
    const where = flags.kubeconfig ? `kubeconfig "${flags.kubeconfig}"` : 'the kubeconfig';
    throw new CliError(CliErrorCode.KubeconfigUnloadable, `cannot load ${where}: ${(err as Error).message}`, { cause: err });
  }
}

export type Kind = 'SenderIdentity' | 'EmailServer' | 'SmtpTarget' | 'SendingDomain' | 'Secret';
const types: Record<Kind, ResourceType> = {
  SenderIdentity: resources.senderIdentity,
  EmailServer: resources.emailServer,
  SmtpTarget: resources.smtpTarget,
  SendingDomain: resources.sendingDomain,
  Secret: resources.secret,
};

/** An object, or why it could not be read: the tree shows both. */
export type Lookup<T> = { found: T } | { missing: 'NotFound' | 'Forbidden'; message: string };

/** Errors that mean no answer at all (not a missing object): the whole command stops. */
export function unavailable(err: unknown, server: string): CliError {
  if (err instanceof KubeError) {
    const code = err.status === 401 || err.status === 403 ? CliErrorCode.Forbidden : CliErrorCode.ClusterUnreachable;
    return new CliError(code, err.message, { cause: err });
  }
  return new CliError(CliErrorCode.ClusterUnreachable, `cannot reach the API server at ${server}: ${(err as Error).message}`, { cause: err });
}

/** What the status tree reads: an interface, so the tree is tested without a cluster too. */
export interface ObjectReader {
  get<T>(kind: Kind, namespace: string, name: string): Promise<Lookup<T>>;
  /** Every object of a kind in a namespace, or in all when namespace is undefined. */
  list<T>(kind: Kind, namespace: string | undefined): Promise<T[]>;
}

export class Reader implements ObjectReader {
  private readonly cache = new Map<string, Promise<Lookup<unknown>>>();
  private readonly client: KubeClient;
  constructor(client: KubeClient) {
    this.client = client;
  }

  get<T>(kind: Kind, namespace: string, name: string): Promise<Lookup<T>> {
    const key = `${kind}/${namespace}/${name}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.client.get<T>(objectPath(types[kind], namespace, name)).then(
        (found): Lookup<unknown> => ({ found }),
        (err: unknown): Lookup<unknown> => {
          if (err instanceof KubeError && err.status === 404) return { missing: 'NotFound', message: `${kind} "${namespace}/${name}" not found.` };
          if (err instanceof KubeError && err.status === 403) {
            return { missing: 'Forbidden', message: `You may not read ${kind} "${namespace}/${name}" (RBAC).` };
          }
          throw unavailable(err, this.client.server);
        },
      );
      this.cache.set(key, hit);
    }
    return hit as Promise<Lookup<T>>;
  }

  async list<T>(kind: Kind, namespace: string | undefined): Promise<T[]> {
    try {
      const list = await this.client.get<{ items: T[] }>(collectionPath(types[kind], namespace));
      return list.items;
    } catch (err) {
      throw unavailable(err, this.client.server);
    }
  }
}
