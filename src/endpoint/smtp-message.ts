// A message submitted over SMTP, turned into what the pipeline sends: the raw
// header section is checked byte by byte first (header smuggling lives in bare CR,
// bare LF and NUL, which parsers forgive differently), then mailparser decodes it.
//
// From, Sender, Date and the MIME structure are not carried over: the pipeline sets
// From/Sender to the identity and the upstream builds the MIME tree again. The SMTP
// envelope decides who receives the message: To/Cc keep the header addresses that
// are also envelope recipients; every other envelope recipient is a Bcc.
//
// The pipeline then checks the result with the HTTP door's rules (message.ts). What
// a mail client writes freely but those rules refuse, and that is decoration rather
// than smuggling, is tidied here so that the message is not refused for it: tabs
// and folding in values, quotes in display names and file names, extra headers
// beyond the allow-list or the length limits (dropped). Line breaks and NUL are
// never tidied: they are refused.
//
// A message that leaves through SMTP is passed through (the pipeline edits the
// client's bytes): then only its header section is read, with mailparser's own
// header decoding, and the body is never parsed (`passThrough`).
import type { AddressObject, EmailAddress, HeaderLines, Headers, ParsedMail } from 'mailparser';
import { splitMessage } from '../mail/header-section.ts';
import { invalidRequest } from './errors.ts';
import { addressKey, asciiDomain, messageIdProblem } from '../mail/address.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { headerAllowed } from './message.ts';
import type { SubmittedMessage } from './types.ts';

/** 554 5.6.0 (553 5.1.3 for address fields), naming what is wrong. */
const refuse = (field: string, text: string) => invalidRequest(field, text);

/** Fields a message may carry at most once (RFC 5322 section 3.6): a second From is a spoofing attempt. */
const SINGLE = ['from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'in-reply-to', 'references'];

/** The header names the pipeline takes (message.ts). */
const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,75}$/;

// eslint-disable-next-line no-control-regex
const BREAKS = /[\r\n\x00]/;

/** The header fields the door reads, decoded as simpleParser decodes them; no body. */
type ParsedHeaders = Pick<ParsedMail, 'headerLines' | 'subject' | 'to' | 'cc' | 'replyTo' | 'messageId'>;

/**
 * With `passThrough`, the message will travel as its bytes: the result has the
 * envelope fields, Subject and Message-ID, but no text, html, attachments or headers.
 */
export async function submittedMessage(raw: Buffer, envelopeRecipients: string[], opts: { passThrough?: boolean } = {}): Promise<SubmittedMessage> {
  checkHeaderSection(raw);
  const { simpleParser, MailParser } = await loadMailparser();
  let full: ParsedMail | undefined;
  let parsed: ParsedHeaders;
  try {
    full = opts.passThrough
      ? undefined
      : await simpleParser(raw, {
          skipHtmlToText: true, // an HTML-only message stays HTML-only
          skipTextToHtml: true,
          keepCidLinks: true,
          skipImageLinks: true,
          checksumAlgo: false,
        });
    headerDecoder ??= new MailParser() as unknown as HeaderDecoder;
    parsed = full ?? parseHeaderSection(raw, headerDecoder);
  } catch (err) {
    throw refuse('message', `it could not be parsed as MIME (${err instanceof Error ? err.message : 'unknown error'})`);
  }
  const counts = new Map<string, number>();
  for (const { key } of parsed.headerLines) counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const name of SINGLE) if ((counts.get(name) ?? 0) > 1) throw refuse('headers', `more than one ${headerName(name)} header`);

  const subject = parsed.subject ?? '';
  if (BREAKS.test(subject)) throw refuse('subject', 'the Subject header decodes to a line break or NUL');

  const wanted = new Map<string, string>(); // normalized -> the address as given in RCPT TO
  for (const r of envelopeRecipients) if (!wanted.has(addressKey(r))) wanted.set(addressKey(r), r);
  const placed = new Set<string>();
  const pick = (header: AddressObject | AddressObject[] | undefined, name: string): string[] => {
    const out: string[] = [];
    for (const a of mailboxes(header, name)) {
      const key = addressKey(a.address);
      if (!wanted.has(key) || placed.has(key)) continue; // not an envelope recipient: it does not receive
      placed.add(key);
      out.push(formatAddress(a.name, a.address));
    }
    return out;
  };
  const to = pick(parsed.to, 'To');
  const cc = pick(parsed.cc, 'Cc');
  const bcc = [...wanted].filter(([key]) => !placed.has(key)).map(([, address]) => asciiDomain(address));
  const replyTo = mailboxes(parsed.replyTo, 'Reply-To')[0];

  const message: SubmittedMessage = { to, subject: subject.replace(/\t/g, ' ') };
  if (cc.length) message.cc = cc;
  if (bcc.length) message.bcc = bcc;
  if (replyTo) message.replyTo = asciiDomain(replyTo.address);
  // The client's Message-ID is kept (threading, deduplication of a retried send); a bad one is replaced.
  if (parsed.messageId && !messageIdProblem(parsed.messageId)) message.messageId = parsed.messageId;
  if (!full) return message; // passed through: the body goes as it is
  if (full.text) message.text = full.text;
  if (full.html) message.html = full.html;
  // SMTP allows an empty body; the pipeline wants text or html: an empty line it is.
  if (!message.text && !message.html) message.text = '\n';
  const attachments = full.attachments.map((a, i) => {
    const given = a.filename ?? `attachment-${i + 1}`;
    if (BREAKS.test(given)) throw refuse(`attachments[${i}].filename`, 'the file name decodes to a line break or NUL');
    // eslint-disable-next-line no-control-regex
    const filename = given.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029/\\"]/g, '_').slice(0, 255);
    return { filename, contentType: a.contentType, content: a.content };
  });
  if (attachments.length) message.attachments = attachments;
  const headers = carriedHeaders(full);
  if (Object.keys(headers).length) message.headers = headers;
  return message;
}

// mailparser and what it brings (he, linkify-it, html-to-text, iconv-lite: about 7 MiB
// of heap) are loaded by the first message the door receives, not by every operator.
let mailparser: Promise<typeof import('mailparser')> | undefined;
const loadMailparser = () => (mailparser ??= import('mailparser'));

/** mailparser's header decoding (addresses, encoded words), run on the header fields alone. */
type HeaderDecoder = { processHeaders(lines: HeaderLines): Headers };
let headerDecoder: HeaderDecoder | undefined;

const DECODED = new Set(['subject', 'message-id', 'to', 'cc', 'reply-to']);

/** The fields simpleParser would give for the header section, without reading the body. */
function parseHeaderSection(raw: Buffer, decoder: HeaderDecoder): ParsedHeaders {
  // The lines as mailsplit gives them to mailparser: the field as written, folding kept, no final CRLF.
  const headerLines = splitMessage(raw).fields.map((f) => {
    const end = f.raw.length >= 2 && f.raw[f.raw.length - 2] === 0x0d && f.raw[f.raw.length - 1] === 0x0a ? f.raw.length - 2 : f.raw.length;
    return { key: f.key, line: f.raw.toString('latin1', 0, end) };
  });
  // Decoded: only the fields read below (counting repeats needs no decoding).
  const headers = decoder.processHeaders(headerLines.filter((l) => DECODED.has(l.key)));
  const parsed: ParsedHeaders = { headerLines };
  const subject = headers.get('subject');
  if (typeof subject === 'string') parsed.subject = subject;
  const messageId = headers.get('message-id');
  if (typeof messageId === 'string') parsed.messageId = messageId;
  const to = headers.get('to') as AddressObject | AddressObject[] | undefined;
  if (to) parsed.to = to;
  const cc = headers.get('cc') as AddressObject | AddressObject[] | undefined;
  if (cc) parsed.cc = cc;
  const replyTo = headers.get('reply-to') as AddressObject | undefined;
  if (replyTo) parsed.replyTo = replyTo;
  return parsed;
}

/**
 * The header section must be clean lines: every line ends in CRLF, no NUL, no
 * bare CR or LF, each line a `Name:` field or a continuation of one.
 */
export function checkHeaderSection(raw: Buffer): void {
  let line = 1;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i];
    if (byte === 0x00) throw refuse('headers', `header line ${line} contains a NUL byte`);
    if (byte === 0x0a) throw refuse('headers', `header line ${line} contains a bare LF (lines end in CRLF)`);
    if (byte !== 0x0d) continue;
    if (raw[i + 1] !== 0x0a) throw refuse('headers', `header line ${line} contains a bare CR`);
    if (i === start) return; // the empty line: the body starts
    checkHeaderLine(raw.subarray(start, i), line);
    i++;
    start = i + 1;
    line++;
  }
  if (start < raw.length) checkHeaderLine(raw.subarray(start), line);
}

function checkHeaderLine(bytes: Buffer, line: number): void {
  const first = bytes[0];
  if (first === 0x20 || first === 0x09) {
    if (line === 1) throw refuse('headers', 'the message starts with a continuation line');
    return;
  }
  const colon = bytes.indexOf(0x3a);
  const name = colon > 0 ? bytes.subarray(0, colon) : undefined;
  // Field names are printable US-ASCII without the colon (RFC 5322 section 3.6.8).
  if (!name || name.some((b) => b < 0x21 || b > 0x7e)) throw refuse('headers', `header line ${line} is not a "Name: value" field`);
}

function mailboxes(header: AddressObject | AddressObject[] | undefined, name: string): { name: string; address: string }[] {
  const field = name === 'Reply-To' ? 'replyTo' : name.toLowerCase();
  const out: { name: string; address: string }[] = [];
  const visit = (a: EmailAddress) => {
    if (a.group) return a.group.forEach(visit);
    if (BREAKS.test(a.name) || BREAKS.test(a.address ?? '')) throw refuse(field, `the ${name} header decodes to a line break or NUL`);
    if (a.address) out.push({ name: a.name, address: a.address });
  };
  for (const h of Array.isArray(header) ? header : header ? [header] : []) h.value.forEach(visit);
  return out;
}

/**
 * `Name <address>` (quoted when the name has commas and the like), the domain in
 * its ASCII form. Characters the pipeline refuses in names are decoration here: dropped.
 */
function formatAddress(name: string, address: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = name.replace(/[<>"\\]/g, '').replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, ' ').trim().slice(0, 128);
  const bare = asciiDomain(address);
  if (!clean) return bare;
  return /^[\p{L}\p{N} !#$%&'*+\-/=?^_`{|}~.]+$/u.test(clean) ? `${clean} <${bare}>` : `"${clean}" <${bare}>`;
}

/**
 * Allowed headers (message.ts decides which), as written: encoded words stay
 * encoded, folding becomes a space. The first of a repeated header wins; one over
 * the length limit is dropped, except References, which keeps its first and latest ids.
 */
function carriedHeaders(parsed: ParsedMail): Record<string, string> {
  const headers: Record<string, string> = {};
  const seen = new Set<string>();
  for (const { key, line } of parsed.headerLines) {
    if (seen.size >= DEFAULT_LIMITS.maxHeaders) break;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim();
    // Message-ID travels as its own field (submittedMessage).
    if (key === 'message-id' || seen.has(key) || !HEADER_NAME.test(name) || !headerAllowed(name)) continue;
    let value = utf8(line.slice(colon + 1)).replace(/\r?\n[ \t]+/g, ' ').replace(/\t/g, ' ').trim();
    if (value.includes('\uFFFD')) continue; // 8-bit bytes that are not UTF-8: no way to carry them faithfully
    if (key === 'references') value = shortenReferences(value, DEFAULT_LIMITS.maxHeaderValueLength);
    if (value.length > DEFAULT_LIMITS.maxHeaderValueLength) continue;
    seen.add(key);
    headers[name] = value;
  }
  return headers;
}

/** mailparser keeps raw header lines byte for byte (one char per byte): 8-bit values are UTF-8 (RFC 6532). */
function utf8(value: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x80-\xff]/.test(value) && /^[\x00-\xff]*$/.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
}

/** RFC 5322 3.6.4: when References grows long, keep the first id and the most recent ones. */
function shortenReferences(value: string, max: number): string {
  const ids = value.split(/\s+/).filter(Boolean);
  if (value.length <= max || ids.length < 2) return value;
  const kept = [ids[0]!];
  let length = ids[0]!.length;
  const tail: string[] = [];
  for (let i = ids.length - 1; i > 0 && length + 1 + ids[i]!.length <= max; i--) {
    tail.unshift(ids[i]!);
    length += 1 + ids[i]!.length;
  }
  return [...kept, ...tail].join(' ');
}

/** A field's name as RFC 5322 spells it (Message-ID, not Message-Id). */
const headerName = (key: string) => (key === 'message-id' ? 'Message-ID' : key.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase()));
