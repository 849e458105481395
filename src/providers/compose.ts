// A message's fields as nodemailer composes them: the one mapping the SMTP
// transport and the Graph provider (which sends the MIME form) share.
import type { SendMailOptions } from 'nodemailer';
import type { OutboundMessage } from './types.ts';

/** Everything but the envelope. `bcc` goes into the headers only when asked (Graph routes by it, then removes it). */
export function composeOptions(message: OutboundMessage, opts: { bccHeader?: boolean } = {}): SendMailOptions {
  const { from } = message;
  return {
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
