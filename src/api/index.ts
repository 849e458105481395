// The API of email.postmaster.dev/v1alpha1: types, schemas and CRDs, from one source per kind.
import { emailServerKind } from './emailserver.ts';
import { customResourceDefinition, type KindDefinition } from './kind.ts';
import { senderIdentityKind } from './senderidentity.ts';
import { sendingDomainKind } from './sendingdomain.ts';
import { smtpTargetKind } from './smtptarget.ts';

export * from './common.ts';
export * from './conditions.ts';
export * from './smtp-credentials.ts';
export type { EmailServer, EmailServerSpec, EmailServerStatus, Provider, LabelSelector } from './emailserver.ts';
export type { SenderIdentity, SenderIdentitySpec, SenderIdentityStatus } from './senderidentity.ts';
export type { SendingDomain, SendingDomainSpec, SendingDomainStatus, DkimRecord, DkimAlgorithm } from './sendingdomain.ts';
export { DEFAULT_SIGNED_HEADERS, DKIM_PRIVATE_KEY } from './sendingdomain.ts';
export type { SmtpTarget, SmtpTargetSpec, SmtpTargetStatus, SmtpConnectionFacts } from './smtptarget.ts';

export const kinds: readonly KindDefinition[] = [smtpTargetKind, emailServerKind, senderIdentityKind, sendingDomainKind];

/** File name under crds/ and its YAML body, for each kind. */
export function crdFiles(render: (doc: unknown) => string): { file: string; content: string }[] {
  return kinds.map((k) => ({
    file: `${k.plural}.yaml`,
    content: '# Generated from src/api by `npm run generate`: do not edit.\n' + render(customResourceDefinition(k)),
  }));
}
