// A submitted message as JSON for the store: bytes (the passed-through message,
// attachment contents) as base64, everything else as it is.
import type { SubmittedMessage } from './types.ts';

type Attachment = NonNullable<SubmittedMessage['attachments']>[number];

export type StoredMessage = Omit<SubmittedMessage, 'raw' | 'attachments'> & {
  raw?: string;
  attachments?: (Omit<Attachment, 'content'> & { content: string })[];
};

export function encodeMessage(m: SubmittedMessage): StoredMessage {
  const { raw, attachments, ...fields } = m;
  const out: StoredMessage = { ...fields };
  if (raw) out.raw = raw.toString('base64');
  if (attachments) out.attachments = attachments.map((a) => ({ ...a, content: a.content.toString('base64') }));
  return out;
}

export function decodeMessage(s: StoredMessage): SubmittedMessage {
  const { raw, attachments, ...fields } = s;
  const out: SubmittedMessage = { ...fields };
  if (raw !== undefined) out.raw = Buffer.from(raw, 'base64');
  if (attachments) out.attachments = attachments.map((a) => ({ ...a, content: Buffer.from(a.content, 'base64') }));
  return out;
}
