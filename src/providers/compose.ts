// A message's fields as nodemailer composes them: the one mapping the SMTP
// transport and the Graph provider (which sends the MIME form) share.
import { randomUUID } from 'node:crypto';
import type { SendMailOptions } from 'nodemailer';
import MimeNode from 'nodemailer/lib/mime-node';
import type { OutboundMessage } from './types.ts';

// MimeNode normalizes a header name on every get and set of it, with four regular
// expressions: 3% of the HTTP door's time per message. It is a pure function of
// the name and the names repeat, so each answer is kept (a bounded number of them).
const proto = MimeNode.prototype as unknown as { _normalizeHeaderKey(key: unknown): string };
const mimeNodeNormalize = proto._normalizeHeaderKey;
const normalizedKeys = new Map<string, string>();

/** A header name in the case MimeNode gives it (Message-ID, X-Ticket-ID), remembered. */
export function normalizeHeaderKey(key: string): string {
  let normalized = normalizedKeys.get(key);
  if (normalized === undefined) {
    normalized = mimeNodeNormalize.call(undefined, key);
    if (normalizedKeys.size < 1024) normalizedKeys.set(key, normalized);
  }
  return normalized;
}
proto._normalizeHeaderKey = function (this: unknown, key: unknown): string {
  return typeof key === 'string' ? normalizeHeaderKey(key) : mimeNodeNormalize.call(this, key);
};

/** The random part of a message's MIME boundaries: a UUID's bits come from a pooled draw, unlike randomBytes per message. */
export const boundaryBase = (): string => randomUUID().replace(/-/g, '');

/** Everything but the envelope. `bcc` goes into the headers only when asked (Graph routes by it, then removes it). */
export function composeOptions(message: OutboundMessage, opts: { bccHeader?: boolean } = {}): SendMailOptions & { baseBoundary: string } {
  const { from } = message;
  return {
    // nodemailer would draw the MIME boundary with randomBytes for each message (2% of the HTTP door's time).
    baseBoundary: boundaryBase(),
    from: from.name ? { name: from.name, address: from.address } : from.address,
    ...(message.messageId ? { messageId: message.messageId } : {}),
    ...(message.replyTo ? { replyTo: message.replyTo } : {}),
    to: message.to,
    ...(message.cc?.length ? { cc: message.cc } : {}),
    ...(opts.bccHeader && message.bcc?.length ? { bcc: message.bcc } : {}),
    subject: message.subject,
    ...(message.text !== undefined ? { text: message.text } : {}),
    ...(message.html !== undefined ? { html: message.html } : {}),
    ...(message.headers ? { headers: message.headers } : {}),
    ...(message.attachments?.length
      ? {
          attachments: message.attachments.map((a) => ({
            filename: a.filename,
            contentType: a.contentType,
            content: a.content,
            // nodemailer puts inline parts with a cid into multipart/related beside the HTML.
            ...(a.contentId ? { cid: a.contentId } : {}),
            ...(a.disposition ? { contentDisposition: a.disposition } : {}),
          })),
        }
      : {}),
    // Message parts are buffers from the caller: never let one name a file or URL to read.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}
