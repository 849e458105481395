// What a relay may change in a message it carries, and nothing more (RFC 5321
// section 4.4, RFC 6409 section 8): From set to the identity, Sender and Bcc and
// Return-Path removed, Reply-To, Message-ID and Date added only when absent, and
// one Received trace field on top. Every other byte, the MIME structure, inline
// parts, encodings and the client's own trace fields, goes out as it came in.
import { field, messageParts, splitMessage, type HeaderField } from '../mail/header-section.ts';

export interface RelayPolicy {
  from: { name?: string; address: string };
  /** Added when the message has no Reply-To. */
  replyTo?: string;
  /** Added when the message has no Message-ID. */
  messageId: string;
  /** The value of our Received field. */
  received: string;
  now: Date;
}

const REMOVED = new Set(['from', 'sender', 'bcc', 'return-path']);

/**
 * The relayed message in parts: the edited header section, then the client's body.
 * The parts are views of `raw` where they are the client's bytes, so the message is
 * held once however large it is.
 */
export function relayedMessage(raw: Buffer, policy: RelayPolicy): Buffer[] {
  const message = splitMessage(raw);
  const has = (key: string) => message.fields.some((f) => f.key === key);
  const fromAt = message.fields.findIndex((f) => f.key === 'from');
  const fields: HeaderField[] = [field('Received', policy.received)];
  const from = field('From', formatFrom(policy.from));
  if (fromAt < 0) fields.push(from);
  message.fields.forEach((f, i) => {
    if (i === fromAt) fields.push(from); // the identity's From where the client's stood
    else if (!REMOVED.has(f.key)) fields.push(f);
  });
  if (!has('reply-to') && policy.replyTo) fields.push(field('Reply-To', policy.replyTo));
  if (!has('message-id')) fields.push(field('Message-ID', policy.messageId));
  if (!has('date')) fields.push(field('Date', rfc5322Date(policy.now)));
  return messageParts({ fields, rest: message.rest });
}

/** `Name <a@b>`: atoms as they are, other ASCII quoted, anything else an RFC 2047 encoded word. */
export function formatFrom(from: { name?: string; address: string }): string {
  if (!from.name) return from.address;
  const name = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(from.name)
    ? from.name
    : /^[\x20-\x7e]*$/.test(from.name)
      ? `"${from.name.replace(/(["\\])/g, '\\$1')}"`
      : `=?UTF-8?B?${Buffer.from(from.name, 'utf8').toString('base64')}?=`;
  return `${name} <${from.address}>`;
}

/** "Tue, 01 Dec 2026 09:45:32 +0000". */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}
