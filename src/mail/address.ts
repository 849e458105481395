// Email addresses, one way everywhere: what counts as an address, how a
// mailbox ("Name <a@b.example>") is read and written, and how two addresses
// compare. Problems come back as text; each caller turns them into its own
// error (an HTTP 400 naming the field, a condition, a check result).
import { domainToASCII } from 'node:url';

export interface Mailbox {
  name?: string;
  address: string;
}

/** C0 and C1 controls (CR, LF, NUL, TAB, NEL...), DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;
// RFC 5322 dot-atom local part; domain of LDH labels with at least one dot (as the CRDs require).
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
// RFC 6531: with SMTPUTF8 a local part's atext also takes any non-ASCII character (controls are refused before).
const UTF8_LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\u{10FFFF}-]+)*$/u;
const DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export const CONTROL_PROBLEM = 'must not contain control characters (CR, LF, ...)';
export const INTERNATIONALIZED_PROBLEM = 'internationalized (non-ASCII) addresses need SMTPUTF8: send them through the SMTP door with SMTPUTF8';

export interface AddressRules {
  /** The transaction declared SMTPUTF8 (RFC 6531): the local part may hold UTF-8; the domain is still in ASCII form. */
  utf8LocalPart?: boolean;
}

/** Why `address` is not a bare address (a@b.example, strictly), or undefined when it is one. */
export function addressProblem(address: string, rules: AddressRules = {}): string | undefined {
  if (CONTROL.test(address)) return CONTROL_PROBLEM;
  const at = address.lastIndexOf('@');
  if (at <= 0) return `"${clip(address)}" is not an email address`;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  // Lengths in octets (RFC 5321 section 4.5.3.1), which UTF-8 local parts make differ from characters.
  if (Buffer.byteLength(address) > 254 || Buffer.byteLength(local) > 64) return 'is too long for an email address';
  const international = needsSmtpUtf8(address);
  if (international && !rules.utf8LocalPart) return INTERNATIONALIZED_PROBLEM;
  if (/[^\x20-\x7E]/.test(domain)) return 'the domain must be in its ASCII (punycode) form';
  if (!(international ? UTF8_LOCAL_PART : LOCAL_PART).test(local) || !DOMAIN.test(domain)) return `"${clip(address)}" is not an email address`;
  return undefined;
}

/** The address has a non-ASCII local part: only an SMTPUTF8 transaction (RFC 6531) can carry it. */
export function needsSmtpUtf8(address: string): boolean {
  const at = address.lastIndexOf('@');
  return /[^\p{ASCII}]/u.test(at < 0 ? address : address.slice(0, at));
}

export type MailboxParse = { mailbox: Mailbox; problem?: undefined } | { mailbox?: undefined; problem: string };

/** `a@b.example`, `Name <a@b.example>` or `"Name, Inc." <a@b.example>`. */
export function parseMailbox(input: string, rules: AddressRules = {}): MailboxParse {
  if (CONTROL.test(input)) return { problem: CONTROL_PROBLEM };
  const text = input.trim();
  const angle = /^(.*?)\s*<([^<>]*)>$/.exec(text);
  const address = angle ? angle[2]! : text;
  const problem = addressProblem(address, rules);
  if (problem) return { problem };
  if (!angle) return { mailbox: { address } };
  let name = angle[1]!.trim();
  if (name.startsWith('"') && name.endsWith('"') && name.length >= 2) {
    name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  if (/[<>"\\]/.test(name)) return { problem: 'the display name must not contain <, >, " or \\' };
  if (name.length > 128) return { problem: 'the display name is longer than 128 characters' };
  return { mailbox: name ? { name, address } : { address } };
}

/** `"Name" <a@b>` (quoted, so commas and the like stay inside) or the bare address. */
export function formatMailbox(m: Mailbox): string {
  return m.name ? `"${m.name}" <${m.address}>` : m.address;
}

/** Compare addresses as mail systems do: the domain case-insensitively and in its ASCII form. */
export function addressKey(address: string): string {
  return asciiDomain(address).toLowerCase();
}

/** The address with its domain in ASCII (punycode), as SMTP envelopes want it. */
export function asciiDomain(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  return `${address.slice(0, at)}@${toAscii(address.slice(at + 1))}`;
}

// A message's addresses are compared several times on the way through a door, and
// mail goes to few domains: the conversions are remembered (bounded, forgotten in bulk).
const asciiDomains = new Map<string, string>();

function toAscii(domain: string): string {
  let ascii = asciiDomains.get(domain);
  if (ascii === undefined) {
    if (asciiDomains.size >= 1000) asciiDomains.clear();
    ascii = domainToASCII(domain) || domain;
    asciiDomains.set(domain, ascii);
  }
  return ascii;
}

/** An RFC 5322 msg-id as mail systems use it: `<left@right>`, printable, no spaces, at most 250 characters. */
export function messageIdProblem(value: string): string | undefined {
  if (CONTROL.test(value)) return CONTROL_PROBLEM;
  if (value.length > 250) return 'is longer than 250 characters';
  return /^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>$/.test(value) && (value.match(/@/g) ?? []).length === 1
    ? undefined
    : 'must be a message id like <unique@example.com>';
}

/** The domain of an address (lower case, no trailing dot), or undefined when it has none. */
export function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  const domain = address.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
  return /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/.test(domain) ? domain : undefined;
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}
