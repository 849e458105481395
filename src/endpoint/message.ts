// From what a caller sent to a message that is safe to hand upstream: strict
// addresses, no control characters in anything that becomes a header (so no
// header injection), extra headers from an allow-list only, size limits.
// The pipeline runs checkMessage for both doors; the HTTP door first turns its
// JSON body into a SubmittedMessage with messageFromBody.
import { addressProblem, CONTROL, CONTROL_PROBLEM, formatMailbox, messageIdProblem, parseMailbox, type AddressRules, type Mailbox } from '../mail/address.ts';
import { invalidRequest, payloadTooLarge } from './errors.ts';
import { DEFAULT_LIMITS, type MessageLimits } from './limits.ts';
import { isBase64, MEDIA_TYPE_PATTERN, type SendMessageBody } from './schema.ts';
import type { SubmittedMessage } from './types.ts';

const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,75}$/;
const MEDIA_TYPE = new RegExp(MEDIA_TYPE_PATTERN);
const CONTENT_ID = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]{1,200}$/;

/** Extra headers callers may set, beside X-*: threading and list management. */
export const ALLOWED_HEADERS: ReadonlySet<string> = new Set([
  'message-id',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-id',
  'list-help',
  'list-subscribe',
  'list-post',
  'list-owner',
  'list-archive',
  'in-reply-to',
  'references',
  'auto-submitted',
  'precedence',
]);

/**
 * X-* headers that are instructions to a relay rather than information for the
 * recipient: SendGrid's X-SMTPAPI can add recipients, SparkPost's X-MSYS-API
 * changes options, and ours are ours. A caller may not smuggle them past the
 * identity's limits.
 */
const RELAY_INSTRUCTIONS = /^x-(smtpapi$|msys-api$|sg-|ses-|mailgun-|pm-|postmaster-)/i;

/** Whether a caller may set this header (case-insensitive). */
export function headerAllowed(name: string): boolean {
  const lower = name.toLowerCase();
  if (ALLOWED_HEADERS.has(lower)) return true;
  return lower.startsWith('x-') && !RELAY_INSTRUCTIONS.test(lower);
}

/** A bare address (a@b.example), strictly; throws InvalidRequest naming the field. */
export function checkAddress(address: string, field: string, rules?: AddressRules): string {
  const problem = addressProblem(address, rules);
  if (problem) throw invalidRequest(field, problem);
  return address;
}

/** A mailbox (`Name <a@b.example>` or bare); throws InvalidRequest naming the field. */
export function checkMailbox(input: string, field: string, rules?: AddressRules): Mailbox {
  const parsed = parseMailbox(input, rules);
  if (parsed.problem !== undefined) throw invalidRequest(field, parsed.problem);
  return parsed.mailbox;
}

export function checkMessageId(value: string, field: string): string {
  const problem = messageIdProblem(value.trim());
  if (problem) throw invalidRequest(field, problem);
  return value.trim();
}

export function checkHeaderValue(value: string, field: string): string {
  if (CONTROL.test(value)) throw invalidRequest(field, CONTROL_PROBLEM);
  return value;
}

/**
 * Validates and normalises a message from either door. Throws InvalidRequest
 * (or PayloadTooLarge) naming the field, in the request's own field names.
 */
export function checkMessage(message: SubmittedMessage, limits: MessageLimits = DEFAULT_LIMITS): SubmittedMessage {
  // UTF-8 local parts only where the client declared SMTPUTF8 (the SMTP door); Reply-To stays ASCII.
  const rules: AddressRules = { utf8LocalPart: message.smtpUtf8 === true };
  const list = (values: string[] | undefined, field: string) => (values ?? []).map((v, i) => formatMailbox(checkMailbox(v, `${field}[${i}]`, rules)));
  const to = list(message.to, 'to');
  const cc = list(message.cc, 'cc');
  const bcc = list(message.bcc, 'bcc');
  const total = to.length + cc.length + bcc.length;
  if (total === 0) throw invalidRequest('to', 'needs at least one recipient');
  if (total > limits.maxRecipients) {
    throw invalidRequest('to', `${total} recipients in to, cc and bcc together; at most ${limits.maxRecipients}`);
  }

  const out: SubmittedMessage = { to, subject: checkHeaderValue(message.subject, 'subject') };
  if (message.subject.length > limits.maxSubjectLength) throw invalidRequest('subject', `is longer than ${limits.maxSubjectLength} characters`);
  if (cc.length) out.cc = cc;
  if (bcc.length) out.bcc = bcc;
  if (message.smtpUtf8) out.smtpUtf8 = true;
  if (message.replyTo !== undefined) out.replyTo = checkAddress(message.replyTo, 'replyTo');

  // A passed-through message (raw) is its bytes: its body is not read into text or html.
  if (!message.text && !message.html && !message.raw) throw invalidRequest('text', 'text or html is required');
  for (const part of ['text', 'html'] as const) {
    const value = message[part];
    if (value === undefined) continue;
    if (value.length > limits.maxContentChars) throw payloadTooLarge(`${part} is longer than ${limits.maxContentChars} characters.`, part);
    out[part] = value;
  }

  if (message.headers) {
    const headers = checkHeaders(message.headers, limits);
    // Message-ID is the caller's to choose (threading, deduplication); it travels as its own field.
    const idName = Object.keys(headers).find((h) => h.toLowerCase() === 'message-id');
    if (idName) {
      out.messageId = checkMessageId(headers[idName]!, `headers.${idName}`);
      delete headers[idName];
    }
    if (Object.keys(headers).length) out.headers = headers;
  }
  if (message.messageId !== undefined) out.messageId = checkMessageId(message.messageId, 'headers.Message-ID');
  if (message.attachments?.length) out.attachments = checkAttachments(message.attachments, limits);
  // The bytes the SMTP door received travel on; the fields above were checked from them.
  if (message.raw) out.raw = message.raw;
  if (message.received !== undefined) out.received = checkHeaderValue(message.received, 'received');
  return out;
}

function checkHeaders(headers: Record<string, string>, limits: MessageLimits): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > limits.maxHeaders) throw invalidRequest('headers', `has more than ${limits.maxHeaders} entries`);
  const seen = new Set<string>();
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const field = `headers.${CONTROL.test(name) ? JSON.stringify(name) : name}`;
    if (!HEADER_NAME.test(name)) throw invalidRequest(field, 'is not a header name (letters, digits and "-")');
    if (!headerAllowed(name)) {
      throw invalidRequest(field, 'is not an allowed header: X-* (not relay instructions), List-*, Message-ID, In-Reply-To, References, Auto-Submitted, Precedence');
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw invalidRequest(field, 'is given twice');
    seen.add(lower);
    if (typeof value !== 'string') throw invalidRequest(field, 'must be a string');
    if (value.length > limits.maxHeaderValueLength) throw invalidRequest(field, `is longer than ${limits.maxHeaderValueLength} characters`);
    out[name] = checkHeaderValue(value, field);
  }
  return out;
}

type Attachment = NonNullable<SubmittedMessage['attachments']>[number];

function checkAttachments(attachments: Attachment[], limits: MessageLimits): Attachment[] {
  if (attachments.length > limits.maxAttachments) throw invalidRequest('attachments', `has more than ${limits.maxAttachments} entries`);
  let bytes = 0;
  return attachments.map((a, i) => {
    const field = `attachments[${i}]`;
    const filename = a.filename;
    if (CONTROL.test(filename)) throw invalidRequest(`${field}.filename`, CONTROL_PROBLEM);
    if (!filename || filename.length > 255 || /[/\\"]/.test(filename) || filename === '.' || filename === '..') {
      throw invalidRequest(`${field}.filename`, 'must be a file name of 1 to 255 characters without /, \\ or "');
    }
    if (!MEDIA_TYPE.test(a.contentType)) throw invalidRequest(`${field}.contentType`, 'must be a MIME type like application/pdf (no parameters)');
    bytes += a.content.length;
    if (bytes > limits.maxAttachmentBytes) {
      throw payloadTooLarge(`Attachments exceed ${limits.maxAttachmentBytes} bytes in all (decoded).`, 'attachments');
    }
    const out: Attachment = { filename, contentType: a.contentType.toLowerCase(), content: a.content };
    if (a.contentId !== undefined) {
      if (!CONTENT_ID.test(a.contentId)) throw invalidRequest(`${field}.contentId`, 'must be an id like logo@example.com (no angle brackets, no spaces)');
      out.contentId = a.contentId;
    }
    if (a.disposition === 'inline' || a.disposition === 'attachment') out.disposition = a.disposition;
    // An inline part is only of use with an id the HTML can name (SendGrid requires one too).
    if (out.disposition === 'inline' && !out.contentId) throw invalidRequest(`${field}.contentId`, 'is required when disposition is inline');
    return out;
  });
}

/** The HTTP body (schema already checked) as a message: base64 decoded, then checkMessage. */
export function messageFromBody(body: SendMessageBody, limits: MessageLimits = DEFAULT_LIMITS): SubmittedMessage {
  const message: SubmittedMessage = { to: body.to, subject: body.subject };
  if (body.cc) message.cc = body.cc;
  if (body.bcc) message.bcc = body.bcc;
  if (body.replyTo !== undefined) message.replyTo = body.replyTo;
  if (body.text !== undefined) message.text = body.text;
  if (body.html !== undefined) message.html = body.html;
  if (body.headers) message.headers = body.headers;
  if (body.attachments?.length) {
    // Count before decoding, so an oversize request costs no buffer.
    let estimate = 0;
    for (const a of body.attachments) estimate += Math.floor((a.content.length * 3) / 4);
    if (estimate > limits.maxAttachmentBytes + 2 * body.attachments.length) {
      throw payloadTooLarge(`Attachments exceed ${limits.maxAttachmentBytes} bytes in all (decoded).`, 'attachments');
    }
    message.attachments = body.attachments.map((a, i) => {
      if (!isBase64(a.content)) throw invalidRequest(`attachments[${i}].content`, 'is not base64 (RFC 4648, padded, no line breaks)');
      return {
        filename: a.filename,
        contentType: a.contentType ?? 'application/octet-stream',
        content: Buffer.from(a.content, 'base64'),
        ...(a.contentId !== undefined ? { contentId: a.contentId } : {}),
        ...(a.disposition !== undefined ? { disposition: a.disposition } : {}),
      };
    });
  }
  return checkMessage(message, limits);
}
