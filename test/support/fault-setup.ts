// What the fault files set up alike: a Direct and a Queued server side by side, both
// relaying to the counting sink, one identity each; and a client that sends as an
// identity to every replica, retrying as fault-ledger.ts's careful app does.
import { expect } from 'vitest';
import type { ClientOptions } from './fault-ledger.ts';
import { apply, resource } from './manifests.ts';
import type { Replicas } from './replicas.ts';
import { eventually, getCondition } from './wait.ts';

/** The SmtpTarget `relay` at `port`, the EmailServers `direct` and `queued`, and an identity of each name. */
export function directAndQueued(port: number): Record<string, unknown>[] {
  return [
    resource('SmtpTarget', 'relay', { host: '127.0.0.1', port, security: 'None' }),
    resource('EmailServer', 'direct', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } } }),
    resource('EmailServer', 'queued', { provider: 'SMTP', smtp: { targetRef: { name: 'relay' } }, delivery: { mode: 'Queued', expireAfter: '1h' } }),
    resource('SenderIdentity', 'direct', { email: 'direct@example.com', serverRef: { name: 'direct' } }),
    resource('SenderIdentity', 'queued', { email: 'queued@example.com', serverRef: { name: 'queued' } }),
  ];
}

/** Applies directAndQueued in `ns` and waits until both identities are Ready. */
export async function applyDirectAndQueued(ns: string, port: number): Promise<void> {
  await apply(ns, ...directAndQueued(port));
  for (const id of ['direct', 'queued']) {
    await eventually(async () => expect(await getCondition('senderidentity', ns, id, 'Ready')).toMatchObject({ status: 'True' }), 60_000);
  }
}

/** A client of the replicas sending as `sender`, each message named by its subject. */
export function sendAs(r: Replicas, sender: string, extra: Partial<ClientOptions> = {}): ClientOptions {
  return {
    token: r.token,
    targets: () => r.ops,
    message: (name) => ({ sender, to: ['rcpt@example.com'], subject: name, text: `body of ${name}` }),
    ...extra,
  };
}
