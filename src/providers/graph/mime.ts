// The message as Microsoft Graph's sendMail takes it in MIME form: RFC 5322
// text, base64-encoded, posted as text/plain. Headers, inline parts and the
// Message-ID survive as they are; Graph reads the recipients from To, Cc and
// Bcc (and removes Bcc before delivery), so Bcc stays in this copy.
import MailComposer from 'nodemailer/lib/mail-composer';
import type { OutboundMessage } from '../types.ts';

export async function mimeOf(message: OutboundMessage): Promise<Buffer> {
  const { from } = message;
  const composer = new MailComposer({
    from: from.name ? { name: from.name, address: from.address } : from.address,
    ...(message.messageId ? { messageId: message.messageId } : {}),
    ...(message.replyTo ? { replyTo: message.replyTo } : {}),
    to: message.to,
    ...(message.cc?.length ? { cc: message.cc } : {}),
    ...(message.bcc?.length ? { bcc: message.bcc } : {}),
    subject: message.subject,
    ...(message.text !== undefined ? { text: message.text } : {}),
    ...(message.html !== undefined ? { html: message.html } : {}),
    ...(message.headers ? { headers: message.headers } : {}),
    ...(message.attachments?.length
      ? {
          attachments: message.attachments.map((a) => {
            // Inline parts (an image the HTML names as cid:...) stay inline, when the message says so.
            const part = a as { contentId?: string; disposition?: 'attachment' | 'inline' };
            return {
              filename: a.filename,
              contentType: a.contentType,
              content: a.content,
              ...(part.contentId ? { cid: part.contentId } : {}),
              ...(part.disposition ? { contentDisposition: part.disposition } : {}),
            };
          }),
        }
      : {}),
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const node = composer.compile();
  node.keepBcc = true;
  return node.build();
}
