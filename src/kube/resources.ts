// The resource types the operator reads and writes.
import { GROUP, VERSION } from '../api/index.ts';
import type { ResourceType } from './rest.ts';

const ours = (kind: string, plural: string): ResourceType => ({ group: GROUP, version: VERSION, plural, kind });

export const resources = {
  smtpTarget: ours('SmtpTarget', 'smtptargets'),
  emailServer: ours('EmailServer', 'emailservers'),
  senderIdentity: ours('SenderIdentity', 'senderidentities'),
  sendingDomain: ours('SendingDomain', 'sendingdomains'),
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' },
  event: { group: '', version: 'v1', plural: 'events', kind: 'Event' },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' },
} satisfies Record<string, ResourceType>;

export type OurKind = 'SmtpTarget' | 'EmailServer' | 'SenderIdentity' | 'SendingDomain';
export const ourResource: Record<OurKind, ResourceType> = {
  SmtpTarget: resources.smtpTarget,
  EmailServer: resources.emailServer,
  SenderIdentity: resources.senderIdentity,
  SendingDomain: resources.sendingDomain,
};
