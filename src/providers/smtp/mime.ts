// The MIME form of a message composed from fields (the HTTP door's, a queued one's),
// built in one synchronous pass. nodemailer's MailComposer builds the same tree as a
// MimeNode per part, each streaming its headers and content through transforms and
// setImmediate hops: a quarter of the HTTP door's CPU per message, and most of what
// the door paid beyond its peer (issue 9).
//
// Nothing here is a new reading of the RFCs: the tree follows MailComposer's rules
// (mixed > alternative > related, inline parts with a Content-ID beside the HTML),
// every header value is nodemailer's own encoding (MimeNode#encodeHeaderValue, the
// parameter builder, the line folder), and bodies go through nodemailer's
// quoted-printable and base64 encoders, chosen as MimeNode chooses them. What it does
// not compose (a message/* attachment, no Message-ID yet, non-ASCII bytes that would
// need 8BITMIME or SMTPUTF8) it hands back to MailComposer: undefined.
import { isAscii } from 'node:buffer';
import * as base64 from 'nodemailer/lib/base64';
import MimeNode from 'nodemailer/lib/mime-node';
import { buildHeaderValue, encodeWords, foldLines, isPlainText, parseHeaderValue } from 'nodemailer/lib/mime-funcs';
import * as qp from 'nodemailer/lib/qp';
import { boundaryBase, normalizeHeaderKey } from '../compose.ts';
import type { OutboundMessage } from '../types.ts';

type Attachment = NonNullable<OutboundMessage['attachments']>[number];

/** A leaf of the tree: a body or an attachment. */
interface Leaf {
  contentType: string;
  content: string | Buffer;
  filename?: string;
  cid?: string;
  disposition?: string;
}

interface Multipart {
  contentType: string;
  children: Node[];
}

type Node = Leaf | Multipart;

/** nodemailer's header encoding, public since nodemailer 10 but not in @types/nodemailer. */
const encoder = new MimeNode(undefined) as unknown as { encodeHeaderValue(key: string, value: unknown): string };
const encodeHeader = (key: string, value: unknown) => encoder.encodeHeaderValue(key, value);
/** A header field as MimeNode writes it: folded at 76 characters. */
const field = (key: string, encoded: string) => foldLines(`${key}: ${encoded}`, 76);

/**
 * A bare address nodemailer would write exactly as given: a dot-atom local part and a
 * lower-case ASCII domain (it lower-cases and punycodes domains, quotes other local parts).
 */
const PLAIN = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?!xn--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.(?!xn--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

/** An address list's header value; bare plain addresses skip nodemailer's parser (the same text, a fifth of this module's time). */
function addressList(key: string, list: string[]): string {
  return list.every((a) => PLAIN.test(a)) ? list.join(', ') : encodeHeader(key, list);
}

/** The bytes of `message` as MailComposer would make them (header order aside), or undefined: let MailComposer. */
export function composeMime(message: OutboundMessage, now: Date): Buffer | undefined {
  if (!message.messageId) return undefined;
  const attachments = message.attachments ?? [];
  // A control character in a file name gets MimeNode's encoded word of another shape: MailComposer's case.
  // eslint-disable-next-line no-control-regex
  if (attachments.some((a) => /^message\//i.test(a.contentType) || !a.filename || /[\x00-\x1f\x7f]/.test(a.filename))) return undefined;
  const root = tree(message, attachments);
  if (!root) return undefined;

  const headers: string[] = [];
  // A field whose value encodes to nothing is left out, as MimeNode leaves it out.
  const push = (key: string, encoded: string) => {
    if (encoded.trim()) headers.push(field(key, encoded));
  };
  const add = (key: string, value: unknown) => push(key, encodeHeader(key, value));
  for (const [key, value] of Object.entries(message.headers ?? {})) add(normalizeHeaderKey(key), value);
  const { from } = message;
  add('From', from.name ? { name: from.name, address: from.address } : from.address);
  push('To', addressList('To', message.to));
  if (message.cc?.length) push('Cc', addressList('Cc', message.cc));
  if (message.replyTo) add('Reply-To', message.replyTo);
  if (message.subject) add('Subject', message.subject);
  add('Message-ID', message.messageId);
  add('Date', now);
  add('MIME-Version', '1.0');

  const boundaries = { base: boundaryBase(), next: 1 };
  const out: string[] = [];
  render(root, headers, out, boundaries);
  const text = out.join('');
  const bytes = Buffer.from(text.endsWith('\n') ? text : `${text}\r\n`, 'utf8');
  return isAscii(bytes) ? bytes : undefined;
}

/** MailComposer's tree for these fields (compile(), _createMixed, _createAlternative, _createRelated). */
function tree(message: OutboundMessage, attachments: Attachment[]): Node | undefined {
  const alternatives: Leaf[] = [];
  if (message.text) alternatives.push({ contentType: 'text/plain; charset=utf-8', content: message.text });
  const html: Leaf | undefined = message.html ? { contentType: 'text/html; charset=utf-8', content: message.html } : undefined;
  if (html) alternatives.push(html);
  const leaves = attachments.map((a): Leaf => {
    const inline = /^image\//i.test(a.contentType) && a.contentId;
    return {
      contentType: a.contentType,
      content: a.content,
      filename: a.filename,
      ...(a.contentId ? { cid: a.contentId } : {}),
      disposition: a.disposition ?? (inline ? 'inline' : 'attachment'),
    };
  });
  // Parts with a Content-ID go beside the HTML; without HTML they are plain attachments.
  const related = html ? leaves.filter((l) => l.cid) : [];
  const attached = html ? leaves.filter((l) => !l.cid) : leaves;
  const useRelated = !!html && related.length > 0;
  const useAlternative = alternatives.length > 1;
  const useMixed = attached.length > 1 || (alternatives.length > 0 && attached.length === 1);

  const relatedNode = (): Multipart => ({ contentType: 'multipart/related; type="text/html"', children: [html!, ...related] });
  const alternativeNode = (): Multipart => ({
    contentType: 'multipart/alternative',
    children: alternatives.map((a) => (useRelated && a === html ? relatedNode() : a)),
  });
  if (useMixed) {
    const first: Node[] = useAlternative ? [alternativeNode()] : useRelated ? [relatedNode()] : alternatives;
    return { contentType: 'multipart/mixed', children: [...first, ...attached] };
  }
  if (useAlternative) return alternativeNode();
  if (useRelated) return relatedNode();
  // An empty message is MailComposer's business (it writes an empty text/plain part its own way).
  return alternatives[0] ?? attached[0];
}

/** Writes `node` with `before` (the root's message headers) ahead of its own, Content-Type last as MimeNode does. */
function render(node: Node, before: string[], out: string[], boundaries: { base: string; next: number }): void {
  const headers = [...before];
  const add = (key: string, value: string) => headers.push(field(key, encodeHeader(key, value)));
  if ('children' in node) {
    const boundary = `--_NmP-${boundaries.base}-Part_${boundaries.next++}`;
    const structured = parseHeaderValue(node.contentType);
    structured.params.boundary = boundary;
    add('Content-Type', buildHeaderValue(structured));
    out.push(headers.join('\r\n'), '\r\n\r\n');
    node.children.forEach((child, i) => {
      out.push(i > 0 ? '\r\n' : '', `--${boundary}\r\n`);
      render(child, [], out, boundaries);
    });
    out.push(`\r\n--${boundary}--\r\n`);
    return;
  }
  const { body, transferEncoding } = encodeBody(node);
  if (node.cid) add('Content-ID', `<${node.cid.replace(/[<>]/g, '')}>`);
  add('Content-Transfer-Encoding', transferEncoding);
  if (node.disposition) {
    const disposition = parseHeaderValue(node.disposition);
    if (node.filename) disposition.params.filename = node.filename;
    add('Content-Disposition', buildHeaderValue(disposition));
  }
  add('Content-Type', contentType(node));
  out.push(headers.join('\r\n'), '\r\n\r\n', body);
}

/** Content-Type with the file's name as MimeNode writes it: a plain parameter, encoded words when needed. */
function contentType(leaf: Leaf): string {
  const value = buildHeaderValue(parseHeaderValue(leaf.contentType));
  if (!leaf.filename) return value;
  // encodeAll, as MimeNode#_encodeWords: some clients drop the spaces around a lone encoded word.
  let name = (encodeWords as (value: string, encoding: 'Q' | 'B', maxLength: number, encodeAll: boolean) => string)(
    leaf.filename,
    prefersQuotedPrintable(leaf.filename) ? 'Q' : 'B',
    52,
    true,
  );
  if (name !== leaf.filename || /[\s'"\\;:/=(),<>@[\]?]|^-/.test(name)) name = JSON.stringify(name);
  return `${value}; name=${name}`;
}

/** MimeNode's choice: text as it is when it is plain and short-lined, else quoted-printable or base64 by its letters; files base64. */
function encodeBody(leaf: Leaf): { body: string; transferEncoding: string } {
  if (typeof leaf.content !== 'string' || !/^text\//i.test(leaf.contentType)) {
    return { body: base64.wrap(base64.encode(Buffer.isBuffer(leaf.content) ? leaf.content : Buffer.from(leaf.content)), 76), transferEncoding: 'base64' };
  }
  // Lines end in CRLF, as they will on the wire: the DKIM signature is computed over these bytes.
  const content = leaf.content.replace(/\r?\n|\r/g, '\r\n');
  if (isPlainText(content) && !hasLongerLines(content, 76)) return { body: content, transferEncoding: '7bit' };
  if (prefersQuotedPrintable(content)) return { body: qp.wrap(qp.encode(content), 76), transferEncoding: 'quoted-printable' };
  return { body: base64.wrap(base64.encode(Buffer.from(content, 'utf8')), 76), transferEncoding: 'base64' };
}

/**
 * mime-funcs' hasLongerLines (a line of more than `max` characters between line terminators),
 * as a scan: its regular expression, /^.{77,}/m, took a sixth of this module's time on a 2 kB body.
 */
function hasLongerLines(text: string, max: number): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) run = 0;
    else if (++run > max) return true;
  }
  return false;
}

/** MimeNode#_getTextEncoding: quoted-printable when Latin letters outnumber 8-bit and control characters. */
function prefersQuotedPrintable(value: string): boolean {
  let nonLatin = 0;
  let latin = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x08 || c === 0x0b || c === 0x0c || (c >= 0x0e && c <= 0x1f) || c >= 0x80) nonLatin++;
    else if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) latin++;
  }
  return nonLatin < latin;
}
