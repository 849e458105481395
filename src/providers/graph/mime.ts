// The message as Microsoft Graph's sendMail takes it in MIME form: RFC 5322
// text, base64-encoded, posted as text/plain. Headers, inline parts and the
// Message-ID survive as they are; Graph reads the recipients from To, Cc and
// Bcc (and removes Bcc before delivery), so Bcc stays in this copy. A message a
// door received whole goes as it is, with a Bcc field naming the envelope
// recipients its headers do not.
import MailComposer from 'nodemailer/lib/mail-composer';
import { composeOptions } from '../compose.ts';
import { rawBytes, rawParts, type OutboundMessage } from '../types.ts';

export async function mimeOf(message: OutboundMessage): Promise<Buffer> {
  if (message.raw) {
    return message.bcc?.length ? Buffer.concat([Buffer.from(`Bcc: ${message.bcc.join(', ')}\r\n`), ...rawParts(message.raw)]) : rawBytes(message.raw);
  }
  const composer = new MailComposer(composeOptions(message, { bccHeader: true }));
  const node = composer.compile();
  node.keepBcc = true;
  return node.build();
}
