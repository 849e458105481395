// The HTTP door's request and response schemas, in one place: ajv validates
// requests against them and openapi.ts publishes them. The schemas check shape
// (types, required fields, counts); message.ts checks content (address syntax,
// control characters, the header allow-list, base64) and names the field.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
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

// The address syntax message.ts enforces, published so generated clients and fuzzers know it:
// an RFC 5322 dot-atom local part, an LDH domain with a dot, ASCII only; a mailbox may carry a display name.
const ADDR = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+";
export const BARE_ADDRESS_PATTERN = `^${ADDR}$`;
export const MAILBOX_PATTERN = `^ *(?:${ADDR}|[^<>\\r\\n]*<${ADDR}>) *$`;
const address = (description: string, pattern = MAILBOX_PATTERN) => ({ type: 'string', minLength: 3, maxLength: 320, pattern, description }) as const;
const addressList = (description: string) =>
  ({ type: 'array', items: address('"a@example.com" or "Name <a@example.com>" (no CR or LF; non-ASCII addresses are refused).'), maxItems: DEFAULT_LIMITS.maxRecipients, description }) as const;

export const sendMessageRequestSchema = {
  $id: 'SendMessageRequest',
  title: 'SendMessageRequest',
  type: 'object',
  additionalProperties: false,
  required: ['sender', 'to', 'subject'],
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
    subject: { type: 'string', minLength: 1, maxLength: DEFAULT_LIMITS.maxSubjectLength, description: 'One line.' },
    text: { type: 'string', maxLength: DEFAULT_LIMITS.maxContentChars, description: 'Plain-text body. text, html or both.' },
    html: { type: 'string', maxLength: DEFAULT_LIMITS.maxContentChars, description: 'HTML body. text, html or both.' },
    headers: {
      type: 'object',
      maxProperties: DEFAULT_LIMITS.maxHeaders,
      additionalProperties: { type: 'string', maxLength: DEFAULT_LIMITS.maxHeaderValueLength },
      description:
        'Extra header fields from an allow-list: X-* (except relay instructions such as X-SMTPAPI and X-MSYS-API), ' +
        'List-Unsubscribe, List-Unsubscribe-Post, List-Id, In-Reply-To, References, Auto-Submitted, Precedence, ' +
        'and Message-ID (<unique@example.com>; kept as given, so threading and deduplication work). ' +
        'Never From, Sender, Return-Path, To, Cc, Bcc, Subject, Date, MIME-Version, Content-* or DKIM-*.',
    },
    attachments: {
      type: 'array',
      maxItems: DEFAULT_LIMITS.maxAttachments,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filename', 'content'],
        properties: {
          filename: { type: 'string', minLength: 1, maxLength: 255, description: 'A file name, no path.' },
          contentType: {
            type: 'string',
            maxLength: 255,
            description: 'MIME type without parameters, e.g. application/pdf. Default application/octet-stream.',
          },
          content: { type: 'string', contentEncoding: 'base64', description: 'The bytes, base64 (RFC 4648, no line breaks).' },
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

const ajv = new Ajv2020({ allErrors: false, strict: true, coerceTypes: false, useDefaults: false });
addFormats.default(ajv, ['uuid']);
// contentEncoding is an annotation here: message.ts decodes and checks the base64 itself.
const validateRequest = ajv.compile<SendMessageBody>(sendMessageRequestSchema);
/** For tests: responses must match what the document promises. */
export const validateResponse = ajv.compile<SendMessageResponse>(sendMessageResponseSchema);
export const validateErrorResponse = ajv.compile(errorResponseSchema);

/** Checks a parsed JSON body against the request schema; the error names the first field at fault. */
export function checkRequestShape(body: unknown): SendMessageBody {
  if (validateRequest(body)) return body;
  throw toInvalidRequest(validateRequest.errors?.[0]);
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
    case 'minLength':
      return invalidRequest(fieldName(e.instancePath), 'must not be empty');
    case 'maxProperties':
      return invalidRequest(fieldName(e.instancePath), `has more than ${String(params.limit)} entries`);
    case 'pattern': {
      const field = fieldName(e.instancePath);
      if (field === 'sender') return invalidRequest(field, 'must be a Kubernetes object name (lower case letters, digits, "-" and ".")');
      if (/^attachments\[\d+\]\.contentId$/.test(field)) return invalidRequest(field, 'must be an id like logo@example.com (no angle brackets, no spaces)');
      return invalidRequest(field, field === 'replyTo' ? 'is not an email address (a bare a@example.com)' : 'is not an email address ("a@example.com" or "Name <a@example.com>")');
    }
    default:
      return invalidRequest(fieldName(e.instancePath), e.message ?? 'is not valid');
  }
}
