// The request schema's refusals as a caller reads them: for every kind of
// violation, the status, the field (in the request's own notation) and the
// words; and the helpers behind them (field names, base64, lone surrogates).
import { describe, expect, it } from 'vitest';
import { checkRequestShape, fieldName, isBase64 } from '../../../src/endpoint/schema.ts';

type Body = Record<string, unknown>;
const base = (): Body => ({ sender: 'alerts', to: ['ann@example.org'], subject: 'hi', text: 'body' });

function refusal(body: unknown): { status: number; field?: string; message: string } | undefined {
  try {
    checkRequestShape(body);
    return undefined;
  } catch (e) {
    const err = e as { statusCode: number; field?: string; message: string };
    return { status: err.statusCode, ...(err.field !== undefined ? { field: err.field } : {}), message: err.message };
  }
}
const bad = (field: string, message: string) => ({ status: 400, field, message: `${field}: ${message}` });
const ADDRESS = 'is not an email address ("a@example.com" or "Name <a@example.com>")';

describe('checkRequestShape', () => {
  it('passes a valid body as it is', () => {
    const body = { ...base(), headers: { 'X-A': '1' }, attachments: [{ filename: 'a', content: 'AA==' }] };
    expect(checkRequestShape(body)).toBe(body);
  });

  it.each<[string, unknown, ReturnType<typeof bad>]>([
    ['not an object', [], bad('(body)', 'must be a JSON object')],
    ['a string', 'x', bad('(body)', 'must be a JSON object')],
    ['missing sender', { to: ['a@example.org'], subject: 's', text: 't' }, bad('sender', 'is required')],
    ['unknown field', { ...base(), from: 'x@example.org' }, bad('from', 'is not a known field')],
    ['unknown attachment field', { ...base(), attachments: [{ filename: 'a', content: '', size: 1 }] }, bad('attachments[0].size', 'is not a known field')],
    ['missing attachment content', { ...base(), attachments: [{ filename: 'a' }] }, bad('attachments[0].content', 'is required')],
    ['to not an array', { ...base(), to: 'a@example.org' }, bad('to', 'must be a array')],
    ['subject a number', { ...base(), subject: 1 }, bad('subject', 'must be a string')],
    ['101 recipients', { ...base(), to: Array.from({ length: 101 }, (_, i) => `r${i}@example.org`) }, bad('to', 'has more than 100 entries')],
    ['no recipients', { ...base(), to: [] }, bad('to', 'needs at least 1 entry')],
    ['sender too long', { ...base(), sender: 'a'.repeat(254) }, bad('sender', 'is longer than 253 characters')],
    ['empty subject', { ...base(), subject: '' }, bad('subject', 'must not be empty')],
    ['33 headers', { ...base(), headers: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-H${i}`, 'v'])) }, bad('headers', 'has more than 32 entries')],
    ['header not allowed', { ...base(), headers: { From: 'x' } }, bad('headers.From', 'is not an allowed header: X-* (not relay instructions), List-*, Message-ID, In-Reply-To, References, Auto-Submitted, Precedence')],
    ['header name with a control character', { ...base(), headers: { 'X-A\r\n': 'x' } }, bad('headers."X-A\\r\\n"', 'is not an allowed header: X-* (not relay instructions), List-*, Message-ID, In-Reply-To, References, Auto-Submitted, Precedence')],
    ['header value with a control character', { ...base(), headers: { 'X-A': 'a\nb' } }, bad('headers.X-A', 'must not contain control characters (CR, LF, ...)')],
    ['Message-ID malformed', { ...base(), headers: { 'Message-Id': 'nope' } }, bad('headers.Message-Id', 'must be a message id like <unique@example.com>')],
    ['subject with a control character', { ...base(), subject: 'a\rb' }, bad('subject', 'must not contain control characters (CR, LF, ...)')],
    ['filename with a path', { ...base(), attachments: [{ filename: 'a/b', content: '' }] }, bad('attachments[0].filename', 'must be a file name of 1 to 255 characters without /, \\ or "')],
    ['filename ..', { ...base(), attachments: [{ filename: '..', content: '' }] }, bad('attachments[0].filename', 'must be a file name of 1 to 255 characters without /, \\ or "')],
    ['filename with a control character', { ...base(), attachments: [{ filename: 'a\u0001', content: '' }] }, bad('attachments[0].filename', 'must not contain control characters (CR, LF, ...)')],
    ['content type with parameters', { ...base(), attachments: [{ filename: 'a', content: '', contentType: 'a/b; c=d' }] }, bad('attachments[0].contentType', 'must be a MIME type like application/pdf (no parameters)')],
    ['contentId with brackets', { ...base(), attachments: [{ filename: 'a', content: '', contentId: '<a>' }] }, bad('attachments[0].contentId', 'must be an id like logo@example.com (no angle brackets, no spaces)')],
    ['sender not an object name', { ...base(), sender: 'Alerts' }, bad('sender', 'must be a Kubernetes object name (lower case letters, digits, "-" and ".")')],
    ['to not an address', { ...base(), to: ['ann'] }, bad('to[0]', ADDRESS)],
    ['cc not an address', { ...base(), cc: ['a@example.org', 'xyz'] }, bad('cc[1]', ADDRESS)],
    ['replyTo with a name', { ...base(), replyTo: 'A <a@example.org>' }, bad('replyTo', 'is not an email address (a bare a@example.com)')],
    ['content not base64', { ...base(), attachments: [{ filename: 'a', content: 'A' }] }, bad('attachments[0].content', 'is not base64 (RFC 4648, padded, no line breaks)')],
    ['disposition unknown', { ...base(), attachments: [{ filename: 'a', content: '', disposition: 'x' }] }, bad('attachments[0].disposition', 'must be equal to one of the allowed values')],
    ['neither text nor html', { sender: 'alerts', to: ['a@example.org'], subject: 's' }, bad('text', 'text or html is required (a non-empty string)')],
    ['empty text and html', { ...base(), text: '', html: '' }, bad('text', 'text or html is required (a non-empty string)')],
    ['neither, and a bad field', { sender: 'alerts', to: ['a@example.org'], subject: 's', cc: ['xyz'] }, bad('cc[0]', ADDRESS)],
    ['a lone surrogate in the subject', { ...base(), subject: 'a\ud800' }, bad('subject', 'is not valid Unicode (a lone UTF-16 surrogate)')],
    ['a lone surrogate in a recipient', { ...base(), to: ['a@example.org', 'B\udc00 <b@example.org>'] }, bad('to[1]', 'is not valid Unicode (a lone UTF-16 surrogate)')],
    ['an address shorter than 3 characters', { ...base(), to: ['x'] }, bad('to[0]', 'is shorter than 3 characters')],
    ['a lone surrogate in a header value', { ...base(), headers: { 'X-A': '\ud800' } }, bad('headers.X-A', 'is not valid Unicode (a lone UTF-16 surrogate)')],
    ['a lone surrogate in a file name', { ...base(), attachments: [{ filename: 'a', content: '' }, { filename: '\udfff', content: '' }] }, bad('attachments[1].filename', 'is not valid Unicode (a lone UTF-16 surrogate)')],
  ])('%s', (_name, body, expected) => {
    expect(refusal(body)).toEqual(expected);
  });

  it('names attachments past the ninth with their two-digit index', () => {
    const eleven = (last: Record<string, unknown>) => ({ ...base(), attachments: [...Array.from({ length: 10 }, () => ({ filename: 'a', content: '' })), { filename: 'a', content: '', ...last }] });
    expect(refusal(eleven({ filename: 'a/b' }))).toEqual(bad('attachments[10].filename', 'must be a file name of 1 to 255 characters without /, \\ or "'));
    expect(refusal(eleven({ contentType: 'a/b; c=d' }))).toEqual(bad('attachments[10].contentType', 'must be a MIME type like application/pdf (no parameters)'));
    expect(refusal(eleven({ contentId: '<a>' }))).toEqual(bad('attachments[10].contentId', 'must be an id like logo@example.com (no angle brackets, no spaces)'));
  });

  it('content over its size limit is 413 naming the field, as on the SMTP door', () => {
    expect(refusal({ ...base(), text: 'x'.repeat(5 * 1024 * 1024 + 1) })).toEqual({ status: 413, field: 'text', message: `text is longer than ${5 * 1024 * 1024} characters.` });
    expect(refusal({ ...base(), html: 'x'.repeat(5 * 1024 * 1024 + 1) })).toEqual({ status: 413, field: 'html', message: `html is longer than ${5 * 1024 * 1024} characters.` });
    expect(refusal({ ...base(), headers: { 'X-A': 'x'.repeat(901) } })).toEqual(bad('headers.X-A', 'is longer than 900 characters'));
  });
});

describe('helpers', () => {
  it('fieldName writes JSON pointers in the request notation', () => {
    expect(fieldName('')).toBe('(body)');
    expect(fieldName('', 'sender')).toBe('sender');
    expect(fieldName('/to/1')).toBe('to[1]');
    expect(fieldName('/attachments/0', 'content')).toBe('attachments[0].content');
    expect(fieldName('/headers/X-A~1b~0c')).toBe('headers.X-A/b~c');
    expect(fieldName('/headers/1a')).toBe('headers.1a');
  });

  it('isBase64 takes RFC 4648 base64, padded, and nothing else', () => {
    for (const s of ['', 'AAAA', 'AA==', 'AAA=', 'azAZ09+/', 'zzzz']) expect(isBase64(s), s).toBe(true);
    for (const s of ['A', 'AA=', 'A===', '====A', 'AAAA\n', '-_-_', 'AA AA', '@AAA', '[AAA', '`AAA', '{AAA', ':AAA', '/AA,', 'AA.A']) expect(isBase64(s), s).toBe(false);
    // Checked a MiB at a time: a bad character in a later slice, or at a slice's edge, is still found.
    const mib = 1 << 20;
    expect(isBase64('A'.repeat(3 * mib))).toBe(true);
    for (const at of [mib - 1, mib, 2 * mib + 5, 3 * mib - 3]) expect(isBase64(`${'A'.repeat(at)}-${'A'.repeat(3 * mib - at - 1)}`), `at ${at}`).toBe(false);
    expect(isBase64(`${'A'.repeat(3 * mib - 2)}==`)).toBe(true);
  });
});
