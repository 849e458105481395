// The HTTP door's request and response schemas, in one place: ajv validates
// requests against them and openapi.ts publishes them. The schemas check shape
// (types, required fields, counts); message.ts checks content (address syntax,
// control characters, the header allow-list, base64) and names the field.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { CONTROL, CONTROL_PROBLEM, INTERNATIONALIZED_PROBLEM, parseMailbox } from '../mail/address.ts';
import { ErrorCode, invalidRequest, payloadTooLarge, type EndpointError } from './errors.ts';
import { DEFAULT_LIMITS } from './limits.ts';

/** The body of POST /v1/messages, once it passed the schema. */
export interface SendMessageBody {
  sender: string;
  to: string[];
  cc?: string[];
  bcc?: string[];
  replyTo?: string;
  subject: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  attachments?: { filename: string; contentType?: string; content: string; contentId?: string; disposition?: 'attachment' | 'inline' }[];
}

export interface SendMessageResponse {
  id: string;
  messageId: string;
  server: { namespace: string; name: string };
  provider: 'SMTP' | 'SendGrid' | 'SparkPost' | 'MicrosoftGraph';
  route: 'primary' | 'fallback';
  messageIdHeader?: string;
  response?: string;
}

// The address syntax message.ts enforces, published so generated clients and fuzzers know it
// (lengths as negative lookaheads: generators such as Hypothesis can draw those, not positive ones):
// an RFC 5322 dot-atom local part of at most 64 characters, an LDH domain with a dot, ASCII only, at most
// 254 characters in all; a mailbox may carry a display name.
const ADDR = "(?![^@]{65})(?![^<> ]{255})[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+";
export const BARE_ADDRESS_PATTERN = `^${ADDR}$`;
// A display name (at most 128 characters) has no control characters, no <, >, " or \\, and may be in double
// quotes, where a backslash escapes the character after it (one that is allowed anyway).
const CONTROLS = '\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029';
// Around a mailbox and its name, the white space JavaScript's trim() takes (control characters are refused anyway).
const SPACES = ' \\u00A0\\u1680\\u2000-\\u200A\\u202F\\u205F\\u3000\\uFEFF';
const WS = `[${SPACES}]*`;
// Unquoted, a name starts and ends with a non-space, so no run of spaces can be read two ways (which costs
// O(n^3) steps on a field of spaces: 66 ms for 320 of them).
const NAME_CHAR = `[^<>"\\\\${CONTROLS}]`;
const NAME_EDGE = `[^${SPACES}<>"\\\\${CONTROLS}]`;
const NAME = `(?:(?:${NAME_EDGE}(?:${NAME_CHAR}{0,126}${NAME_EDGE})?${WS})?|"(?:${NAME_CHAR}|\\\\${NAME_CHAR}){0,128}"${WS})`;
export const MAILBOX_PATTERN = `^${WS}(?:${ADDR}|${NAME}<${ADDR}>)${WS}$`;
/** A header value, the subject, a file name: no control characters (header injection lives there). */
const NO_CONTROLS = `^[^${CONTROLS}]*$`;
/** Either case of each letter: JSON Schema patterns have no flags, and header names are case-insensitive. */
const anyCase = (name: string) => name.replace(/[a-z]/gi, (c) => `[${c.toUpperCase()}${c.toLowerCase()}]`);
// The header names message.ts allows (ALLOWED_HEADERS, and X-* but relay instructions), as one pattern.
const LISTED = ['Message-ID', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'List-Id', 'List-Help', 'List-Subscribe', 'List-Post',
  'List-Owner', 'List-Archive', 'In-Reply-To', 'References', 'Auto-Submitted', 'Precedence'];
const RELAY = `(?:${['SMTPAPI', 'MSYS-API'].map(anyCase).join('|')})$|(?:${['SG', 'SES', 'MAILGUN', 'PM', 'POSTMASTER'].map(anyCase).join('|')})-`;
export const HEADER_NAME_PATTERN = `^(?:${LISTED.map(anyCase).join('|')}|[Xx]-(?!${RELAY})[A-Za-z0-9-]{0,74})$`;
/** Message-ID as message.ts takes it: <left@right>, printable, one @, at most 250 characters. */
const MSGID_CHAR = '[\\x21-\\x3b\\x3d\\x3f\\x41-\\x7e]';
const MESSAGE_ID_PATTERN = `^${WS}(?![^${SPACES}]{251})<${MSGID_CHAR}+@${MSGID_CHAR}+>${WS}$`;
/** RFC 6838 type/subtype without parameters (a charset or name parameter would be ours to set). */
export const MEDIA_TYPE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$';
/**
 * Base64 as RFC 4648 writes it (padded, no line breaks). A regular expression with a repeated
 * group ((?:[A-Za-z0-9+/]{4})*) overflows V8's backtracking stack on a few MiB, and attachments
 * may be 13 MiB of it: a plain character class, one MiB slice at a time, stays linear and small.
 * The schema publishes it as format "byte" (OpenAPI's base64).
 */
const BASE64_CHARS = /^[A-Za-z0-9+/]*$/;
const BASE64_SLICE = 1 << 20;
export function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  const end = s.endsWith('==') ? s.length - 2 : s.endsWith('=') ? s.length - 1 : s.length;
  for (let i = 0; i < end; i += BASE64_SLICE) if (!BASE64_CHARS.test(s.slice(i, Math.min(end, i + BASE64_SLICE)))) return false;
  return true;
}

const address = (description: string, pattern = MAILBOX_PATTERN) => ({ type: 'string', minLength: 3, maxLength: 320, pattern, description }) as const;
const addressList = (description: string) =>
  ({ type: 'array', items: address('"a@example.com" or "Name <a@example.com>" (no CR or LF; non-ASCII addresses are refused).'), maxItems: DEFAULT_LIMITS.maxRecipients, description: `${description} At most ${DEFAULT_LIMITS.maxRecipients} in to, cc and bcc together.` }) as const;

export const sendMessageRequestSchema = {
  $id: 'SendMessageRequest',
  title: 'SendMessageRequest',
  type: 'object',
  additionalProperties: false,
  required: ['sender', 'to', 'subject'],
  // text, html or both, not empty (message.ts refuses a message with neither): published, so clients know.
  anyOf: [
    { required: ['text'], properties: { text: { type: 'string', minLength: 1 } } },
    { required: ['html'], properties: { html: { type: 'string', minLength: 1 } } },
  ],
  description:
    'A message to send as a SenderIdentity. From (header and envelope) is always the identity\'s displayName <email>. ' +
    'No field may contain CR, LF or other control characters (text and html excepted).',
  properties: {
    sender: {
      type: 'string',
      minLength: 1,
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
      description: "Name of a SenderIdentity in the caller's namespace.",
    },
    to: { ...addressList('Recipients shown in the To header.'), minItems: 1 },
    cc: addressList('Recipients shown in the Cc header.'),
    bcc: addressList('Recipients that receive the message without appearing in any header.'),
    replyTo: {
      ...address('Reply-To address (a bare address). Default: the identity\'s replyTo, else the server\'s.', BARE_ADDRESS_PATTERN),
      maxLength: 254,
    },
    subject: { type: 'string', minLength: 1, maxLength: DEFAULT_LIMITS.maxSubjectLength, pattern: NO_CONTROLS, description: 'One line.' },
    text: { type: 'string', maxLength: DEFAULT_LIMITS.maxContentChars, description: 'Plain-text body. text, html or both.' },
    html: { type: 'string', maxLength: DEFAULT_LIMITS.maxContentChars, description: 'HTML body. text, html or both.' },
    headers: {
      type: 'object',
      maxProperties: DEFAULT_LIMITS.maxHeaders,
      propertyNames: { pattern: HEADER_NAME_PATTERN },
      patternProperties: { [`^${anyCase('Message-ID')}$`]: { type: 'string', pattern: MESSAGE_ID_PATTERN } },
      additionalProperties: { type: 'string', maxLength: DEFAULT_LIMITS.maxHeaderValueLength, pattern: NO_CONTROLS },
      description:
        'Extra header fields from an allow-list: X-* (except relay instructions such as X-SMTPAPI and X-MSYS-API), ' +
        'List-Unsubscribe, List-Unsubscribe-Post, List-Id, In-Reply-To, References, Auto-Submitted, Precedence, ' +
        'and Message-ID (<unique@example.com>; kept as given, so threading and deduplication work). ' +
        'Never From, Sender, Return-Path, To, Cc, Bcc, Subject, Date, MIME-Version, Content-* or DKIM-*. ' +
        'Names are case-insensitive: the same name twice (in any case) is refused.',
    },
    attachments: {
      type: 'array',
      maxItems: DEFAULT_LIMITS.maxAttachments,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filename', 'content'],
        // An inline part is only of use with an id the HTML can name (message.ts refuses one without).
        if: { required: ['disposition'], properties: { disposition: { const: 'inline' } } },
        then: { required: ['contentId'], properties: { contentId: { type: 'string' } } },
        properties: {
          filename: {
            type: 'string',
            minLength: 1,
            maxLength: 255,
            pattern: `^(?!\\.\\.?$)[^/\\\\"${CONTROLS}]+$`,
            description: 'A file name, no path: no /, \\, " or control characters, not . or ..',
          },
          contentType: {
            type: 'string',
            maxLength: 255,
            pattern: MEDIA_TYPE_PATTERN,
            description: 'MIME type without parameters, e.g. application/pdf. Default application/octet-stream.',
          },
          content: { type: 'string', format: 'byte', contentEncoding: 'base64', description: 'The bytes, base64 (RFC 4648, no line breaks).' },
          contentId: {
            type: 'string',
            minLength: 1,
            maxLength: 200,
            pattern: '^[A-Za-z0-9!#$%&\'*+/=?^_`{|}~.@-]+$',
            description: 'Content-ID without angle brackets, e.g. logo@example.com: the HTML shows it with <img src="cid:logo@example.com">.',
          },
          disposition: {
            enum: ['attachment', 'inline'],
            description: 'inline: shown in the message body (with contentId), not offered as a file. Default attachment.',
          },
        },
      },
      description: `At most ${DEFAULT_LIMITS.maxAttachments} files, ${DEFAULT_LIMITS.maxAttachmentBytes / 1024 / 1024} MiB decoded in all.`,
    },
  },
} as const;

export const sendMessageResponseSchema = {
  $id: 'SendMessageResponse',
  title: 'SendMessageResponse',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'messageId', 'server', 'provider', 'route'],
  description: 'The upstream accepted the message.',
  properties: {
    id: { type: 'string', format: 'uuid', description: "postmaster's id of this delivery (in its logs)." },
    messageId: { type: 'string', description: 'The id the upstream gave the message (SMTP queue id, X-Message-Id, transmission id).' },
    server: {
      type: 'object',
      additionalProperties: false,
      required: ['namespace', 'name'],
      properties: { namespace: { type: 'string' }, name: { type: 'string' } },
      description: 'The EmailServer that delivered it.',
    },
    provider: { enum: ['SMTP', 'SendGrid', 'SparkPost', 'MicrosoftGraph'], description: 'How it left.' },
    route: { enum: ['primary', 'fallback'], description: "fallback: the server's provider API could not take it, its fallback SmtpTarget did." },
    messageIdHeader: {
      type: 'string',
      description:
        'The Message-ID header the message went out with: the one given in headers, else one postmaster chose ' +
        '(the same for every retry with the same Idempotency-Key). SMTP and SendGrid routes; SparkPost sets its own.',
    },
    response: { type: 'string', description: 'What the upstream answered, e.g. "250 2.0.0 Ok: queued as ABC".' },
  },
} as const;

export const errorResponseSchema = {
  $id: 'Error',
  title: 'Error',
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: {
        code: {
          type: 'string',
          enum: Object.values(ErrorCode),
          description:
            'Stable code. 4xx: the caller\'s to fix, nothing was sent (INVALID_REQUEST names the field; PAYLOAD_TOO_LARGE; ' +
            'UNAUTHENTICATED; FORBIDDEN: no RBAC verb send; IDENTITY_NOT_FOUND/NOT_READY; IDEMPOTENCY_KEY_REUSED; RATE_LIMITED with Retry-After; ' +
            'UPSTREAM_REJECTED: the upstream refused it for good). 5xx: UPSTREAM_UNAVAILABLE and AUTH_UNAVAILABLE (nothing was sent, retry), ' +
            'UPSTREAM_OUTCOME_UNKNOWN (it may have been delivered; a retry with the same Idempotency-Key keeps the Message-ID).',
        },
        message: { type: 'string', description: 'What went wrong and what to do, for people.' },
        field: { type: 'string', description: 'The request field at fault, e.g. to[1] or headers.X-Foo.' },
        reason: { type: 'string', description: "For POSTMASTER_IDENTITY_NOT_READY: the identity's Ready reason." },
      },
    },
  },
} as const;

const ajv = new Ajv2020({ allErrors: false, strict: true, verbose: true, coerceTypes: false, useDefaults: false });
addFormats.default(ajv, ['uuid']);
// contentEncoding is an annotation in JSON Schema 2020-12; format "byte" is what asserts (and what fuzzers read).
ajv.addFormat('byte', { type: 'string', validate: isBase64 });
const validateRequest = ajv.compile<SendMessageBody>(sendMessageRequestSchema);
const { anyOf: _textOrHtml, ...fieldsOnly } = sendMessageRequestSchema;
const validateFields = ajv.compile({ ...fieldsOnly, $id: 'SendMessageRequestFields' });
/** For tests: responses must match what the document promises. */
export const validateResponse = ajv.compile<SendMessageResponse>(sendMessageResponseSchema);
export const validateErrorResponse = ajv.compile(errorResponseSchema);

/** Checks a parsed JSON body against the request schema; the error names the first field at fault. */
export function checkRequestShape(body: unknown): SendMessageBody {
  if (validateRequest(body)) {
    const field = lonelySurrogate(body, '');
    if (field) throw invalidRequest(field, 'is not valid Unicode (a lone UTF-16 surrogate)');
    return body;
  }
  const errors = validateRequest.errors ?? [];
  // ajv checks the anyOf (text or html) before the fields; the fields' own errors say more, so they go first.
  if (errors[0]?.schemaPath.startsWith('#/anyOf/')) {
    if (!validateFields(body)) throw toInvalidRequest(validateFields.errors?.[0]);
    throw invalidRequest('text', 'text or html is required (a non-empty string)');
  }
  throw toInvalidRequest(errors[0]);
}

/** The field holding a lone surrogate (JSON's "\ud800"), which no UTF-8 can carry; the body passed the schema, so it is shallow. */
function lonelySurrogate(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.isWellFormed() ? undefined : path || '(body)';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = lonelySurrogate(value[i], `${path}[${i}]`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      const field = path ? `${path}.${key.isWellFormed() ? key : JSON.stringify(key)}` : key;
      if (!key.isWellFormed()) return field;
      const found = lonelySurrogate(v, field);
      if (found) return found;
    }
  }
  return undefined;
}

/** "/to/1" → "to[1]", "/headers/X-Foo" → "headers.X-Foo". */
export function fieldName(instancePath: string, property?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (property !== undefined) parts.push(property);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out || '(body)';
}

function toInvalidRequest(e: ErrorObject | undefined): EndpointError {
  if (!e) return invalidRequest('(body)', 'does not match the request schema');
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return invalidRequest(fieldName(e.instancePath, String(params.missingProperty)), 'is required');
    case 'additionalProperties':
      return invalidRequest(fieldName(e.instancePath, String(params.additionalProperty)), 'is not a known field');
    case 'type':
      return invalidRequest(fieldName(e.instancePath), `must be ${e.instancePath ? 'a' : 'a JSON'} ${String(params.type)}`);
    case 'maxItems':
      return invalidRequest(fieldName(e.instancePath), `has more than ${String(params.limit)} entries`);
    case 'minItems':
      return invalidRequest(fieldName(e.instancePath), `needs at least ${String(params.limit)} entr${params.limit === 1 ? 'y' : 'ies'}`);
    case 'maxLength': {
      const field = fieldName(e.instancePath);
      // Content over its size limit is a payload too large, as on the SMTP door, not a malformed request.
      if (/^(text|html|attachments\[\d+\]\.content)$/.test(field)) return payloadTooLarge(`${field} is longer than ${String(params.limit)} characters.`, field);
      return invalidRequest(field, `is longer than ${String(params.limit)} characters`);
    }
    case 'format':
      return invalidRequest(fieldName(e.instancePath), 'is not base64 (RFC 4648, padded, no line breaks)');
    case 'minLength':
      // Addresses have a minimum of 3 ("a@b"): "x" is not empty, it is too short.
      return invalidRequest(fieldName(e.instancePath), params.limit === 1 ? 'must not be empty' : `is shorter than ${String(params.limit)} characters`);
    case 'maxProperties':
      return invalidRequest(fieldName(e.instancePath), `has more than ${String(params.limit)} entries`);
    case 'pattern': {
      if (e.propertyName !== undefined) {
        const name = e.propertyName;
        return invalidRequest(
          `headers.${CONTROL.test(name) ? JSON.stringify(name) : name}`,
          'is not an allowed header: X-* (not relay instructions), List-*, Message-ID, In-Reply-To, References, Auto-Submitted, Precedence',
        );
      }
      const field = fieldName(e.instancePath);
      if (field === 'subject' || field.startsWith('headers.')) {
        return invalidRequest(field, /^headers\.message-id$/i.test(field) ? 'must be a message id like <unique@example.com>' : CONTROL_PROBLEM);
      }
      if (/^attachments\[\d+\]\.filename$/.test(field)) {
        return invalidRequest(field, CONTROL.test(String(e.data)) ? CONTROL_PROBLEM : 'must be a file name of 1 to 255 characters without /, \\ or "');
      }
      if (/^attachments\[\d+\]\.contentType$/.test(field)) return invalidRequest(field, 'must be a MIME type like application/pdf (no parameters)');
      if (field === 'sender') return invalidRequest(field, 'must be a Kubernetes object name (lower case letters, digits, "-" and ".")');
      if (/^attachments\[\d+\]\.contentId$/.test(field)) return invalidRequest(field, 'must be an id like logo@example.com (no angle brackets, no spaces)');
      // An internationalized address is an address, only not one this door carries: say where it can go.
      if (parseMailbox(String(e.data)).problem === INTERNATIONALIZED_PROBLEM) return invalidRequest(field, INTERNATIONALIZED_PROBLEM);
      return invalidRequest(field, field === 'replyTo' ? 'is not an email address (a bare a@example.com)' : 'is not an email address ("a@example.com" or "Name <a@example.com>")');
    }
    default:
      return invalidRequest(fieldName(e.instancePath), e.message ?? 'is not valid');
  }
}
