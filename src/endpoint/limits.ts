// What one message may hold, in one place: the request schema publishes these
// figures and the message checks enforce them.
export interface MessageLimits {
  /** To, Cc and Bcc together. */
  maxRecipients: number;
  maxAttachments: number;
  /** All attachments together, decoded. */
  maxAttachmentBytes: number;
  maxHeaders: number;
  maxHeaderValueLength: number;
  maxSubjectLength: number;
  /** Each of text and html, in characters. */
  maxContentChars: number;
}

export const DEFAULT_LIMITS: Readonly<MessageLimits> = Object.freeze({
  maxRecipients: 100,
  maxAttachments: 20,
  maxAttachmentBytes: 10 * 1024 * 1024,
  maxHeaders: 32,
  maxHeaderValueLength: 900,
  maxSubjectLength: 998,
  maxContentChars: 5 * 1024 * 1024,
});
